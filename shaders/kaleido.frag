#version 330
// Kaleidoscope: 1 = left/right mirror, n >= 2 = n mirrored wedges around the centre.
uniform sampler2D src;
uniform int segments;
in vec2 uv;
out vec4 color;
const float PI = 3.14159265358979;
void main() {
    vec2 p = uv - 0.5;
    if (segments == 1) {
        p.x = abs(p.x);
    } else if (segments >= 2) {
        float wedge = 2.0 * PI / float(segments);
        float a = mod(atan(p.y, p.x), wedge);
        a = abs(a - 0.5 * wedge);
        p = length(p) * vec2(cos(a), sin(a));
    }
    color = texture(src, clamp(p + 0.5, 0.0, 1.0));
}
