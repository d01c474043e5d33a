"""Model mixing: a second network B mixes into the playing one A.  Same architecture (a fine-tune and
its base): the knob `netmix` interpolates the synthesis weights of a layer range between A and B;
the mapping stays A's, so the keyframes keep their ws.  Another architecture (another resolution,
other channel counts): only the layers B shares with A (same name, same shapes: the same layer at
the same resolution) mix; the others stay A's, and so does the output size.

Blended weights are made once per change of the knob, on a loader thread (the newest request wins),
never per frame; the engine takes the blended copy like a hot-swapped network.  netmix 0 is A and 1
is B, bit for bit (torch.lerp is exact at both ends).  What took over at which frame goes into the
control log (apply_netmix), so a render replays it at that frame."""
from __future__ import annotations

import copy
from typing import Callable, Optional

from ..jobs import LatestLoader


def shared_layers(A, B) -> list[bool]:
    """For each of A's synthesis layers: whether B has it, every weight of the same name and shape
    (the same layer at the same resolution).  Networks of another architecture mix only there,
    as Autolume's per-layer A/B choice does; the rest stays A's (so the output size is A's)."""
    from stylegan3.layers import layer_owner, synthesis_layers

    names = synthesis_layers(A)
    sa, sb = A.synthesis.state_dict(), B.synthesis.state_dict()
    ok = {n: True for n in names}
    for k, v in sa.items():
        owner = layer_owner(names, k)
        if owner and (k not in sb or tuple(sb[k].shape) != tuple(v.shape)):
            ok[owner] = False
    return [ok[n] for n in names]


def blend(A, B, amount: float, layers: Optional[range] = None, frame: str = "a"):
    """A copy of A whose synthesis weights in `layers` (indices into synthesis_layers; None: all) are
    lerp(A, B, amount) where B has the same layer (shared_layers); A itself at amount 0.  With
    frame "b" the copy is of B (its layers, its output size; `layers` numbered as B's): the layers
    it shares with A go from A's weights at 0 to B's at 1, the others are B's own."""
    import torch
    from stylegan3.layers import layer_owner, synthesis_layers

    if frame == "b":
        A, B, amount = B, A, 1.0 - float(amount)           # lerp(B, A, 1 - t): exact at both ends
    if amount <= 0.0:
        return A
    names = synthesis_layers(A)
    shared = shared_layers(A, B)
    chosen = {n for i, n in enumerate(names) if shared[i] and (layers is None or i in layers)}
    M = copy.deepcopy(A)
    own, other = M.synthesis.state_dict(), B.synthesis.state_dict()
    with torch.no_grad():
        for k, v in own.items():
            if v.is_floating_point() and layer_owner(names, k) in chosen:
                v.copy_(torch.lerp(v, other[k].to(v.device, v.dtype), float(amount)))
    return M.eval()


