"""ALSA's library writes its own errors to stderr, past Python: with `--midi` and no sequencer
(`/dev/snd/seq`), 'ALSA lib seq_hw.c:466:(snd_seq_hw_open) open /dev/snd/seq failed' every 2 s
for the whole show as the MIDI watcher tries again, and PortAudio's probe of every PCM at the
first audio device listing.  livegan says each of these itself, once, in its own words; ALSA's
error handler is set to drop them (LIVEGAN_DEBUG=1 keeps them).  Installed once per process, and
taken out at exit, before the interpreter that runs the handler goes."""
from __future__ import annotations

import functools
import os


@functools.lru_cache(maxsize=1)
def quiet_alsa() -> bool:
    """Whether ALSA's messages are dropped from now on (False: no libasound, or debugging)."""
    import atexit
    import ctypes
    import ctypes.util

    if os.environ.get("LIVEGAN_DEBUG"):
        return False
    name = ctypes.util.find_library("asound")
    if name is None:
        return False
    try:
        lib = ctypes.CDLL(name)
        setter = lib.snd_lib_error_set_handler
    except (OSError, AttributeError):
        return False
    # void handler(const char *file, int line, const char *function, int err, const char *fmt, ...):
    # the variadic rest is ignored, as a callee may on every ABI Linux runs on
    kind = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
    handler = kind(lambda *args: None)
    setter.argtypes = [kind]
    setter(handler)
    atexit.register(_restore, setter, kind, handler)     # the handler object lives as long as this
    return True


def _restore(setter, kind, handler) -> None:
    setter(kind())                                        # NULL: ALSA's own default again
