"""GL output: the shader chain and its effects, the renderer (upload, program, read-back), the HUD,
and the two backends (a pyglet window, a headless EGL context).  Nothing heavy at import: moderngl
and pyglet load when a display is made."""
from .headless import HeadlessBackend, HeadlessDisplay
from .hud import hud_image, hud_lines, wrap_text
from .readback import AsyncReader, read_rgb
from .renderer import Renderer
from .shaders import FIT_MODES, SHADER_DIR, ShaderLibrary, fit_rect
from .window import OutputWindow, WindowBackend, WindowDisplay, have_display, list_screens, refresh_rate

__all__ = ["HeadlessDisplay", "WindowDisplay", "HeadlessBackend", "WindowBackend", "OutputWindow", "Renderer", "ShaderLibrary", "AsyncReader",
           "hud_image", "hud_lines", "wrap_text", "read_rgb", "fit_rect", "have_display", "list_screens",
           "refresh_rate", "FIT_MODES", "SHADER_DIR"]
