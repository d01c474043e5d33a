#version 330
// The program (already upright, in GL's bottom-up rows) placed on the screen by the fit mode,
// black outside it: the letterbox belongs to this view only, never to the program.
uniform sampler2D src;
uniform vec2 scale;       // program size / screen size, in screen-uv units
uniform vec2 offset;      // program origin in screen uv
in vec2 uv;
out vec4 color;
void main() {
    vec2 p = (uv - offset) / scale;
    if (any(lessThan(p, vec2(0.0))) || any(greaterThan(p, vec2(1.0)))) {
        color = vec4(0.0, 0.0, 0.0, 1.0);
    } else {
        color = vec4(texture(src, p).rgb, 1.0);
    }
}
