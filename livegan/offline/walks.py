"""Walks for curation: random walks through bounded latent samples, curated walks between chosen
keyframes (seeds or stored snapshots), and tracked video renders of them.

    from livegan import RandomWalk, CustomWalk, VideoManager, sample_latents
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import threading
import time
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from ..latents import classes_for, slerp, z_from_seed
from ..store import Store, network_identity
from ..timeline import catmull_rom


INTERPOLATIONS = ("linear", "slerp", "spline")
SPEC = "walk.npy"                  # a walk's keyframes, beside the spec in its info


def sample_latents(n: int, extent: float = 2.0, dim: int = 512, sobol: float = 0.0, seed: int = 0) -> np.ndarray:
    """n latents [n, dim] from a standard normal bounded to [-extent, extent] (a truncated normal,
    so no sample lands in the tails that give broken images).  `sobol` in [0, 1] is the share of
    samples taken from a scrambled Sobol sequence (scipy.stats.qmc) pushed through the truncated
    normal's inverse CDF: low-discrepancy coverage instead of clumps."""
    from scipy.stats import qmc, truncnorm

    if n < 1 or extent <= 0 or not 0.0 <= sobol <= 1.0:
        raise ValueError("sample_latents needs n >= 1, extent > 0 and 0 <= sobol <= 1")
    rng = np.random.default_rng(seed)
    n_sobol = int(round(n * sobol))
    dist = truncnorm(-extent, extent)
    parts = []
    if n - n_sobol:
        parts.append(dist.rvs(size=(n - n_sobol, dim), random_state=rng))
    if n_sobol:
        u = qmc.Sobol(d=dim, scramble=True, seed=rng).random(n_sobol)
        parts.append(dist.ppf(np.clip(u, 1e-9, 1 - 1e-9)))
    return np.concatenate(parts).astype(np.float32)


