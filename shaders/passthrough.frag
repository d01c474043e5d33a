#version 330
// Copies the source unchanged (the chain's identity).
uniform sampler2D src;
in vec2 uv;
out vec4 color;
void main() { color = texture(src, uv); }
