"""Load a generator from a `.pkl`, an http(s) URL, a `.safetensors` file of ours, or `builtin:<name>`.

Networks are always rebuilt from our classes plus the stored constructor kwargs and tensors.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .download import cached_path, fetch_url
from .pickle_safe import CheckpointError, PersistentRecord, TorchModuleRecord, safe_load_pickle

FAMILIES = ("stylegan2", "stylegan3", "stylegan3-canvas")
_POSITIONAL = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")


def _plain(obj: Any) -> Any:
    """EasyDicts/OrderedDicts/numpy scalars -> plain JSON-able Python values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    return obj


def build_generator(family: str, init_kwargs: dict, device: Optional[torch.device | str] = None,
                    name: str = "network") -> nn.Module:
    """Construct our generator of `family` from official constructor kwargs (weights random or
    unset on the meta device); the kwargs and family are kept on the module for saving."""
    from . import canvas, sg2, sg3
    from .bounds import check_kwargs, check_size

    cls = {"stylegan2": sg2.Generator, "stylegan3": sg3.Generator, "stylegan3-canvas": canvas.Generator}.get(family)
    if cls is None:
        raise CheckpointError(f"unknown network family {str(family)[:40]!r}; expected one of {', '.join(FAMILIES)}")
    kwargs = _plain(init_kwargs)
    check_kwargs(kwargs, name)
    with torch.device("meta"):                          # size check first: allocates nothing
        try:
            check_size(cls(**kwargs), name)
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"{name}: unsupported {family} configuration ({type(e).__name__}: {e})") from None
    with torch.device(device) if device is not None else _nullcontext():
        G = cls(**kwargs)
    G.family, G.init_kwargs = family, kwargs
    return G.eval().requires_grad_(False)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _mapping(obj: Any, name: str, where: str) -> dict:
    """A record's group (`_parameters`, `_modules`, ...) must be a mapping with string keys."""
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(f"{name}: {where} is a {type(obj).__name__}, not a mapping of names")
    return obj


def _family_of(record: PersistentRecord, name: str) -> str:
    modules = _mapping(record.state.get("_modules"), name, "_modules")
    synth = modules.get("synthesis")
    if not isinstance(synth, PersistentRecord):
        raise CheckpointError(f"{name}: no synthesis network")
    names = set(_mapping(synth.state.get("_modules"), name, "synthesis._modules"))
    if "input" in names and isinstance(modules.get("appended_net"), PersistentRecord):
        return "stylegan3-canvas"
    if "input" in names:
        return "stylegan3"
    if "b4" in names:
        return "stylegan2"
    raise CheckpointError(f"{name}: unknown architecture (synthesis modules: {', '.join(sorted(names)[:5])})")


def _flat_state(record, name: str, prefix: str = "") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    st = record.state
    if not isinstance(st, dict):
        raise CheckpointError(f"{name}: {prefix or 'the network'} has no state mapping")
    skip = st.get("_non_persistent_buffers_set") or ()
    if not isinstance(skip, (set, frozenset, list, tuple)) or not all(isinstance(k, str) for k in skip):
        raise CheckpointError(f"{name}: {prefix}_non_persistent_buffers_set is not a set of names")
    for group in ("_parameters", "_buffers"):
        for k, v in _mapping(st.get(group), name, prefix + group).items():
            if v is None or k in skip:
                continue
            if not isinstance(v, torch.Tensor):
                raise CheckpointError(f"{name}: {prefix}{k} is not a tensor")
            out[prefix + k] = v.detach()
    for k, sub in _mapping(st.get("_modules"), name, prefix + "_modules").items():
        if isinstance(sub, (PersistentRecord, TorchModuleRecord)):
            out.update(_flat_state(sub, name, f"{prefix}{k}."))
        elif sub is not None:
            raise CheckpointError(f"{name}: unexpected object at {prefix}{k}: {type(sub).__name__}")
    return out


def _kind(t: torch.Tensor) -> str:
    return "floating-point" if t.is_floating_point() else "complex" if t.is_complex() else \
        "boolean" if t.dtype == torch.bool else "integer"


def _load_weights(G: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    own = G.state_dict(keep_vars=True)
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or bad:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"unexpected {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}")
        if bad:
            k = bad[0]
            parts.append(f"shape of {k} is {list(state[k].shape)}, expected {list(own[k].shape)}")
        raise CheckpointError(f"{name}: weights do not fit the network described by its kwargs: {'; '.join(parts)}")
    for k, t in own.items():                 # float weights from any float type; counters stay integers
        if _kind(state[k]) != _kind(t):
            raise CheckpointError(f"{name}: {k} holds {str(state[k].dtype).replace('torch.', '')} values; "
                                  f"expected {_kind(t)} numbers")
    G.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()},
                      assign=True)


def generator_from_record(record: PersistentRecord, name: str) -> nn.Module:
    """Our generator from an official `Generator` record; whatever the record holds, a failure is
    a CheckpointError naming `name` (a file is data: no structure in it may raise anything else)."""
    return _rebuilt(_generator_from_record, record, name)


