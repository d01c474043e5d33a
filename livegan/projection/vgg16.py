"""A VGG16 perceptual distance from a TorchScript file the user names (NVIDIA's projector uses one,
`vgg16.pt`): its weights are read through a restricted unpickler that runs none of its code
(TorchScript archives hold Python source; we never look at it) and go into our own VGG16.

What is read: the archive's `data.pkl`, where every scripted module is a `__torch__.*` object with
a state dict, and tensors are rebuilt from the archive's `data/N` records.  Any other global is
refused.  The 13 convolutions are taken by shape, in order (VGG16's 64, 64, 128, 128, 256 x 3,
512 x 6 channels); five [1, C, 1, 1] weights, when present, are LPIPS's per-channel weights.  The
distance is LPIPS's recipe: features after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3, each
unit-normalised across channels, squared differences weighted per channel (or averaged), summed.
Proven on VGG16 files scripted here; NVIDIA's own file is not downloaded by anything here."""
from __future__ import annotations

import io
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from stylegan3.pickle_safe import BoundedUnpickler

PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
TAPS = (1, 3, 6, 9, 12)                   # conv indices whose ReLU output LPIPS compares
MAX_BYTES = 1 << 30
_DTYPES = {"FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
           "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32}


class _Scripted:
    """A scripted module's state, never its code."""
    def __init__(self, *args):
        self.state: Any = None

    def __setstate__(self, state):
        self.state = state


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _DTYPES[name]


def _rebuild_tensor(storage, offset, size, stride, *rest):
    return torch.as_strided(storage, tuple(size), tuple(stride), int(offset))


class _Reader(BoundedUnpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, name: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.name = archive, prefix, name
        self.budget = MAX_BYTES - len(data)     # what the archive's entries may inflate to, in all

    def find_class(self, module: str, name: str):
        if module == "__torch__" or module.startswith("__torch__."):
            return _Scripted
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise ValueError(f"{self.name}: refused: the file asks for {module}.{name} (only weights are read)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ValueError(f"{self.name}: refused: an unexpected record in the file")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        dtype = kind.dtype if isinstance(kind, _StorageType) else None
        if dtype is None or not key.isdigit():
            raise ValueError(f"{self.name}: refused: an unexpected storage in the file")
        raw = self._entry(f"{self.prefix}data/{key}")
        if len(raw) < numel * torch.empty((), dtype=dtype).element_size():
            raise ValueError(f"{self.name}: a tensor's data is cut short")
        return torch.frombuffer(bytearray(raw), dtype=dtype)[:numel]

    def _entry(self, member: str) -> bytes:
        from ..safeio import read_zip_entry

        try:
            info = self.archive.getinfo(member)
        except KeyError:
            raise ValueError(f"{self.name}: a tensor's data ({member[:80]}) is missing") from None
        raw = read_zip_entry(self.archive, info, max(0, self.budget))
        self.budget -= len(raw)
        return raw


def read_weights(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """Every tensor of a TorchScript archive, by attribute path, in file order; ValueError (one
    line) for anything that is not one."""
    from ..safeio import read_regular, read_zip_entry

    name = str(path)
    data = read_regular(Path(path), MAX_BYTES, "VGG16 file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    except zipfile.BadZipFile:
        raise ValueError(f"{name}: not a TorchScript file (a zip archive with data.pkl)") from None
    if len(pkl) != 1:
        raise ValueError(f"{name}: not a TorchScript file (no data.pkl)")
    prefix = pkl[0][: -len("data.pkl")]
    try:
        root = _Reader(read_zip_entry(archive, archive.getinfo(pkl[0]), MAX_BYTES), archive, prefix, name).load()
    except ValueError as e:
        raise ValueError(str(e) if str(e).startswith(name) else f"{name}: {e}") from None
    except Exception as e:
        raise ValueError(f"{name}: unreadable TorchScript data ({type(e).__name__})") from None
    out: OrderedDict = OrderedDict()

    def walk(obj, at: str, depth: int = 0):
        if depth > 64:
            raise ValueError(f"{name}: nested too deep")
        if isinstance(obj, torch.Tensor):
            out[at] = obj
        elif isinstance(obj, _Scripted):
            walk(obj.state, at, depth + 1)
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{at}.{k}" if at else str(k), depth + 1)
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{at}.{i}" if at else str(i), depth + 1)
    walk(root, "")
    return out


class VGG16(nn.Module):
    """VGG16's convolutional part (13 convs, ReLU, max pooling), ours; the LPIPS taps."""

    def __init__(self):
        super().__init__()
        convs, cin = [], 3
        for c in PLAN:
            if c != "M":
                convs.append(nn.Conv2d(cin, c, 3, padding=1))
                cin = c
        self.convs = nn.ModuleList(convs)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Pictures in [-1, 1] -> the five tapped feature maps."""
        x, out, k = (img - self.shift) / self.scale, [], 0
        for c in PLAN:
            if c == "M":
                x = F.max_pool2d(x, 2)
                continue
            x = F.relu(self.convs[k](x))
            if k in TAPS:
                out.append(x)
            k += 1
        return out


def load_vgg16(path: str | Path) -> tuple[VGG16, list]:
    """Our VGG16 with the file's convolution weights, and LPIPS's five per-channel weights (or [])."""
    tensors = list(read_weights(path).items())
    want = []
    cin = 3
    for c in PLAN:
        if c != "M":
            want.append(((c, cin, 3, 3), (c,)))
            cin = c
    vgg, i = VGG16(), 0
    for k, (wshape, bshape) in enumerate(want):
        while i < len(tensors) and tuple(tensors[i][1].shape) != wshape:
            i += 1
        if i + 1 >= len(tensors) or tuple(tensors[i + 1][1].shape) != bshape:
            raise ValueError(f"{path}: not a VGG16 (no convolution {k + 1} of shape {list(wshape)} with its bias)")
        with torch.no_grad():
            vgg.convs[k].weight.copy_(tensors[i][1].float())
            vgg.convs[k].bias.copy_(tensors[i + 1][1].float())
        i += 2
    lins = [t.float() for _, t in tensors if t.ndim == 4 and t.shape[0] == 1 and t.shape[2:] == (1, 1)
            and t.shape[1] in (64, 128, 256, 512)]
    return vgg.eval(), (lins if [t.shape[1] for t in lins] == [64, 128, 256, 512, 512] else [])


class VGGDistance:
    name = "VGG16 features (LPIPS)"

    def __init__(self, path: str | Path, target: torch.Tensor, pixel_weight: float = 0.0):
        vgg, lins = load_vgg16(path)
        self.vgg = vgg.to(target.device).requires_grad_(False)
        self.lins = [w.to(target.device) for w in lins]
        self.target, self.pixel_weight = target, pixel_weight
        with torch.no_grad():
            self.want = [self._norm(f) for f in self.vgg(self._size(target))]

    @staticmethod
    def _size(img: torch.Tensor) -> torch.Tensor:
        return F.interpolate(img, size=(256, 256), mode="area") if img.shape[-1] > 256 else img

    @staticmethod
    def _norm(f: torch.Tensor) -> torch.Tensor:
        return f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        got = [self._norm(f) for f in self.vgg(self._size(img))]
        total = 0.0
        for k, (g, w) in enumerate(zip(got, self.want)):
            d = (g - w).pow(2)
            total = total + ((d * self.lins[k]).sum(1).mean() if self.lins else d.sum(1).mean())
        return total + self.pixel_weight * F.mse_loss(img, self.target)
