"""Preset files (presets/*.json): keyframes, interpolation, and starting parameter values.

A bad preset is rejected with one line naming the file, the field and the problem.
"""
from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .params import MAX_CLASS, PARAMS
from .preset_parts import PresetError  # defined with the parts that raise it too
from .boundary import json_text
from .safeio import read_regular

INTERPOLATIONS = ("linear", "slerp", "spline")
EASINGS = ("linear", "smoothstep", "sine")
PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
MAX_PRESET_BYTES = 4 << 20          # a preset is a small JSON file
MAX_W_BYTES = 64 << 20              # a w keyframe: [num_ws, w_dim] float32 is well under 1 MiB
MAX_KEYFRAMES = 4096


@dataclass(frozen=True)
class Keyframe:
    seed: Optional[int] = None
    w: Optional[np.ndarray] = field(default=None, compare=False, repr=False)   # [w_dim] or [num_ws, w_dim]
    w_file: Optional[str] = None
    cls: Optional[float] = None      # a conditional network's class for this seed (None: the `class` parameter)

    def label(self) -> str:
        if self.seed is None:
            return f"w {Path(self.w_file).name}"
        return f"seed {self.seed}" + ("" if self.cls is None else f" class {self.cls:g}")


@dataclass(frozen=True)
class Preset:
    name: str
    keyframes: tuple[Keyframe, ...]
    network: Optional[str] = None
    interpolation: str = "spline"
    easing: str = "linear"
    mix_source: Optional[Keyframe] = None       # seed/w, or a keyframe index via mix_keyframe
    mix_keyframe: Optional[int] = None
    params: dict = field(default_factory=dict)  # parameter name -> starting value
    path: Optional[str] = None
    directions: tuple = ()                      # ({"slot": k, "pick": NAME|pca:K|sefa:K, "zone": z}, ...)
    modulation: tuple = ()                      # routes (livegan/modulation): {"slot", "source", "target", ...}
    lfos: tuple = ()                            # up to 4 LFOs: {"shape", "rate", "sync", "phase"}
    audio_triggers: tuple = ()                  # {"on": onset|beat, "command": ..., "every": N}
    netmix: Optional[dict] = None               # model mixing: {"network": B, "layers": "all" | "K" | "A-B"}
    bends: tuple = ()                           # ({"slot", "op", "layer", "channels", "arg"}, ...); amounts are params


def _fail(path: str, where: str, problem: str) -> PresetError:
    return PresetError(f"{path}: {where}: {problem}")


KEYFRAME_FORMS = "a seed (integer) or {\"seed\": N[, \"class\": K]} or {\"w\": \"file.npy\"}"


