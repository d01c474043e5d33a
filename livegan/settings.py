"""livegan's numbers from the environment, in one place, each with its range and meaning (the
network package reads its own two the same way: stylegan3.settings).  `check_environment` reads
every one at a command's start, so a bad value is that command's one-line error then, not a
failure at the first network load, download or recording."""
from __future__ import annotations

from typing import Optional

from stylegan3.settings import env_number

FIRST_FRAME_S = 30.0                  # a network about to take over: its first frame, at most
PCA_SAMPLES = 20_000                  # samples a GANSpace direction is fitted from
PCA_MIN_SAMPLES = 64                  # twice the 32 components it keeps


def first_frame_s() -> float:
    return env_number("LIVEGAN_FIRST_FRAME_S", FIRST_FRAME_S, 0.1, 3600,
                      meaning="seconds a network's first frame may take before it takes over")


def threads() -> Optional[int]:
    """LIVEGAN_THREADS: the generator's threads (a script running several commands shares the
    cores out); None: unset."""
    n = env_number("LIVEGAN_THREADS", 0, 1, 256, integer=True, meaning="the generator's threads",
                   unset="the cores minus one")
    return n or None


def encoder_threads() -> int:
    return env_number("LIVEGAN_ENCODER_THREADS", 1, 1, 256, integer=True, meaning="the video encoder's threads")


def gl_threads() -> int:
    """Mesa's own LP_NUM_THREADS (0: the rasteriser in the calling thread), as Mesa takes it."""
    return env_number("LP_NUM_THREADS", 1, 0, 256, integer=True, meaning="software GL's threads")


def pca_samples() -> int:
    return env_number("LIVEGAN_PCA_SAMPLES", PCA_SAMPLES, PCA_MIN_SAMPLES, 10_000_000, integer=True,
                      meaning="samples a GANSpace direction is fitted from")


def check_environment() -> None:
    """Read every setting once: the first bad one is a ValueError naming it."""
    from stylegan3.bounds import max_network_bytes
    from stylegan3.download import download_deadline

    max_network_bytes()
    download_deadline()
    first_frame_s()
    threads()
    encoder_threads()
    gl_threads()
    pca_samples()

