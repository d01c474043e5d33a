#version 330
// Heads-up display: the text image, alpha-blended over the picture (top-left).
uniform sampler2D src;
in vec2 uv;
out vec4 color;
void main() { color = texture(src, vec2(uv.x, 1.0 - uv.y)); }