class Walk(ABC):
    """Abstract base of latent walks (as the walk service's API has it): keyframe latents (z) or ws,
    interpolated into frames and written into the store.  A concrete walk says what kind of walk
    the store files it as (RandomWalk: 'random', CustomWalk: 'curated')."""

    @property
    @abstractmethod
    def kind(self) -> str:
        """The store's walk kind."""

    cls: float = 0.0                  # a conditional network's class for the z keys (a fraction blends two)

    def __init__(self, keys: Sequence[np.ndarray], frames_per_key: int = 30, space: str = "z",
                 interpolation: str = "linear", loop: bool = False, psi: float = 1.0, name: str = "",
                 steps: Optional[int] = None):
        if len(keys) < 2:
            raise ValueError("a walk needs at least two keyframes")
        if space not in ("z", "w") or interpolation not in INTERPOLATIONS:
            raise ValueError(f"space must be z or w, interpolation one of {', '.join(INTERPOLATIONS)}")
        if not 1 <= int(frames_per_key) <= 10_000:
            raise ValueError("frames per keyframe must be 1..10000")
        self.keys, self.frames_per_key, self.space = [np.asarray(k, np.float32) for k in keys], frames_per_key, space
        self.interpolation, self.loop, self.psi, self.name = interpolation, loop, psi, name
        segs = len(self.keys) if loop else len(self.keys) - 1
        if steps is not None and not (1 if loop else 2) <= int(steps) <= 1_000_000:
            raise ValueError(f"steps must be {1 if loop else 2}..1000000 frames")
        # Exactly `steps` frames when given (keys spread evenly over them, the last frame on the
        # last key); else frames_per_key per transition.
        self.total = int(steps) if steps is not None else segs * self.frames_per_key + (0 if loop else 1)
        self._span = (segs, self.total if loop else self.total - 1)     # frame i is at key i*segs/frames

    def __len__(self) -> int:
        return self.total

    def mapped_keys(self, G) -> list[np.ndarray]:
        """The keyframes as [num_ws, w_dim] ws (z keys mapped once at the walk's psi)."""
        import torch

        if self.space == "z":
            dev = next(G.parameters()).device
            with torch.inference_mode():
                return [G.mapping(torch.from_numpy(k.reshape(1, -1)).to(dev), classes_for(G, 1, self.cls),
                                  truncation_psi=self.psi)[0].float().cpu().numpy() for k in self.keys]
        return [np.broadcast_to(k, (G.num_ws, G.w_dim)) if k.ndim == 1 else k for k in self.keys]

    def w_at(self, keys: list[np.ndarray], i: int) -> np.ndarray:
        """Frame i's ws from the mapped keys (linear, slerp per layer, or Catmull-Rom)."""
        n = len(keys)
        segs, span = self._span                       # integer arithmetic: keys land exactly
        k, t = divmod(i * segs, span)
        t = t / span
        if not self.loop and k >= n - 1:
            k, t = n - 2, 1.0
        a, b = keys[k % n], keys[(k + 1) % n]
        if self.interpolation == "spline":
            p0 = keys[(k - 1) % n] if (self.loop or k > 0) else a
            p3 = keys[(k + 2) % n] if (self.loop or k + 2 < n) else b
            return catmull_rom(p0, a, b, p3, t).astype(np.float32)
        if self.interpolation == "slerp":               # per layer: directions on the sphere
            return np.stack([slerp(a[j], b[j], t) for j in range(a.shape[0])]).astype(np.float32)
        return (a + (b - a) * t).astype(np.float32)

    def ws(self, G) -> Iterator[np.ndarray]:
        """[num_ws, w_dim] for every frame."""
        keys = self.mapped_keys(G)
        for i in range(len(self)):
            yield self.w_at(keys, i)

    def frames(self, G, batch: int = 4) -> Iterator[np.ndarray]:
        """HWC uint8 images."""
        import torch

        from ..imaging import to_uint8

        buf = []
        dev = next(G.parameters()).device
        for w in self.ws(G):
            buf.append(w)
            if len(buf) == batch:
                with torch.inference_mode():
                    yield from to_uint8(G.synthesis(torch.from_numpy(np.stack(buf)).to(dev)))
                buf = []
        if buf:
            with torch.inference_mode():
                yield from to_uint8(G.synthesis(torch.from_numpy(np.stack(buf)).to(dev)))

    def spec(self) -> dict:
        return {"space": self.space, "frames_per_key": self.frames_per_key, "interpolation": self.interpolation,
                "loop": self.loop, "psi": self.psi, "frames": len(self), "steps": len(self)}

    def save_spec(self, store: Store, walk_id: int) -> None:
        """Keep what makes this walk in its walk folder (keys) and row (spec), so it can be loaded
        again (`walk_from_store`) by the walk service or rendered later."""
        from ..safeio import atomic_write

        atomic_write(store.walk_dir(walk_id) / SPEC, lambda f: np.save(f, np.stack(self.keys)))
        info = dict(store.walk(walk_id)["info"] or {})
        info["spec"] = self.spec()
        store.set_walk(walk_id, info=info)

    def save(self, store: Store, G, network: str, every: int = 1) -> int:
        """Write the walk's frames (every n-th) into a new walk of the store; returns its id."""
        from ..imaging import save_png

        wid = store.create_walk(self.kind, self.name or f"{self.kind} walk", network=network,
                                network_hash=network_identity(network), status="rendering",
                                info={"frames": len(self), "psi": self.psi, "space": self.space})
        from ..safeio import atomic_write

        folder = store.walk_dir(wid)
        try:
            self.save_spec(store, wid)           # loadable by the walk service, renderable later
            for i, (img, w) in enumerate(zip(self.frames(G), self.ws(G))):
                if i % every:
                    continue
                name = f"frame-{i:05d}.png"
                atomic_write(folder / f"frame-{i:05d}.npy", lambda f: np.save(f, w))
                save_png(folder / name, img)
                store.add_image(wid, name, "frame", i, {"ws": f"frame-{i:05d}.npy", "psi": self.psi})
        except BaseException as e:
            try:
                store.set_walk(wid, status="failed", info={"frames": len(self), "error": f"{type(e).__name__}: {e}"})
            except Exception:
                pass                      # the store itself failed: repair marks it at next open
            raise
        store.set_walk(wid, status="done")
        return wid


class RandomWalk(Walk):
    """A walk through `keyframes` bounded random latents (see sample_latents)."""

    kind = "random"

    def __init__(self, z_dim: int, keyframes: int = 4, steps: int = 120, extent: float = 1.5,
                 sobol: float = 0.0, seed: int = 0, **kw):
        z = sample_latents(keyframes, extent, z_dim, sobol, seed)
        per = max(1, round(steps / (keyframes - 1 if not kw.get("loop") else keyframes)))
        super().__init__(list(z), per, "z", steps=steps, **kw)


class CustomWalk(Walk):
    """A curated walk between chosen keyframes: seeds (ints) or stored snapshots/frames
    (("image", id)) whose ws the store kept."""

    kind = "curated"

    def __init__(self, keyframes: Sequence[Union[int, tuple]], z_dim: int, store: Optional[Store] = None,
                 frames_per_key: int = 30, **kw):
        keys, space = [], None
        for k in keyframes:
            if isinstance(k, tuple) and k[0] == "image":
                if store is None:
                    raise ValueError("image keyframes need the store")
                row = store.image(int(k[1]))
                if row is None or "ws" not in row["state"]:
                    raise ValueError(f"image {k[1]}: not in the store or has no ws")
                keys.append(np.load(store.outdir / str(row["walk_id"]) / row["state"]["ws"]))
                s = "w"
            else:
                keys.append(z_from_seed(int(k), z_dim)[0])
                s = "z"
            if space not in (None, s):
                raise ValueError("mix of seeds and stored ws: use one kind of keyframe per walk")
            space = s
        super().__init__(keys, frames_per_key, space or "z", **kw)


