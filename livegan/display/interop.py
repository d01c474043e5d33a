"""CUDA -> OpenGL frames without a trip through host memory (CUDA-OpenGL interop).

The GL texture is registered with the CUDA runtime once; each frame maps it, copies the generator's
RGBA8 tensor into the texture's array on the GPU, and unmaps it (unmapping orders the copy before
any later GL use of the texture).  The runtime is reached through ctypes: the very libcudart that a
CUDA build of torch has already loaded, so there is no extra dependency and both share one CUDA
context.  When anything is missing (a CPU torch, a GL driver that is not NVIDIA's, an unsupported
format) `probe` says why in one line and the renderer keeps the pinned-memory upload.

Only what the CUDA runtime documents is used: cudaGraphicsGLRegisterImage (GL_TEXTURE_2D, RGBA8,
write-discard), cudaGraphicsMapResources, cudaGraphicsSubResourceGetMappedArray,
cudaMemcpy2DToArrayAsync (device to device) and cudaGraphicsUnmapResources, all on torch's current
stream.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path
from typing import Optional

GL_TEXTURE_2D = 0x0DE1
REGISTER_WRITE_DISCARD = 2          # cudaGraphicsRegisterFlagsWriteDiscard
MEMCPY_DEVICE_TO_DEVICE = 3         # cudaMemcpyDeviceToDevice


class InteropError(RuntimeError):
    """CUDA-GL sharing is not possible here (the message says why)."""


def _loaded_cudart() -> Optional[str]:
    """Path of the libcudart this process already mapped (torch's), if any."""
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "libcudart.so" in Path(path).name:
                return path
    except OSError:
        pass
    return None


def load_cudart():
    """The CUDA runtime torch uses, with the interop functions' signatures declared."""
    import torch

    if not torch.cuda.is_available():
        raise InteropError(f"no CUDA device (torch {torch.__version__})")
    torch.cuda.init()
    path = _loaded_cudart() or ctypes.util.find_library("cudart")
    if path is None:
        raise InteropError("the CUDA runtime library (libcudart) is not loaded")
    lib = ctypes.CDLL(path)
    p, u, sz, i = ctypes.c_void_p, ctypes.c_uint, ctypes.c_size_t, ctypes.c_int
    sigs = {
        "cudaGraphicsGLRegisterImage": [ctypes.POINTER(p), u, u, u],
        "cudaGraphicsUnregisterResource": [p],
        "cudaGraphicsMapResources": [i, ctypes.POINTER(p), p],
        "cudaGraphicsUnmapResources": [i, ctypes.POINTER(p), p],
        "cudaGraphicsSubResourceGetMappedArray": [ctypes.POINTER(p), p, u, u],
        "cudaMemcpy2DToArrayAsync": [p, sz, sz, p, sz, sz, sz, i, p],
    }
    for name, args in sigs.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise InteropError(f"{Path(path).name} has no {name}") from None
        fn.argtypes, fn.restype = args, i
    lib.cudaGetErrorString.argtypes, lib.cudaGetErrorString.restype = [i], ctypes.c_char_p
    return lib


class CudaGLTexture:
    """One RGBA8 GL texture that CUDA tensors are copied into.  Create, write and release it on
    the thread whose GL context owns the texture."""

    def __init__(self, lib, texture):
        if texture.components != 4 or texture.dtype != "f1":
            raise InteropError("CUDA can only share 1- 2- or 4-component 8-bit textures here (RGBA8)")
        self.lib, self.texture = lib, texture
        self._res = ctypes.c_void_p()
        self._check(lib.cudaGraphicsGLRegisterImage(ctypes.byref(self._res), texture.glo, GL_TEXTURE_2D,
                                                    REGISTER_WRITE_DISCARD), "register the GL texture")

    def _check(self, err: int, what: str) -> None:
        if err != 0:
            msg = self.lib.cudaGetErrorString(err).decode(errors="replace")
            raise InteropError(f"CUDA could not {what}: {msg} (error {err})")

    def write(self, rgba) -> None:
        """Copy a contiguous [H, W, 4] uint8 CUDA tensor (top row first, as `texture.write`
        takes bytes) into the texture, ordered on torch's current stream."""
        import torch

        w, h = self.texture.size
        if tuple(rgba.shape) != (h, w, 4) or rgba.dtype != torch.uint8 or not rgba.is_contiguous():
            raise InteropError(f"frame {tuple(rgba.shape)} {rgba.dtype} does not fit the {w}x{h} RGBA8 texture")
        stream = ctypes.c_void_p(torch.cuda.current_stream(rgba.device).cuda_stream)
        lib, res = self.lib, ctypes.byref(self._res)
        self._check(lib.cudaGraphicsMapResources(1, res, stream), "map the GL texture")
        try:
            array = ctypes.c_void_p()
            self._check(lib.cudaGraphicsSubResourceGetMappedArray(ctypes.byref(array), self._res, 0, 0),
                        "get the texture's array")
            self._check(lib.cudaMemcpy2DToArrayAsync(array, 0, 0, ctypes.c_void_p(rgba.data_ptr()), w * 4,
                                                     w * 4, h, MEMCPY_DEVICE_TO_DEVICE, stream),
                        "copy the frame into the texture")
        finally:
            self._check(lib.cudaGraphicsUnmapResources(1, res, stream), "unmap the GL texture")

    def release(self) -> None:
        if self._res:
            self.lib.cudaGraphicsUnregisterResource(self._res)
            self._res = ctypes.c_void_p()


class CudaInterop:
    """The CUDA runtime, ready to share textures: `share(texture)` -> a CudaGLTexture."""

    def __init__(self, lib):
        self.lib = lib

    def share(self, texture) -> CudaGLTexture:
        return CudaGLTexture(self.lib, texture)


def probe(ctx) -> tuple[Optional[CudaInterop], str]:
    """(CudaInterop, "") when a texture of this GL context can be shared with CUDA, else
    (None, why).  Registers and releases a small texture to find out."""
    try:
        interop = CudaInterop(load_cudart())
        tex = ctx.texture((16, 16), 4)
        try:
            interop.share(tex).release()
        finally:
            tex.release()
        return interop, ""
    except (InteropError, OSError) as e:
        return None, str(e)