def _rebuilt(build, record: PersistentRecord, name: str) -> nn.Module:
    try:
        return build(record, name)
    except CheckpointError:
        raise
    except Exception as e:                   # a shape of data no check above foresaw
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        raise CheckpointError(f"{name}: not a network we can rebuild ({type(e).__name__}: {detail})") from None


def _generator_from_record(record: PersistentRecord, name: str) -> nn.Module:
    if record.class_name != "Generator":
        raise CheckpointError(f"{name}: expected a Generator, found {record.class_name[:80]}")
    family = _family_of(record, name)
    args = record.state.get("_init_args") or ()
    kwargs = record.state.get("_init_kwargs") or {}
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise CheckpointError(f"{name}: _init_args or _init_kwargs is not a list or mapping of constructor arguments")
    kwargs = dict(kwargs)
    kwargs.update(zip(_POSITIONAL, args))
    state = _flat_state(record, name)
    if family == "stylegan3-canvas":
        from .canvas import derive_architecture
        try:
            kwargs.update(derive_architecture(state, kwargs))
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise CheckpointError(f"{name}: not a StyleGAN-Canvas network we can rebuild ({e})") from None
    G = build_generator(family, kwargs, device="meta", name=name)
    _load_weights(G, state, name)
    return G


def load_pickle(path: str | os.PathLike) -> nn.Module:
    """G_ema of an official training snapshot or network pickle, without running its code."""
    path = Path(path)
    try:
        _check_file(path)
        with open(path, "rb") as f:
            data = safe_load_pickle(f, str(path))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    if isinstance(data, dict):
        record = next((data[k] for k in ("G_ema", "G") if isinstance(data.get(k), PersistentRecord)), None)
    else:
        record = data if isinstance(data, PersistentRecord) else None
    if record is None:
        raise CheckpointError(f"{path}: no generator (G_ema) in this pickle")
    return generator_from_record(record, str(path))


def discriminator_from_record(record: PersistentRecord, name: str) -> nn.Module:
    """Our StyleGAN2 discriminator from an official snapshot's `D` record (no code runs); any
    failure is a CheckpointError naming `name`."""
    return _rebuilt(_discriminator_from_record, record, name)


def _discriminator_from_record(record: PersistentRecord, name: str) -> nn.Module:
    from .bounds import check_kwargs, max_network_bytes, weight_bytes
    from .discriminator import build_discriminator

    if record.class_name != "Discriminator":
        raise CheckpointError(f"{name}: expected a Discriminator, found {record.class_name[:80]}")
    kwargs = _plain(dict(record.state.get("_init_kwargs") or {}))
    kwargs.update(zip(("c_dim", "img_resolution", "img_channels"), record.state.get("_init_args") or ()))
    check_kwargs(kwargs, name)
    try:
        with torch.device("meta"):                  # sized before anything is allocated
            D = build_discriminator(kwargs)
        if weight_bytes(D) > max_network_bytes():
            raise CheckpointError(f"{name}: {weight_bytes(D) / (1 << 30):.1f} GiB of discriminator weights, more than "
                                  f"the {max_network_bytes() / (1 << 30):.1f} GiB limit (LIVEGAN_MAX_NETWORK_GB)")
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{name}: unsupported discriminator configuration ({type(e).__name__}: {e})") from None
    _load_weights(D, _flat_state(record, name), name)
    return D


def load_training_snapshot(path: str | os.PathLike) -> dict:
    """An official (or our) training snapshot: G, D, G_ema, the augmentation probability and the
    dataset options, for --resume and fine-tuning.  A snapshot without D or G is refused."""
    path = Path(path)
    try:
        _check_file(path)
        with open(path, "rb") as f:
            data = safe_load_pickle(f, str(path))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a training snapshot (a bare network: fine-tune it with --resume "
                              f"after training starts a discriminator)")
    missing = [k for k in ("G", "D", "G_ema") if not isinstance(data.get(k), PersistentRecord)]
    if missing:
        raise CheckpointError(f"{path}: not a training snapshot: no {', '.join(missing)}")
    out = {"G": generator_from_record(data["G"], f"{path} G"),
           "G_ema": generator_from_record(data["G_ema"], f"{path} G_ema"),
           "D": discriminator_from_record(data["D"], f"{path} D"),
           "augment_p": 0.0, "training_set_kwargs": _plain(dict(data.get("training_set_kwargs") or {}))}
    pipe = data.get("augment_pipe")
    if isinstance(pipe, PersistentRecord):
        p = (pipe.state.get("_buffers") or {}).get("p")
        if isinstance(p, torch.Tensor) and p.numel() == 1 and torch.isfinite(p).all():
            out["augment_p"] = float(p)
    return out


# ----------------------------------------------------------------------------------------------
# safetensors (our own format: weights + family + kwargs as metadata)

