#version 330
// Brightness, contrast (around mid grey), saturation and hue rotation (YIQ).
uniform sampler2D src;
uniform float brightness;
uniform float contrast;
uniform float saturation;
uniform float hue;        // degrees
in vec2 uv;
out vec4 color;
void main() {
    vec3 c = texture(src, uv).rgb;
    c = (c - 0.5) * contrast + 0.5 + brightness;
    float y = dot(c, vec3(0.299, 0.587, 0.114));
    c = mix(vec3(y), c, saturation);
    float h = radians(hue);
    mat3 toYIQ = mat3(0.299, 0.596, 0.211, 0.587, -0.274, -0.523, 0.114, -0.322, 0.312);
    mat3 toRGB = mat3(1.0, 1.0, 1.0, 0.956, -0.272, -1.106, 0.621, -0.647, 1.703);
    vec3 yiq = toYIQ * c;
    yiq.yz = mat2(cos(h), sin(h), -sin(h), cos(h)) * yiq.yz;
    color = vec4(clamp(toRGB * yiq, 0.0, 1.0), 1.0);
}
