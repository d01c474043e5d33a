#version 330
// Final pass to the screen: places the image by the fit mode (scale/offset computed on the CPU),
// flips rows (images are stored top row first), black outside the image.
uniform sampler2D src;
uniform vec2 scale;       // image size / screen size, in screen-uv units
uniform vec2 offset;      // image origin in screen uv
in vec2 uv;
out vec4 color;
void main() {
    vec2 p = (uv - offset) / scale;
    if (any(lessThan(p, vec2(0.0))) || any(greaterThan(p, vec2(1.0)))) {
        color = vec4(0.0, 0.0, 0.0, 1.0);
    } else {
        color = vec4(texture(src, vec2(p.x, 1.0 - p.y)).rgb, 1.0);
    }
}
