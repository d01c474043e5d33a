"""The timeline: a pure function of (preset, parameters, position) -> what to render.

No clocks, no randomness: the same inputs give the same request, which is what makes look-ahead
batching and exact replay possible.  Mapping runs once per keyframe (cached in `KeyframeBank`);
truncation is applied in W, so a psi change never reruns mapping; style mixing replaces ws[k:].
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .latents import class_vector, slerp, smoothstep, z_from_seed
from .params import FrameParams
from .presets import Keyframe, Preset


@dataclass(frozen=True)
class FrameRequest:
    frame: int                  # display frame this is meant for
    generation: int             # bumps on every discrete change; older frames are stale
    ws: np.ndarray              # [num_ws, w_dim] float32, truncated and mixed
    transform: np.ndarray       # [3, 3] float32, StyleGAN3 input transform (inverse user transform)
    keyframe: int
    position: float
    noise: float = 1.0
    noise_seed: int = 0         # StyleGAN2: 0 the stored noise, N the noise of seed N
    noise_layers: tuple = ()    # StyleGAN2: each noisy layer's own strength (times noise); () all 1
    cond: object = None         # StyleGAN-Canvas: the condition frame (conditions.CondFrame)
    cond_prep: tuple = ()       # (cond_mode, cond_blur, cond_ws) of this frame
    bends: tuple = ()           # network bending: (BendSpec, amount) of each slot not at 0
    view: tuple = ()            # layer view: (layer, channel, mode, gain, fft, to program), () off


class KeyframeBank:
    """Untruncated ws for keyframes and mix sources, mapped once and cached.

    `mapper(z [1, z_dim] float32, c [1, c_dim] float32 or None) -> ws [num_ws, w_dim]` is the
    network's mapping (psi 1).  A conditional network's seed keyframe is mapped with its own class,
    or else with `cls` (the `class` parameter): each (seed, class) once."""

    MAX_BYTES = 64 << 20               # mapped keyframes kept; the least recently used go first

    def __init__(self, mapper, z_dim: int, num_ws: int, w_dim: int, w_avg: np.ndarray, c_dim: int = 0):
        from collections import OrderedDict

        self.mapper, self.z_dim, self.num_ws, self.w_dim, self.c_dim = mapper, z_dim, num_ws, w_dim, c_dim
        self.w_avg = np.asarray(w_avg, np.float64)
        self._cache: "OrderedDict" = OrderedDict()
        self._bytes = 0

    def class_of(self, k: Keyframe, cls: float) -> float:
        """The class a keyframe is mapped with (0 for an unconditional network)."""
        if not self.c_dim:
            return 0.0
        return min(max(float(k.cls if k.cls is not None else cls), 0.0), float(self.c_dim - 1))

    def ws(self, k: Keyframe, cls: float = 0.0) -> np.ndarray:
        # A stored w is known by its content: two keyframes from one file name (or none) differ.
        key = ("seed", k.seed, self.class_of(k, cls)) if k.seed is not None else \
            ("w", hashlib.blake2b(np.ascontiguousarray(k.w).tobytes(), digest_size=16).digest())
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            if k.seed is not None:
                w = self.map_z(z_from_seed(k.seed, self.z_dim), class_vector(self.c_dim, key[2]))
            else:
                w = np.asarray(k.w, np.float64)
                if w.ndim == 1:
                    w = np.broadcast_to(w, (self.num_ws, w.shape[0]))
                if w.shape != (self.num_ws, self.w_dim):
                    raise ValueError(f"{k.w_file}: w has shape {list(w.shape)}, this network needs "
                                     f"[{self.w_dim}] or [{self.num_ws}, {self.w_dim}]")
            self._cache[key] = np.array(w, np.float64)
            self._bytes += self._cache[key].nbytes
            # Bounded in bytes (a stream of /livegan/seed would grow it for ever); an evicted key
            # is mapped again if it comes back, with the same result.
            while self._bytes > self.MAX_BYTES and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._bytes -= old.nbytes
        return self._cache[key]

    def map_z(self, z: np.ndarray, c=None) -> np.ndarray:
        """`c`: [1, c_dim] for a conditional network (class 0 when not given)."""
        if self.c_dim and c is None:
            c = class_vector(self.c_dim, 0.0)
        return np.asarray(self.mapper(np.asarray(z, np.float32).reshape(1, -1), c),
                          np.float64).reshape(self.num_ws, self.w_dim)


def ease(t: float, kind: str) -> float:
    if kind == "smoothstep":
        return smoothstep(t)
    if kind == "sine":
        return 0.5 - 0.5 * math.cos(math.pi * t)
    return t


def catmull_rom(p0, p1, p2, p3, t: float):
    """Uniform Catmull-Rom between p1 (t=0) and p2 (t=1): C1 across segments."""
    t2, t3 = t * t, t * t * t
    return 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)


def segment(position: float, n: int, loop: bool) -> tuple[int, float]:
    """(keyframe index k, fraction t towards k+1) for a position."""
    if n == 1:
        return 0, 0.0
    if loop:
        position = position % n
    else:
        position = min(max(position, 0.0), n - 1.0)
        if position == n - 1.0:
            return n - 2, 1.0
    k = int(math.floor(position))
    return k, position - k


def input_transform(rotate_deg: float, tx: float, ty: float, zoom: float) -> np.ndarray:
    """The value for StyleGAN3's `synthesis.input.transform`: the inverse of the user transform
    (rotation, then translation, as the official tools build it; zoom scales the view)."""
    a = math.radians(rotate_deg)
    m = np.array([[math.cos(a), math.sin(a), tx], [-math.sin(a), math.cos(a), ty], [0.0, 0.0, 1.0]])
    m[:2, :2] *= zoom
    return np.linalg.inv(m).astype(np.float32)


def interpolate(preset: Preset, bank: KeyframeBank, position: float, loop: bool,
                cls: float = 0.0) -> tuple[np.ndarray, int]:
    """Untruncated ws at a position, and the keyframe index it is leaving (`cls`: the class of
    keyframes without their own, for a conditional network)."""
    keys = preset.keyframes
    n = len(keys)
    k, t = segment(position, n, loop)
    if n == 1:
        return bank.ws(keys[0], cls), 0
    nxt = (k + 1) % n
    te = ease(t, preset.easing)
    if preset.interpolation == "linear":
        a, b = bank.ws(keys[k], cls), bank.ws(keys[nxt], cls)
        return a + (b - a) * te, k
    if preset.interpolation == "slerp" and (keys[k].seed is None or keys[nxt].seed is None):
        # A stored w has no z: slerp in W instead, per layer, around the average w (W's centre,
        # where truncation pulls), so the path keeps its distance from it as Z's slerp does.
        a, b = bank.ws(keys[k], cls), bank.ws(keys[nxt], cls)
        if te in (0.0, 1.0):
            return (a if te == 0.0 else b), k
        c = bank.w_avg
        return np.stack([c + slerp(a[i] - c, b[i] - c, te) for i in range(a.shape[0])]), k
    if preset.interpolation == "slerp":
        if te == 0.0:
            return bank.ws(keys[k], cls), k
        if te == 1.0:
            return bank.ws(keys[nxt], cls), k
        z = slerp(z_from_seed(keys[k].seed, bank.z_dim), z_from_seed(keys[nxt].seed, bank.z_dim), te)
        c = None
        if bank.c_dim:                              # the class travels with the keyframes, as z does
            ca, cb = (class_vector(bank.c_dim, bank.class_of(keys[i], cls)) for i in (k, nxt))
            c = ca + (cb - ca) * np.float32(te)
        return bank.map_z(z, c), k
    # spline: neighbours wrap when looping, repeat at the ends otherwise
    idx = [(k - 1) % n if loop else max(k - 1, 0), k, nxt, (k + 2) % n if loop else min(k + 2, n - 1)]
    p = [bank.ws(keys[i], cls) for i in idx]
    return catmull_rom(*p, te), k


def pad_blend(preset: Preset, bank: KeyframeBank, x: float, y: float, cls: float = 0.0) -> tuple[np.ndarray, int]:
    """The latent pad: keyframes 0, 1 on its top corners and 2, 3 on the bottom ones (a preset
    with fewer repeats them), blended bilinearly in W as NVIDIA's visualizer blends its seeds;
    the keyframe reported is the nearest corner."""
    keys = preset.keyframes
    x, y = min(max(float(x), 0.0), 1.0), min(max(float(y), 0.0), 1.0)
    weights = ((1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y)
    ws = sum(w * bank.ws(keys[i % len(keys)], cls) for i, w in enumerate(weights) if w)
    return np.asarray(ws, np.float32), int(np.argmax(weights)) % len(keys)


def frame_request(preset: Preset, params: FrameParams, position: float, bank: KeyframeBank,
                  frame: int = 0, generation: int = 0, slots: tuple = (), bends=None,
                  layers: int = 0, mirror: Optional[tuple] = None) -> FrameRequest:
    """What to render at `position` with `params`: the pure heart of the show.  `slots`: the
    direction knobs; `bends`: the bend slots (instrument/bends.py), or None; `layers`: how many
    synthesis layers a layer view may choose from; `mirror`: (ws, amount) the live mirror pulls
    toward (instrument/mirror.py), or None."""
    loop = bool(params.loop)
    cls = params.values.get("class", 0.0)
    if params.pad:
        ws, k = pad_blend(preset, bank, params.pad_x, params.pad_y, cls)
    else:
        ws, k = interpolate(preset, bank, position, loop, cls)
    psi = params.psi
    cutoff = int(params.truncation_cutoff) or bank.num_ws
    out = ws.copy()
    out[:cutoff] = bank.w_avg + psi * (ws[:cutoff] - bank.w_avg)
    mix_layer = int(params.mix_layer)
    if mix_layer < bank.num_ws and (preset.mix_source is not None or preset.mix_keyframe is not None):
        src = preset.mix_source if preset.mix_source is not None else preset.keyframes[preset.mix_keyframe]
        m = bank.ws(src, cls).copy()
        m[:cutoff] = bank.w_avg + psi * (m[:cutoff] - bank.w_avg)
        a = params.mix_amount
        out[mix_layer:] = out[mix_layer:] + (m[mix_layer:] - out[mix_layer:]) * a
    if mirror is not None:                          # the live mirror: toward the encoded picture
        m, a = mirror
        out = out + (m - out) * np.float32(a)
    if slots:                                       # direction knobs, in W after truncation and mixing
        from .directions.slots import apply_slots
        out = apply_slots(out, slots, params.values)
    tf = input_transform(params.rotate, params.translate_x, params.translate_y, params.zoom)
    return FrameRequest(frame=frame, generation=generation, ws=out.astype(np.float32), transform=tf,
                        keyframe=k, position=position, noise=params.noise,
                        noise_seed=int(params.values.get("noise_seed", 0)),
                        noise_layers=noise_layers(params.values),
                        cond_prep=(int(params.cond_mode), float(params.cond_blur), int(params.cond_ws)),
                        bends=bends.active(params.values) if bends is not None else (),
                        view=view_request(params.values, layers))


def noise_layers(values) -> tuple:
    """The per-layer noise strengths (noise/K), or () when every one is 1 (the common case)."""
    from .params import MAX_NOISE_LAYERS

    g = tuple(float(values.get(f"noise/{k}", 1.0)) for k in range(MAX_NOISE_LAYERS))
    return () if all(v == 1.0 for v in g) else g


def view_request(values, layers: int) -> tuple:
    """The layer view a frame carries: () when off; the layer clamped to the network's own."""
    layer = int(values.get("layer_view", -1))
    if layer < 0 or layers <= 0:
        return ()
    return (min(layer, layers - 1), int(values["layer_channel"]), int(values["layer_mode"]),
            float(values["layer_gain"]), bool(values["layer_fft"]), bool(values["layer_program"]))