def _check_file(path: Path) -> None:
    """A checkpoint must be a regular file within the size limit (not /dev/zero, a FIFO, a folder)."""
    import stat

    from .bounds import max_network_bytes

    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{path}: not a regular file")
    if st.st_size > max_network_bytes() * 2:
        raise CheckpointError(f"{path}: {st.st_size / (1 << 30):.1f} GiB is larger than any network we agree to load")


def save_safetensors(G: nn.Module, path: str | os.PathLike) -> None:
    from safetensors.torch import save_file

    meta = {"format": "livegan-generator/1", "family": G.family, "init_kwargs": json.dumps(G.init_kwargs)}
    tensors = {k: v.detach().contiguous().cpu() for k, v in G.state_dict().items()}
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_safetensors(path: str | os.PathLike) -> nn.Module:
    from safetensors import safe_open

    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != "livegan-generator/1":
                raise CheckpointError(f"{path}: not a livegan generator file (no livegan metadata)")
            kwargs = json.loads(meta["init_kwargs"])
            family = meta["family"]
            if not isinstance(kwargs, dict):
                raise CheckpointError(f"{path}: init_kwargs must be a JSON object, got {type(kwargs).__name__}")
            G = build_generator(family, kwargs, device="meta", name=str(path))   # bounds before tensors
            state = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: not a valid safetensors file ({type(e).__name__}: {e})") from None
    _load_weights(G, state, str(path))
    return G


def check_source(source: str | os.PathLike) -> None:
    """That `source` names a network `load_network` could load, without loading or downloading it
    (a tool that loads on first need says a typo at its start); CheckpointError, one line."""
    from . import builtin
    from .catalog import lookup

    s = os.fspath(source)
    if s.startswith("builtin:"):
        if s[len("builtin:"):] not in builtin.names():
            raise CheckpointError(f"{s}: unknown built-in network; choose from "
                                  + ", ".join(f"builtin:{n}" for n in builtin.names()))
    elif not (s.startswith(("http://", "https://")) or Path(s).expanduser().exists() or lookup(s) is not None):
        raise CheckpointError(f"{s[:200]}: no such network file (`livegan networks` lists the built-in, cached and "
                              "published ones)")


def load_network(source: str | os.PathLike, device: Optional[torch.device | str] = None,
                 precision: str = "auto") -> nn.Module:
    """The generator named by `source` (path, URL, or builtin:<name>), on `device`, in eval mode.

    precision: 'auto' (fp16 where the checkpoint says, CUDA only), 'fp32', 'fp16' or 'bf16'.
    """
    from . import builtin

    from .catalog import LICENCE, lookup

    s = os.fspath(source)
    check_source(s)                               # names nothing: one line, before any work
    published = lookup(s) if not s.startswith("builtin:") and not Path(s).expanduser().exists() else None
    if s.startswith("builtin:"):
        G = builtin.build(s[len("builtin:"):])
        G.source = s
    else:
        if published is not None:                 # a catalogue name: NVIDIA's, under NVIDIA's licence
            if not cached_path(published.url).exists():
                print(f"livegan: downloading {published.name} ({published.config} {published.resolution} px, "
                      f"about {published.approx_mb} MB) from {published.url}\n"
                      f"livegan: licence: {LICENCE}", flush=True)
            path = fetch_url(published.url)
        elif s.startswith(("http://", "https://")):
            path = fetch_url(s)
        else:
            path = Path(s).expanduser()
        G = load_safetensors(path) if path.suffix == ".safetensors" else load_pickle(path)
        G.source = s
    G = G.to(device) if device is not None else G
    set_precision(G, precision)
    return G


def describe_config(G: nn.Module) -> str:
    """'StyleGAN2', 'StyleGAN3-T' or 'StyleGAN3-R' (config R: 1x1 convolutions, radial filters),
    'StyleGAN-Canvas-T' or '-R'."""
    if G.family == "stylegan2":
        return "StyleGAN2"
    kw = getattr(G, "init_kwargs", {}) or {}
    radial = kw.get("use_radial_filters") or (kw.get("synthesis_kwargs") or {}).get("use_radial_filters")
    k = kw.get("conv_kernel", (kw.get("synthesis_kwargs") or {}).get("conv_kernel", 3))
    base = "StyleGAN-Canvas" if G.family == "stylegan3-canvas" else "StyleGAN3"
    return f"{base}-R" if radial or k == 1 else f"{base}-T"


def set_channels_last(G: nn.Module, on: Optional[bool] = True) -> None:
    """NHWC convolutions for the StyleGAN3 layers: True or False forces them on or off (CUDA
    tensor cores prefer them); None leaves each layer's measured default (on the CPU, NHWC only
    for few-channel layers oneDNN convolves)."""
    for m in G.modules():
        if hasattr(m, "channels_last") and hasattr(m, "reference_ops"):
            m.channels_last = on


def set_precision(G: nn.Module, precision: str) -> None:
    from .precision import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    for m in G.modules():
        if hasattr(m, "precision"):
            m.precision = precision
