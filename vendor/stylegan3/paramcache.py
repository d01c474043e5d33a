"""Keys for values made from parameters and kept between frames (a layer's normalised weight, an
affine layer's scaled one): what moves when a parameter is written or replaced."""
from __future__ import annotations

from typing import Optional

import torch


def version_key(*tensors: Optional[torch.Tensor]) -> Optional[tuple]:
    """Each tensor's version, storage, dtype and device (None entries kept as None); None where a
    change cannot be seen: an inference tensor (a network copied or loaded inside inference mode)
    keeps no version, and may be written in place there, so its values are made every time."""
    if any(t is not None and t.is_inference() for t in tensors):
        return None
    return tuple(None if t is None else (t._version, t.data_ptr(), t.dtype, t.device) for t in tensors)
