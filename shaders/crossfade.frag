#version 330
// Blends the previous generator frame (or the old network's last frame) into the current one.
uniform sampler2D src;
uniform sampler2D prev_frame;
uniform float amount;     // 0 = current only
in vec2 uv;
out vec4 color;
void main() { color = mix(texture(src, uv), texture(prev_frame, uv), clamp(amount, 0.0, 1.0)); }