def parse_keyframe(raw: Any, where: str, base: Optional[Path] = None) -> Keyframe:
    """One keyframe, in either of its forms, checked alike: a seed (`N` or `{"seed": N}`), or a w
    given as a file beside the preset (`{"w": "file.npy"}`, when `base` says where that is) or as
    the array itself (`{"w": [...], "w_file": ...}`, as control logs embed presets).  `where`
    prefixes the one-line error."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"seed": raw}
    if not isinstance(raw, dict) or len(set(raw) & {"seed", "w"}) != 1:
        raise PresetError(f"{where}: expected {KEYFRAME_FORMS}")
    extra = sorted(set(raw) - {"seed", "class", "w", "w_file"})
    if extra:
        raise PresetError(f"{where}.{extra[0]}: unknown field (a keyframe has seed and class, or w)")
    if "seed" in raw:
        s = raw["seed"]
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2 ** 32:
            raise PresetError(f"{where}.seed: must be an integer 0..2**32-1, got {str(s)[:40]!r}")
        cls = raw.get("class")
        if cls is not None:
            from .boundary import number
            try:
                cls = number(cls, f"{where}.class", 0, MAX_CLASS)
            except ValueError as e:
                raise PresetError(str(e)) from None
        return Keyframe(seed=s, cls=cls)
    if "class" in raw:
        raise PresetError(f"{where}.class: a class goes with a seed (a stored w already has its class)")
    value, w_file = raw["w"], raw.get("w_file")
    if isinstance(value, str) and base is not None:
        f = base / value
        try:
            w = np.load(io.BytesIO(read_regular(f, MAX_W_BYTES, "w file")), allow_pickle=False).astype(np.float32)
        except (OSError, ValueError) as e:
            raise PresetError(f"{where}.w: " + (str(e) if str(f) in str(e) else f"cannot read {f} ({e})")) from None
        except Exception as e:
            raise PresetError(f"{where}.w: cannot read {f} ({type(e).__name__})") from None
        what, w_file = str(f), str(f)
    else:
        try:
            w = np.asarray(value, np.float32)
        except (TypeError, ValueError):
            raise PresetError(f"{where}: expected a seed or a w array") from None
        what = "w"
    if w.ndim == 3 and w.shape[0] == 1:
        w = w[0]
    if w.ndim not in (1, 2) or w.size > 256 * 4096 or not np.isfinite(w).all():
        raise PresetError(f"{where}.w: {what} must hold a finite [w_dim] or [num_ws, w_dim] array, got shape {list(w.shape)}")
    return Keyframe(w=w, w_file=w_file if isinstance(w_file, str) else None)


def parse_preset(data: Any, path: str = "<preset>", base: Optional[Path] = None) -> Preset:
    base = base or Path(".")
    if not isinstance(data, dict):
        raise _fail(path, "top level", "expected a JSON object")
    known = {"name", "network", "keyframes", "interpolation", "easing", "loop", "speed",
             "beats_per_keyframe", "psi", "truncation_cutoff", "class", "mix", "transform", "effects", "params", "directions",
             "modulation", "lfos", "audio_triggers", "netmix", "bends"}
    extra = sorted(set(data) - known)
    if extra:
        raise _fail(path, extra[0], f"unknown field (known: {', '.join(sorted(known))})")
    kfs = data.get("keyframes")
    if not isinstance(kfs, list) or not kfs:
        raise _fail(path, "keyframes", "must be a non-empty list")
    if len(kfs) > MAX_KEYFRAMES:
        raise _fail(path, "keyframes", f"{len(kfs)} keyframes, more than the limit of {MAX_KEYFRAMES}")
    keyframes = tuple(parse_keyframe(k, f"{path}: keyframes[{i}]", base) for i, k in enumerate(kfs))
    interp = data.get("interpolation", "spline")
    if interp not in INTERPOLATIONS:
        raise _fail(path, "interpolation", f"must be one of {', '.join(INTERPOLATIONS)}, got {interp!r}")
    easing = data.get("easing", "linear")
    if easing not in EASINGS:
        raise _fail(path, "easing", f"must be one of {', '.join(EASINGS)}, got {easing!r}")
    net = data.get("network")
    if net is not None and not isinstance(net, str):
        raise _fail(path, "network", "must be a string (path, URL or builtin:NAME)")

    values: dict[str, float] = {}
    registry = {p.name: p for p in PARAMS}

    def put(name: str, v: Any, where: str) -> None:
        p = registry[name]
        if isinstance(v, bool) and p.kind != "bool" or not isinstance(v, (int, float)):
            raise _fail(path, where, f"must be a number, got {v!r}")
        if p.kind != "bool" and not p.lo <= v <= p.hi:
            raise _fail(path, where, f"{v} is out of range {p.lo}..{p.hi}")
        values[name] = float(v)

    if "loop" in data:
        put("loop", bool(data["loop"]), "loop")
    if "speed" in data and "beats_per_keyframe" in data:
        raise _fail(path, "speed", "give speed (keyframes per second) or beats_per_keyframe, not both")
    if "speed" in data:
        put("speed", data["speed"], "speed")
    if "beats_per_keyframe" in data:
        b = data["beats_per_keyframe"]
        if isinstance(b, bool) or not isinstance(b, (int, float)) or b <= 0:
            raise _fail(path, "beats_per_keyframe", f"must be a positive number, got {b!r}")
        put("speed", 1.0 / b, "beats_per_keyframe")
        values["beat_sync"] = 1.0
    if "psi" in data:
        put("psi", data["psi"], "psi")
    if "class" in data:                          # keyframes without their own class take this one
        put("class", data["class"], "class")
    if data.get("truncation_cutoff") is not None:
        put("truncation_cutoff", data["truncation_cutoff"], "truncation_cutoff")
    mix_source, mix_keyframe = None, None
    mix = data.get("mix")
    if mix is not None:
        if not isinstance(mix, dict) or "layer" not in mix or "source" not in mix:
            raise _fail(path, "mix", "expected {\"layer\": k, \"source\": {\"seed\": N} | {\"keyframe\": i} | {\"w\": file}}")
        put("mix_layer", mix["layer"], "mix.layer")
        if "amount" in mix:
            put("mix_amount", mix["amount"], "mix.amount")
        src = mix["source"]
        if isinstance(src, dict) and "keyframe" in src:
            k = src["keyframe"]
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(keyframes):
                raise _fail(path, "mix.source.keyframe", f"must be a keyframe index 0..{len(keyframes) - 1}")
            mix_keyframe = k
        else:
            mix_source = parse_keyframe(src, f"{path}: mix.source", base)
    tf = data.get("transform")
    if tf is not None:
        if not isinstance(tf, dict) or set(tf) - {"rotate", "translate", "zoom"}:
            raise _fail(path, "transform", "expected {\"rotate\": deg, \"translate\": [x, y], \"zoom\": z}")
        if "rotate" in tf:
            put("rotate", tf["rotate"], "transform.rotate")
        if "translate" in tf:
            t = tf["translate"]
            if not isinstance(t, list) or len(t) != 2:
                raise _fail(path, "transform.translate", "must be [x, y]")
            put("translate_x", t[0], "transform.translate[0]")
            put("translate_y", t[1], "transform.translate[1]")
        if "zoom" in tf:
            put("zoom", tf["zoom"], "transform.zoom")
    for group in ("effects", "params"):
        g = data.get(group) or {}
        if not isinstance(g, dict):
            raise _fail(path, group, "expected an object of parameter: value")
        for k, v in g.items():
            if k not in registry:
                raise _fail(path, f"{group}.{k}", "unknown parameter")
            put(k, v, f"{group}.{k}")
    from .preset_parts import check_netmix, directions_of, modulation_of
    directions = directions_of(path, data.get("directions"))
    modulation, lfos, triggers = modulation_of(path, data, registry)
    for r in modulation:                                 # a route's amount is its slot's parameter
        if r.get("amount") is not None:
            values[f"mod/{r['slot']}"] = float(r["amount"])
    netmix = None
    if data.get("netmix") is not None:
        raw = data["netmix"]
        if not isinstance(raw, dict) or set(raw) - {"network", "amount", "layers", "frame", "mapping"}:
            raise _fail(path, "netmix", "expected {\"network\": B, \"amount\": 0..1, \"layers\": \"all\" | \"A-B\"}")
        if "amount" in raw:
            put("netmix", raw["amount"], "netmix.amount")
        try:
            netmix = check_netmix(raw)
        except ValueError as e:
            raise _fail(path, "netmix", str(e)) from None
    from .instrument.bends import preset_bends
    try:
        bends = preset_bends(data.get("bends"))
    except ValueError as e:
        raise _fail(path, "bends", str(e)) from None
    for b in bends:                                      # a bend's amount is its slot's parameter
        if "amount" in b:
            put(f"bend/{b['slot']}", b.pop("amount"), f"bends[{b['slot']}].amount")
    name = data.get("name", Path(path).stem)
    return Preset(name=str(name), keyframes=keyframes, network=net, interpolation=interp, easing=easing,
                  mix_source=mix_source, mix_keyframe=mix_keyframe, params=values, path=path, directions=directions,
                  modulation=modulation, lfos=lfos, audio_triggers=triggers, netmix=netmix, bends=tuple(bends))


def resolve_preset(ref: Union[str, os.PathLike], folders: Sequence[Path] = (PRESET_DIR,), cwd: bool = True) -> Path:
    """The file a preset reference names.  A bare name ('drift', 'drift.json') is looked up in
    the preset folders, in order, and only as a .json file there; with `cwd` (the command line) a
    file of that name in the working directory also counts.  Anything with a folder in it is a path."""
    s = str(ref)
    if "/" in s or os.sep in s:
        return Path(s)
    name = s if s.endswith(".json") else f"{s}.json"
    for folder in folders:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    if cwd and Path(s).is_file():
        return Path(s)
    names = sorted({q.stem for f in folders if Path(f).is_dir() for q in Path(f).glob("*.json")})
    raise PresetError(f"{s[:80]}: no such preset in {', '.join(str(f) for f in folders)} "
                      f"(available: {', '.join(names[:40]) or 'none'})")


def load_preset(ref: Union[str, os.PathLike], search: Path = PRESET_DIR, folders: Optional[Sequence[Path]] = None,
                cwd: bool = True) -> Preset:
    """A preset by path, or by name from the preset folders ('default' -> presets/default.json);
    see `resolve_preset`."""
    p = resolve_preset(ref, folders if folders is not None else (search,), cwd)
    if not p.exists():
        raise PresetError(f"{p}: no such preset file")
    try:
        data = json_text(read_regular(p, MAX_PRESET_BYTES, "preset").decode("utf-8"), f"{p}")
    except json.JSONDecodeError as e:
        raise PresetError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise PresetError(f"{p}: not valid JSON (not UTF-8 text)") from None
    except (OSError, ValueError) as e:
        raise PresetError(str(e)) from None
    return parse_preset(data, str(p), p.parent)


def check_for_network(preset: Preset, num_ws: int, w_dim: int) -> None:
    """Refuse a preset whose stored ws do not fit the network (one line naming file and shape),
    before it replaces the playing one."""
    keys = list(preset.keyframes) + ([preset.mix_source] if preset.mix_source is not None else [])
    for i, k in enumerate(keys):
        if k is None or k.w is None:
            continue
        shape = tuple(np.shape(k.w))
        if shape not in ((w_dim,), (num_ws, w_dim)):
            raise PresetError(f"{preset.path or preset.name}: {Path(k.w_file).name if k.w_file else f'keyframe {i}'}: w has shape "
                              f"{list(shape)}, this network needs [{w_dim}] or [{num_ws}, {w_dim}]")


# -- preset <-> JSON (control logs embed the preset, so a replay never depends on files changing) --

def _key_json(k: Optional[Keyframe]) -> Optional[dict]:
    if k is None:
        return None
    if k.seed is not None:
        return {"seed": k.seed} if k.cls is None else {"seed": k.seed, "class": k.cls}
    return {"w": np.asarray(k.w, np.float32).tolist(), "w_file": k.w_file}


def _key_from(d: Optional[dict]) -> Optional[Keyframe]:
    return None if d is None else parse_keyframe(d, "embedded keyframe")


def preset_json(p: Preset) -> dict:
    return {"name": p.name, "network": p.network, "interpolation": p.interpolation, "easing": p.easing,
            "keyframes": [_key_json(k) for k in p.keyframes], "mix_source": _key_json(p.mix_source),
            "mix_keyframe": p.mix_keyframe, "params": p.params, "path": p.path, "directions": list(p.directions),
            "modulation": list(p.modulation), "lfos": list(p.lfos), "audio_triggers": list(p.audio_triggers),
            "netmix": p.netmix, "bends": list(p.bends)}


def preset_from(d: dict) -> Preset:
    """A preset embedded in a control log or a command: data from outside, checked as strictly as
    a preset file (PresetError, one line) before anything uses it."""
    if not isinstance(d, dict):
        raise PresetError(f"embedded preset: expected an object, got {type(d).__name__}")
    keys = d.get("keyframes")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYFRAMES:
        raise PresetError(f"embedded preset: keyframes must be a list of 1..{MAX_KEYFRAMES}")
    if d.get("interpolation") not in INTERPOLATIONS or d.get("easing") not in EASINGS:
        raise PresetError("embedded preset: unknown interpolation or easing")
    mk = d.get("mix_keyframe")
    if mk is not None and (isinstance(mk, bool) or not isinstance(mk, int) or not 0 <= mk < len(keys)):
        raise PresetError(f"embedded preset: mix_keyframe must be a keyframe index, got {str(mk)[:40]!r}")
    params = d.get("params")
    if not isinstance(params, dict) or len(params) > 256 or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and abs(v) < 1e9 for k, v in params.items()):
        raise PresetError("embedded preset: params must map names to finite numbers")
    if not isinstance(d.get("name"), str) or len(d["name"]) > 256:
        raise PresetError("embedded preset: name must be a short string")
    for k in ("network", "path"):
        if d.get(k) is not None and (not isinstance(d[k], str) or len(d[k]) > 4096):
            raise PresetError(f"embedded preset: {k} must be a string")
    for k in ("directions", "modulation", "lfos", "audio_triggers", "bends"):
        if not isinstance(d.get(k) or [], list) or len(d.get(k) or []) > 256:
            raise PresetError(f"embedded preset: {k} must be a short list")
    from .instrument.bends import preset_bends
    try:
        bends = tuple(preset_bends(d.get("bends")))
    except ValueError as e:
        raise PresetError(f"embedded preset: bends: {e}") from None
    from .preset_parts import check_netmix
    netmix = d.get("netmix")
    if netmix is not None:
        try:
            netmix = check_netmix(netmix if isinstance(netmix, dict) else {})
        except ValueError as e:
            raise PresetError(f"embedded preset: netmix: {e}") from None
    return Preset(name=d["name"], keyframes=tuple(_key_from(k) for k in d["keyframes"]), network=d.get("network"),
                  interpolation=d["interpolation"], easing=d["easing"], mix_source=_key_from(d.get("mix_source")),
                  mix_keyframe=mk, params=params, path=d.get("path"),
                  directions=tuple(d.get("directions") or ()), modulation=tuple(d.get("modulation") or ()),
                  lfos=tuple(d.get("lfos") or ()), audio_triggers=tuple(d.get("audio_triggers") or ()), netmix=netmix,
                  bends=bends)


def list_presets(search: Path = PRESET_DIR) -> list[Path]:
    return sorted(search.glob("*.json")) if search.is_dir() else []


def check_preset_name(name) -> str:
    """A preset name a person gave (page, OSC): 1..64 letters, digits, spaces, - or _ (spaces
    become -), so it is one file in one folder and nothing else."""
    n = str(name or "").strip()
    if not n or len(n) > 64 or not all(c.isalnum() or c in "-_ " for c in n):
        raise ValueError(f"preset name {n[:40]!r}: use 1..64 letters, digits, spaces, - or _")
    return n.replace(" ", "-")


def save_state_preset(folder: Path, name: str, preset: Preset, values: dict, thumbnail=None) -> Path:
    """The show as it is now as a new preset file `folder/NAME.json` (its keyframes, interpolation,
    mixing, directions and modulation, and every parameter's current value), stored keyframes as
    NAME-kI.npy beside it, and `thumbnail` (an RGB array) as NAME.png.  An existing preset of that
    name is never replaced: FileExistsError.  The file is checked by the same parser `--preset` uses."""
    from .params import NETWORK
    from .safeio import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}.json"
    if final.exists():
        raise FileExistsError(f"a preset named {name!r} exists in {folder}: choose another name")
    keys, arrays = [], {}
    for i, k in enumerate(preset.keyframes):
        if k.seed is not None:
            keys.append({"seed": int(k.seed)} if k.cls is None else {"seed": int(k.seed), "class": k.cls})
        else:
            arrays[f"{name}-k{i}.npy"] = np.asarray(k.w, np.float32)
            keys.append({"w": f"{name}-k{i}.npy"})
    data: dict = {"name": name, "keyframes": keys, "interpolation": preset.interpolation, "easing": preset.easing,
                  "params": {p.name: float(values[p.name]) for p in PARAMS if p.cost != NETWORK and p.name in values}}
    if preset.network:
        data["network"] = preset.network
    src = preset.mix_source
    if preset.mix_keyframe is not None:
        data["mix"] = {"layer": int(values.get("mix_layer", 0)), "source": {"keyframe": preset.mix_keyframe}}
    elif src is not None:
        if src.seed is not None:
            data["mix"] = {"layer": int(values.get("mix_layer", 0)), "source": {"seed": int(src.seed)}}
        else:
            arrays[f"{name}-mix.npy"] = np.asarray(src.w, np.float32)
            data["mix"] = {"layer": int(values.get("mix_layer", 0)), "source": {"w": f"{name}-mix.npy"}}
    if preset.netmix:
        data["netmix"] = {**preset.netmix, "amount": float(values.get("netmix", 0.0))}
    for part in ("directions", "modulation", "lfos", "audio_triggers", "bends"):
        if getattr(preset, part):
            data[part] = [dict(x) if isinstance(x, dict) else x for x in getattr(preset, part)]
    for fname, arr in arrays.items():
        atomic_write(folder / fname, lambda f, arr=arr: np.save(f, arr))
    try:
        parse_preset(json.loads(json.dumps(data)), str(final), base=folder)
    except PresetError:
        for part in ("directions", "modulation", "lfos", "audio_triggers"):   # live state the file form lacks
            data.pop(part, None)
        parse_preset(json.loads(json.dumps(data)), str(final), base=folder)
    tmp = folder / f".{name}.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    try:
        os.link(tmp, final)                   # atomic, and fails if the name was taken meanwhile
    except FileExistsError:
        raise FileExistsError(f"a preset named {name!r} exists in {folder}: choose another name") from None
    finally:
        tmp.unlink(missing_ok=True)
    if thumbnail is not None:
        from PIL import Image

        im = Image.fromarray(np.asarray(thumbnail, np.uint8))
        im.thumbnail((256, 256))
        atomic_write(folder / f"{name}.png", lambda f: im.save(f, format="PNG"))
    return final
