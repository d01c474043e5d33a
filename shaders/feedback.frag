#version 330
// Trails: keeps a share of the last output, letting bright parts linger.
uniform sampler2D src;
uniform sampler2D prev_output;
uniform float amount;
in vec2 uv;
out vec4 color;
void main() {
    vec4 cur = texture(src, uv);
    vec4 old = texture(prev_output, uv);
    color = max(cur, mix(cur, old, amount));
}