class StoredWalk(Walk):
    """A walk loaded back from the store (see `Walk.save_spec`)."""

    def __init__(self, kind: str, *a, **kw):
        self._kind = kind
        super().__init__(*a, **kw)

    @property
    def kind(self) -> str:
        return self._kind


def walk_from_store(store: Store, walk_id: int) -> Walk:
    from ..safeio import read_regular

    row = store.walk(walk_id)
    if row is None:
        raise KeyError(f"no walk {walk_id}")
    spec = (row["info"] or {}).get("spec")
    if not spec:
        how = ("a recording: render it with `livegan render ID`" if row["kind"] == "recording" else
               "a live session's snapshots: curate them into a walk" if row["kind"] == "session" else
               "made before walks kept their keyframes")
        raise ValueError(f"walk {walk_id} keeps no keyframes ({how})")
    import io
    keys = np.load(io.BytesIO(read_regular(store.walk_dir(walk_id) / SPEC, 256 << 20, "walk keyframes")),
                   allow_pickle=False)
    return StoredWalk(row["kind"], list(keys), spec["frames_per_key"], spec["space"], spec["interpolation"],
                      spec["loop"], spec["psi"], row["name"], steps=spec.get("steps"))


class Cancelled(Exception):
    pass


class QueueFull(RuntimeError):
    """Too many renders waiting: refused, never queued without bound."""


class VideoManager:
    """Renders walks to video as tracked jobs: queued -> rendering (with progress) -> done, or
    failed with the reason ('cancelled' when the user cancelled).  One worker thread; state lives
    in the store's renders table, so another process (the gallery) can follow it.  A walk being
    rendered is owned by this process: if it dies, the store marks the job failed at next open."""

    def __init__(self, store: Store, G, network: str):
        import queue

        self.store, self.G, self.network = store, G, network
        self._q: "queue.Queue" = queue.Queue()
        self._cancelled: set = set()
        self._thread = threading.Thread(target=self._work, name="livegan-render", daemon=True)
        self._thread.start()

    MAX_WAITING = 8                    # jobs queued or rendering at once; more are refused

    def submit(self, walk: Walk, fps: float = 30.0, name: Optional[str] = None, walk_id: Optional[int] = None) -> int:
        """Queue a render of `walk` into a new curated walk (or into `walk_id`'s folder), as
        `name` or, by default, walk-<id>-render-<job>.webm (never another job's file).  QueueFull
        when MAX_WAITING jobs already wait."""
        waiting = sum(1 for r in self.store.renders() if r["status"] in ("queued", "rendering"))
        if waiting >= self.MAX_WAITING:
            raise QueueFull(f"{waiting} renders already waiting (at most {self.MAX_WAITING}); "
                            "cancel one or wait for it")
        if walk_id is None:
            walk_id = self.store.create_walk("curated", walk.name or "curated walk", network=self.network,
                                             network_hash=network_identity(self.network), status="queued")
            walk.save_spec(self.store, walk_id)
        else:
            self.store.set_walk(walk_id, status="queued")
        rid = self.store.add_render(walk_id, {"fps": fps, "frames": len(walk), "name": name})
        name = name or f"walk-{walk_id}-render-{rid}.webm"
        self._q.put((rid, walk_id, walk, fps, name))
        return rid

    def cancel(self, render_id: int) -> bool:
        """Stop a queued or running job; False if it already ended."""
        r = self.store.render(render_id)
        if r is None:
            raise KeyError(f"no render job {render_id}")
        if r["status"] in ("done", "failed"):
            return False
        self._cancelled.add(render_id)
        return True

    def status(self, render_id: int) -> dict:
        return self.store.render(render_id)

    def wait(self, render_id: int, timeout: float = 600.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self.store.render(render_id)
            if r["status"] in ("done", "failed"):
                return r
            time.sleep(0.05)
        raise TimeoutError(f"render {render_id} still {r['status']} after {timeout:.0f} s")

    def _work(self) -> None:
        from ..media import write_video

        while True:
            rid, wid, walk, fps, name = self._q.get()
            path = self.store.walk_dir(wid) / name
            total = len(walk)
            try:
                if rid in self._cancelled:
                    raise Cancelled()
                self.store.update_render(rid, status="rendering", progress=0.0)

                def frames():
                    for i, f in enumerate(walk.frames(self.G)):
                        if rid in self._cancelled:
                            raise Cancelled()
                        if i % 8 == 0:
                            self.store.update_render(rid, progress=i / total)
                        yield f
                write_video(path, frames(), fps)
                self.store.update_render(rid, status="done", progress=1.0, path=f"{wid}/{name}")
                self.store.set_walk(wid, status="done")
            except Cancelled:
                self.store.update_render(rid, status="failed", error="cancelled")
                self.store.set_walk(wid, status="failed")
            except Exception as e:
                self.store.update_render(rid, status="failed", error=f"{type(e).__name__}: {e}")
                self.store.set_walk(wid, status="failed")
            finally:
                self._cancelled.discard(rid)
