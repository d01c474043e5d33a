"""Write networks in the official persistence-pickle format (for tests): each module becomes a
`torch_utils.persistence._reconstruct_persistent_obj(meta)` call, as NVIDIA's snapshots hold."""
from __future__ import annotations

import collections
import pickle
import sys
import types
from contextlib import contextmanager
from typing import Any

from torch import nn


@contextmanager
def fake_official_modules(source: str = "# source omitted"):
    """Register stand-ins for the official modules so pickle can name their globals."""
    calls: list = []
    pers = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - only referenced by name
        calls.append(meta)
        raise AssertionError("the official reconstructor must never run")
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    saved = {k: sys.modules.get(k) for k in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")}
    sys.modules.update({"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": pers,
                        "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util})
    try:
        yield pers, EasyDict, source
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Record:
    def __init__(self, fn, meta):
        self.fn, self.meta = fn, meta

    def __reduce__(self):
        return self.fn, (self.meta,)


def _record(mod: nn.Module, fn, EasyDict, source: str, init_kwargs: Any = None) -> _Record:
    state = {
        "training": False,
        "_parameters": collections.OrderedDict((k, v) for k, v in mod._parameters.items()),
        "_buffers": collections.OrderedDict((k, v) for k, v in mod._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_modules": collections.OrderedDict(
            (k, _record(m, fn, EasyDict, source)) for k, m in mod._modules.items()),
        "_init_args": (),
        "_init_kwargs": init_kwargs if init_kwargs is not None else {},
    }
    meta = dict(type="class", version=6, module_src=source, class_name=type(mod).__name__, state=state)
    return _Record(fn, meta)


def write_official_pickle(G: nn.Module, path, source: str = "# source omitted", extra: Any = None,
                          D: Any = None) -> None:
    """G (as G and G_ema) and, when given, D (our Discriminator, with its init_kwargs) in the
    official pickle layout."""
    with fake_official_modules(source) as (pers, EasyDict, src):
        kw = dict(G.init_kwargs)
        if "mapping_kwargs" in kw:
            kw["mapping_kwargs"] = EasyDict(kw["mapping_kwargs"])
        rec = _record(G, pers._reconstruct_persistent_obj, EasyDict, src, kw)
        drec = None if D is None else _record(D, pers._reconstruct_persistent_obj, EasyDict, src, dict(D.init_kwargs))
        data = {"G": rec, "D": drec, "G_ema": rec, "augment_pipe": None, "training_set_kwargs": {}}
        if extra is not None:
            data["extra"] = extra
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=4)
