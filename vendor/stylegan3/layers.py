"""The synthesis network's layers, in order, as a performer addresses them (`livegan info` lists
them; model mixing, bending and layer views take their indices): StyleGAN3 and Canvas their layers
(input, L0_..., the last ToRGB); StyleGAN2 each block's conv0, conv1 and torgb."""
from __future__ import annotations


def synthesis_layers(G) -> list[str]:
    """Layer names relative to G.synthesis, in the order the picture is made."""
    syn = G.synthesis
    if getattr(G, "family", "") == "stylegan2":
        return [f"{b}.{c}" for b, block in syn.named_children() for c, _ in block.named_children()]
    return [n for n, m in syn.named_children() if any(True for _ in m.parameters()) or any(True for _ in m.buffers())]


def layer_owner(layers: list[str], key: str) -> str:
    """The layer a synthesis state_dict key belongs to ('b4.const' goes with block b4's first
    layer; a key of no layer returns '')."""
    for name in layers:
        if key == name or key.startswith(name + "."):
            return name
    block = key.split(".", 1)[0]
    return next((n for n in layers if n.split(".", 1)[0] == block), "")


def parse_layers(spec: str, count: int) -> range:
    """'all', 'K' or 'A-B' (inclusive, as `livegan info` numbers them) -> a range of indices."""
    s = str(spec).strip().lower()
    if s in ("", "all"):
        return range(count)
    lo, sep, hi = s.partition("-")
    try:
        a, b = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise ValueError(f"layers {spec!r}: expected all, K or A-B (0..{count - 1})") from None
    if not 0 <= a <= b < count:
        raise ValueError(f"layers {spec!r}: this network has layers 0..{count - 1}")
    return range(a, b + 1)


def layer_channels(G) -> list[int]:
    """Each synthesis layer's output channels, in `synthesis_layers` order (read off the modules:
    the Fourier input its channel count, a layer its bias or, without one, its weight)."""
    out = []
    for name in synthesis_layers(G):
        m = G.synthesis.get_submodule(name)
        if hasattr(m, "channels"):
            out.append(int(m.channels))
        elif getattr(m, "bias", None) is not None and m.bias.ndim == 1:
            out.append(int(m.bias.shape[0]))
        elif getattr(m, "weight", None) is not None:
            out.append(int(m.weight.shape[0]))
        else:
            out.append(int(m.conv.out_channels))
    return out
