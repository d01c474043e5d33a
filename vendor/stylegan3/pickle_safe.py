"""Restricted unpickling of official StyleGAN network pickles.

Official pickles store each network module as `torch_utils.persistence._reconstruct_persistent_obj`
called on a record holding the module's Python *source* and its `__dict__`.  Loading them with
`pickle` would import and run that source.  Here the unpickler admits only the globals that the
records, tensors and arrays need; a persistence record becomes an inert `PersistentRecord` (its
source is never looked at), and the network is rebuilt from our own classes by `checkpoints.py`.
"""
from __future__ import annotations

import collections
import io
import mmap
import pickle
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import torch


class CheckpointError(ValueError):
    """A network file that cannot be used; the message names the file and the problem."""


class EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict: a dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class PersistentRecord:
    """What an official persistent object holds: class name and state; never instantiated."""
    class_name: str
    state: dict = field(repr=False)
    version: Any = None


class TorchModuleRecord:
    """An ordinary torch.nn module inside a pickle (StyleGAN-Canvas holds Conv2d, BatchNorm2d,
    LeakyReLU and Linear): created empty, its state kept as data; no torch module is built."""
    kind = "Module"

    def __init__(self, *args: Any, **kwargs: Any):
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"torch module {self.kind}: state is not a dict")
        self.state = state

    def __getstate__(self) -> dict:        # copy.deepcopy then hands the same state back
        return self.state

    def __repr__(self) -> str:
        return f"TorchModuleRecord({self.kind})"


def _torch_module(kind: str) -> type:
    return type(kind + "Record", (TorchModuleRecord,), {"kind": kind})


def _device(*args: Any) -> str:
    """A stored torch.device ('cuda' in a GPU-built snapshot): kept as its name; it places nothing."""
    if not args or not isinstance(args[0], str) or len(args[0]) > 32:
        raise pickle.UnpicklingError("malformed torch.device")
    return args[0] if len(args) == 1 else f"{args[0]}:{args[1]}"


def _reconstruct_persistent_obj(meta: dict) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or "class_name" not in meta:
        raise pickle.UnpicklingError("malformed persistence record")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"persistence record {meta['class_name']!r} has no state dict")
    return PersistentRecord(str(meta["class_name"]), state, meta.get("version"))


def _load_storage_from_bytes(data: bytes) -> Any:
    """Tensor storages are nested legacy `torch.save` blobs: read them with torch's own
    weights-only unpickler, never the unrestricted one the official code uses."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("tensor storage is not a byte string")
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def _numpy_reconstruct(*args: Any) -> Any:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2 path of numpy.core
    return _reconstruct(*args)


def _numpy_scalar(*args: Any) -> Any:
    from numpy._core.multiarray import scalar
    return scalar(*args)


def _numpy_dtype(*args: Any) -> np.dtype:
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError("numpy object arrays are not allowed in a network pickle")
    return dt


_ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): __import__("codecs").encode,  # protocol-2 byte strings
    ("torch", "device"): _device,
}
for _path, _kind in (("torch.nn.modules.conv", "Conv2d"), ("torch.nn.modules.batchnorm", "BatchNorm2d"),
                     ("torch.nn.modules.activation", "LeakyReLU"), ("torch.nn.modules.linear", "Linear")):
    _ALLOWED[(_path, _kind)] = _torch_module(_kind)
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _numpy_reconstruct
    _ALLOWED[(_mod, "scalar")] = _numpy_scalar
_ALLOWED[("numpy", "dtype")] = _numpy_dtype
_ALLOWED[("numpy", "ndarray")] = np.ndarray


def _no_bytearray(self: "BoundedUnpickler") -> None:
    raise pickle.UnpicklingError("a bytearray (protocol 5), which a weights file never holds")


class BoundedUnpickler(pickle._Unpickler):
    """The base of every unpickler of a file from outside.  Python's own, not the C one: its memo
    is a dict, where the C unpickler sizes an array by the largest memo index a file names (a
    400 kB file asking for index 1.3e9 took 10 GB and a minute).  Read from a mapped file or a
    byte string, a stated length yields only the bytes that follow it; the one opcode that
    allocates its stated length up front is refused.  Subclasses say which globals they admit."""
    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BYTEARRAY8[0]] = _no_bytearray

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused: {module[:80]}.{name[:80]}")


class _RestrictedUnpickler(BoundedUnpickler):
    def __init__(self, file: BinaryIO, name: str):
        super().__init__(file)
        self._name = name

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(f"{self._name}: refused to load: the pickle references "
                                  f"{module}.{name}, which a network checkpoint never needs") from None

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(f"{self._name}: refused to load: unexpected persistent id in pickle")


def safe_load_pickle(file: BinaryIO, name: str) -> Any:
    """Unpickle with the allow-list above; any failure is a CheckpointError naming `name`.  A real
    file is mapped, not read: a length in it then yields at most the bytes that follow it (a
    buffered file's read(n) allocates n first)."""
    try:
        view = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError):   # not a real file, or an empty one
        view = None
    try:
        return _RestrictedUnpickler(view if view is not None else file, name).load()
    except CheckpointError:
        raise
    except Exception as e:  # truncated, corrupt, or refused inner storage
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(f"{name}: not a valid network pickle ({type(e).__name__}: {detail})") from None
    finally:
        if view is not None:
            view.close()
