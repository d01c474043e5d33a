"""Recall: what brings a captured frame back on stage.  A snapshot's state holds its final ws
(truncated and mixed), so the exact frame is a one-keyframe preset of those ws at psi 1 with the
captured transform and effects; for a show already playing the same keyframes, the parameter
messages alone bring the look back."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..params import PARAMS

# Parameters that are the look of a frame (not transport, tempo or display-only view state).
LOOK = ("psi", "truncation_cutoff", "mix_layer", "mix_amount", "rotate", "translate_x", "translate_y", "zoom",
        "noise", "noise_seed", "crossfade", "brightness", "contrast", "saturation", "hue", "feedback", "kaleido")


def preset_snippet(state: dict, name: str, w_file: str) -> dict:
    """A preset that shows exactly this frame: its ws as the one keyframe, psi 1 (the ws are
    already truncated), no mixing on top, the captured transform and effects, standing still."""
    v = state.get("params") or {}
    known = {p.name: p for p in PARAMS}
    effects = {k: float(v[k]) for k in ("crossfade", "brightness", "contrast", "saturation", "hue", "feedback",
                                          "kaleido", "noise") if k in v and k in known}
    return {"name": name, "keyframes": [{"w": w_file}], "speed": 0.0, "psi": 1.0,
            "mix": None, "params": {"mix_layer": known["mix_layer"].hi, "truncation_cutoff": 0},
            "transform": {"rotate": float(v.get("rotate", 0.0)),
                          "translate": [float(v.get("translate_x", 0.0)), float(v.get("translate_y", 0.0))],
                          "zoom": float(v.get("zoom", 1.0))},
            "effects": effects}


def osc_messages(state: dict, preset_name: str) -> dict:
    """{'with_preset': [...], 'on_the_playing_preset': [...]} as (address, type tag, value)."""
    v = state.get("params") or {}
    kinds = {p.name: p.kind for p in PARAMS}
    params = [(f"/livegan/{k}", "i" if kinds[k] == "int" else "f", int(v[k]) if kinds[k] == "int" else float(v[k]))
              for k in LOOK if k in v]
    out = {"with_preset": [("/livegan/preset", "s", preset_name)], "on_the_playing_preset": []}
    if state.get("keyframe") is not None:
        out["on_the_playing_preset"].append(("/livegan/keyframe/goto", "i", int(state["keyframe"])))
    if state.get("seed") is not None:
        out["on_the_playing_preset"].append(("/livegan/seed", "i", int(state["seed"])))
    if state.get("class") is not None:                  # a conditional network's class for that seed
        out["on_the_playing_preset"].append(("/livegan/class", "f", float(state["class"])))
    out["on_the_playing_preset"] += params
    return out


def write_preset(folder: Path, image_id: int, state: dict, ws: np.ndarray) -> str:
    """Write `recall-<id>.json` and its ws beside it into the presets folder; returns the name."""
    from ..safeio import atomic_bytes, atomic_write

    name = f"recall-{int(image_id)}"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{name}.npy", lambda f: np.save(f, np.asarray(ws, np.float32)))
    atomic_bytes(folder / f"{name}.json", (json.dumps(preset_snippet(state, name, f"{name}.npy"), indent=2) + "\n").encode())
    return name


def send(target: str, messages: list[tuple]) -> int:
    """Send (address, tag, value) messages to a running show; returns how many went out.  The
    show's name is looked up once per recall, not once per message (a `.local` name takes a
    multicast lookup each), and a name that does not resolve is one line."""
    import socket

    from pythonosc.udp_client import SimpleUDPClient

    from ..boundary import host_port

    host, port = host_port(target, "--show")
    try:
        address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
    except (OSError, UnicodeError) as e:
        raise ValueError(f"--show {target}: cannot resolve {host!r} ({e})") from None
    c = SimpleUDPClient(address, port)
    for addr, _, value in messages:
        c.send_message(addr, value)
    return len(messages)


def curated_preset(folder: Path, name: str, ws: list[np.ndarray], interpolation: str, frames_per_key: int,
                   loop: bool, psi: float, fps: float = 30.0) -> Path:
    """A preset that plays the curated keyframes: their ws beside it (`<name>.keys/k.npy`), psi 1
    to keep the captured truncation unless told, speed from frames per key at the show's rate."""
    from ..safeio import atomic_bytes, atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    keys_dir = folder / f"{name}.keys"
    keys_dir.mkdir(exist_ok=True)
    frames = []
    for i, w in enumerate(ws):
        atomic_write(keys_dir / f"{i}.npy", lambda f, w=w: np.save(f, np.asarray(w, np.float32)))
        frames.append({"w": f"{name}.keys/{i}.npy"})
    speed = min(4.0, fps / max(1, frames_per_key))
    data = {"name": name, "keyframes": frames, "interpolation": interpolation, "loop": bool(loop),
            "speed": round(speed, 6), "psi": float(psi), "params": {"mix_layer": 32}}
    path = folder / f"{name}.json"
    atomic_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return path


def check_name(name: Optional[str]) -> str:
    n = (name or "").strip()
    if not n or len(n) > 64 or not all(c.isalnum() or c in "-_ " for c in n):
        raise ValueError("a name is 1..64 letters, digits, spaces, - or _")
    return n.replace(" ", "-")