class NetMix:
    """The show's model mix: network B, the layers it mixes into, and the amount now rendered.
    `follow(amount)` each tick asks for a new blend when the knob moved; `poll()` hands over finished
    blends for the engine.  While replaying, blends come only from the log (`apply`)."""

    def __init__(self, base, error: Callable[[str, str], None]):
        self.base = base                             # A: the playing network (its mapping and its weights)
        self.error = error
        self.b = None
        self.source = ""                             # where B came from
        self.layers = "all"
        self.frame = "a"                             # whose layers and output size: the playing network's (a) or B's
        self.mapping = "a"                           # whose mapping makes the keyframes' ws: A's (a) or B's (b)
        self.amount = 0.0                            # what the engine renders now
        self.wanted: Optional[tuple] = None          # (source, layers, amount) last asked for
        self.replaying = False
        # Blends and B's loads run off the main thread against the network playing when they were
        # asked for; one that finishes after a network switch was made for the one before (a blend
        # of the old architecture rendered the new network's ws and failed every frame: the picture
        # froze until the next switch).  Results carry the epoch they were asked in.
        self.epoch = 0
        self.blends = LatestLoader("netmix")
        self.loads = LatestLoader("netmix-network")

    @property
    def active(self) -> bool:
        return self.b is not None and (self.amount > 0 or self.frame == "b" or self.mapping == "b")

    def key(self, amount: float) -> tuple:
        return (self.source, self.layers, float(amount), self.frame, self.mapping)

    def state(self) -> Optional[dict]:
        """What the engine renders, for a recording's header (None: A alone)."""
        if not self.active:
            return None
        return {"network": self.source, "layers": self.layers, "amount": self.amount, "frame": self.frame,
                "mapping": self.mapping}

    def mapping_network(self):
        """The network whose mapping the keyframes use now: B (mapping b, B loaded), else None (A's)."""
        return self.b if self.mapping == "b" and self.b is not None else None

    def set_mapping(self, spec: str) -> None:
        """'a': the playing network's mapping makes the keyframes' ws (the default); 'b': B's, when
        it takes the same z, classes and w (one line otherwise)."""
        f = str(spec).strip().lower()
        if f not in ("a", "b"):
            raise ValueError(f"netmix mapping {str(spec)[:20]!r}: a (the playing network's) or b (network B's)")
        if f == "b" and self.b is not None:
            self._check_mapping(self.b)
        self.mapping = f

    def _check_mapping(self, B) -> None:
        A = self.base
        mine = (A.z_dim, int(getattr(A, "c_dim", 0) or 0), A.w_dim, A.num_ws)
        theirs = (B.z_dim, int(getattr(B, "c_dim", 0) or 0), B.w_dim, B.num_ws)
        if mine != theirs:
            raise ValueError(f"netmix mapping b: B's mapping takes z {theirs[0]}, classes {theirs[1]} and gives "
                             f"{theirs[3]}x{theirs[2]} ws; the playing network's {mine[0]}, {mine[1]}, {mine[3]}x{mine[2]}")

    def _frame_net(self):
        return self.b if self.frame == "b" and self.b is not None else self.base

    # -- what controls ask for (main thread) ------------------------------------------------------
    def load(self, source: str, loader: Callable[[str], object]) -> None:
        """Load B (by the caller's load rule) off the main thread; it mixes in once it is there."""
        base = self.base
        self.loads.submit((self.epoch, source), lambda: self._checked(source, loader(source), base))

    def _checked(self, source: str, B, A=None):
        """B of another architecture mixes where it has A's layers; none in common: one line."""
        from stylegan3.layers import synthesis_layers

        A = self.base if A is None else A
        if getattr(B, "w_dim", None) != A.w_dim:
            raise ValueError(f"its w has {getattr(B, 'w_dim', '?')} dimensions, the playing network's {A.w_dim}: "
                             "no layer can take the other's styles")
        shared = shared_layers(A, B)
        if not any(shared):
            raise ValueError("it shares no synthesis layer with the playing network (same name and shapes); "
                             "nothing to mix")
        if not all(shared):
            names = synthesis_layers(A)
            kept = [f"{i} {names[i]}" for i, ok in enumerate(shared) if not ok]
            self.error("netmix", f"netmix {source[-40:]}: another architecture; layers {', '.join(kept)[:120]} "
                                 "stay the playing network's")
        return B

    def set_layers(self, spec: str) -> None:
        from stylegan3.layers import parse_layers, synthesis_layers

        parse_layers(spec, len(synthesis_layers(self._frame_net())))  # a bad range: one line, nothing changes
        self.layers = str(spec).strip().lower() or "all"

    def set_frame(self, spec: str) -> None:
        """'a': the playing network's layers and output size (B mixes into it); 'b': B's (A's
        weights mix into B's shared layers; a larger B gives its larger picture)."""
        f = str(spec).strip().lower()
        if f not in ("a", "b"):
            raise ValueError(f"netmix frame {str(spec)[:20]!r}: a (the playing network's) or b (network B's)")
        self.frame = f
        if self.layers != "all":
            try:
                self.set_layers(self.layers)
            except ValueError:
                self.layers = "all"
                self.error("netmix", f"netmix layers: the range does not fit the {f} frame's network; all layers")

    def follow(self, amount: float) -> None:
        """Each tick: a new blend when the knob, B or the layers changed (the newest request wins)."""
        for (epoch, source), B, err in self.loads.poll():
            if err is None and epoch != self.epoch:     # checked against the network before: again
                try:
                    B = self._checked(source, B)
                except ValueError as e:
                    err = e
            if err is not None:
                self.error("netmix", f"netmix network {source}: {err}")
                continue
            if self.mapping == "b":
                try:
                    self._check_mapping(B)
                except ValueError as e:
                    self.mapping = "a"
                    self.error("netmix", f"{e}; the playing network's mapping stays")
            self.b, self.source = B, source
        if self.replaying or self.b is None:
            return
        key = self.key(amount)
        if key == self.wanted:
            return
        self.wanted = key
        A, B, layers, frame = self.base, self.b, self._range(), self.frame
        self.blends.submit((self.epoch, key), lambda: blend(A, B, key[2], layers, frame))

    def _range(self) -> range:
        from stylegan3.layers import parse_layers, synthesis_layers
        return parse_layers(self.layers, len(synthesis_layers(self._frame_net())))

    def poll(self) -> Optional[tuple]:
        """(network to render, its key) once a blend is ready and no newer one is on its way."""
        done = None
        for (epoch, key), M, err in self.blends.poll():
            if epoch != self.epoch:                     # the network before's blend: never rendered
                continue
            if err is not None:
                self.error("netmix", f"netmix: {type(err).__name__}: {err}")
            else:
                done = (M, key)
        if done is None or self.blends.busy:
            return None
        self.amount = done[1][2]
        return done

    def apply(self, source: str, layers: str, amount: float, loader: Callable[[str], object], frame: str = "a",
              mapping: str = "a"):
        """A logged blend (replay, a recording's header): made here, now, on this thread."""
        if self.b is None or source != self.source:
            self.b, self.source = self._checked(source, loader(source)), source
        self.set_frame(frame)
        self.set_mapping(mapping)
        self.set_layers(layers)
        self.amount = float(amount)
        self.wanted = self.key(amount)
        return blend(self.base, self.b, self.amount, self._range(), self.frame)

    def network_switched(self, G) -> None:
        """A new playing network: B stays if it still fits (the blend is made again), else it goes."""
        self.base, self.wanted, self.amount = G, None, 0.0
        self.epoch += 1
        if self.b is not None and (G.w_dim != self.b.w_dim or not any(shared_layers(G, self.b))):
            self.error("netmix", f"netmix off: {self.source} does not fit the new network")
            self.b, self.source = None, ""

    def hud_line(self) -> Optional[str]:
        if self.b is None:
            return None
        return f"netmix {self.amount:.2f} of {self.source[-40:]} (layers {self.layers}" + \
            (", B's frame" if self.frame == "b" else "") + (", B's mapping" if self.mapping == "b" else "") + ")"
