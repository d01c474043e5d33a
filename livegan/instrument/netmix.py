"""Model mixing: a second network B mixes into the playing one A.  Same architecture (a fine-tune and
its base): the knob `netmix` interpolates the synthesis weights of a layer range between A and B;
the mapping stays A's, so the keyframes keep their ws.

Blended weights are made once per change of the knob, on a loader thread (the newest request wins),
never per frame; the engine takes the blended copy like a hot-swapped network.  netmix 0 is A and 1
is B, bit for bit (torch.lerp is exact at both ends).  What took over at which frame goes into the
control log (apply_netmix), so a render replays it at that frame."""
from __future__ import annotations

import copy
from typing import Callable, Optional

from ..jobs import LatestLoader


def same_synthesis(A, B) -> Optional[str]:
    """None when B's synthesis has A's parameters and shapes; else what differs (one line)."""
    sa, sb = A.synthesis.state_dict(), B.synthesis.state_dict()
    if set(sa) != set(sb):
        k = sorted(set(sa) ^ set(sb))[0]
        return f"its synthesis has other layers than the playing network's (first difference: {k})"
    for k, v in sa.items():
        if tuple(v.shape) != tuple(sb[k].shape):
            return f"its synthesis differs in shape at {k} ({list(sb[k].shape)} against {list(v.shape)})"
    return None


def blend(A, B, amount: float, layers: Optional[range] = None):
    """A copy of A whose synthesis weights in `layers` (indices into synthesis_layers; None: all) are
    lerp(A, B, amount); A itself at amount 0."""
    import torch
    from stylegan3.layers import layer_owner, synthesis_layers

    if amount <= 0.0:
        return A
    names = synthesis_layers(A)
    chosen = set(names if layers is None else (names[i] for i in layers))
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
        self.amount = 0.0                            # what the engine renders now
        self.wanted: Optional[tuple] = None          # (source, layers, amount) last asked for
        self.replaying = False
        self.blends = LatestLoader("netmix")
        self.loads = LatestLoader("netmix-network")

    @property
    def active(self) -> bool:
        return self.b is not None and self.amount > 0

    def key(self, amount: float) -> tuple:
        return (self.source, self.layers, float(amount))

    def state(self) -> Optional[dict]:
        """What the engine renders, for a recording's header (None: A alone)."""
        if not self.active:
            return None
        return {"network": self.source, "layers": self.layers, "amount": self.amount}

    # -- what controls ask for (main thread) ------------------------------------------------------
    def load(self, source: str, loader: Callable[[str], object]) -> None:
        """Load B (by the caller's load rule) off the main thread; it mixes in once it is there."""
        self.loads.submit(source, lambda: self._checked(source, loader(source)))

    def _checked(self, source: str, B):
        why = same_synthesis(self.base, B)
        if why:
            raise ValueError(f"{why}; netmix mixes networks of one architecture")
        return B

    def set_layers(self, spec: str) -> None:
        from stylegan3.layers import parse_layers, synthesis_layers

        parse_layers(spec, len(synthesis_layers(self.base)))         # a bad range: one line, nothing changes
        self.layers = str(spec).strip().lower() or "all"

    def follow(self, amount: float) -> None:
        """Each tick: a new blend when the knob, B or the layers changed (the newest request wins)."""
        for source, B, err in self.loads.poll():
            if err is not None:
                self.error("netmix", f"netmix network {source}: {err}")
                continue
            self.b, self.source = B, source
        if self.replaying or self.b is None:
            return
        key = self.key(amount)
        if key == self.wanted:
            return
        self.wanted = key
        A, B, layers = self.base, self.b, self._range()
        self.blends.submit(key, lambda: blend(A, B, key[2], layers))

    def _range(self) -> range:
        from stylegan3.layers import parse_layers, synthesis_layers
        return parse_layers(self.layers, len(synthesis_layers(self.base)))

    def poll(self) -> Optional[tuple]:
        """(network to render, its key) once a blend is ready and no newer one is on its way."""
        done = None
        for key, M, err in self.blends.poll():
            if err is not None:
                self.error("netmix", f"netmix: {type(err).__name__}: {err}")
            else:
                done = (M, key)
        if done is None or self.blends.busy:
            return None
        self.amount = done[1][2]
        return done

    def apply(self, source: str, layers: str, amount: float, loader: Callable[[str], object]):
        """A logged blend (replay, a recording's header): made here, now, on this thread."""
        if self.b is None or source != self.source:
            self.b, self.source = self._checked(source, loader(source)), source
        self.set_layers(layers)
        self.amount = float(amount)
        self.wanted = self.key(amount)
        return blend(self.base, self.b, self.amount, self._range())

    def network_switched(self, G) -> None:
        """A new playing network: B stays if it still fits (the blend is made again), else it goes."""
        self.base, self.wanted, self.amount = G, None, 0.0
        if self.b is not None and same_synthesis(G, self.b):
            self.error("netmix", f"netmix off: {self.source} does not fit the new network")
            self.b, self.source = None, ""

    def hud_line(self) -> Optional[str]:
        if self.b is None:
            return None
        return f"netmix {self.amount:.2f} of {self.source[-40:]} (layers {self.layers})"
