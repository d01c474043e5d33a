#version 330
// Display zoom and pan (mirrored repeat outside the frame, so zooming out never shows a hole).
uniform sampler2D src;
uniform float zoom;
uniform vec2 pan;
in vec2 uv;
out vec4 color;
void main() {
    vec2 p = (uv - 0.5) / zoom + 0.5 + pan * 0.5;
    p = 1.0 - abs(1.0 - mod(p, 2.0));
    color = texture(src, p);
}
