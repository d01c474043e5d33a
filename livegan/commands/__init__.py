"""The `livegan` commands, one module each; each registers its own parser (`register(sub)`) and
runs as `run(args)`.  `main` is `livegan`, `perform_main` is `perform.py`."""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from . import dataset, directions, gallery, generate, morph, networks, perform, project, render, train, walk
from .options import Parser


MODULES = (generate, morph, networks, render, walk, directions, gallery, dataset, train, project, perform)


def build_parser() -> Parser:
    ap = Parser(prog="livegan", description="Real-time StyleGAN visualiser: tools.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for m in MODULES:
        m.register(sub)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    return _run(build_parser().parse_args(argv), "livegan")


def perform_main(argv: Optional[Sequence[str]] = None) -> int:
    """`perform.py`: the show's own command line (its --help names perform.py)."""
    p = Parser(prog="perform.py", description="livegan: play a StyleGAN network live.")
    perform.add_perform_args(p)
    p.set_defaults(func=perform.run, cmd="perform")
    return _run(p.parse_args(argv), "perform.py")


def _run(args, prog: str) -> int:
    from ..engine.devices import keep_freed_memory

    keep_freed_memory()
    from ..console import guarded_streams

    with guarded_streams():                            # a console that went away never stops a command
        return _run_guarded(args, prog)


def _run_guarded(args, prog: str) -> int:
    restore = _stop_signals() if getattr(args, "cmd", None) == "perform" else {}
    try:
        from ..settings import check_environment
        check_environment()                                # a bad LIVEGAN_* number: this command's one line
        if getattr(args, "cmd", None) != "perform":       # the show plans its own threads (with the encoder's)
            from ..engine import threads
            threads.apply(threads.plan(getattr(args, "threads", 0) or None))
        return args.func(args)
    except Exception as e:          # every failure is one line; LIVEGAN_DEBUG=1 shows the traceback
        import os
        if os.environ.get("LIVEGAN_DEBUG"):
            raise
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        kind = "" if isinstance(e, (ValueError, OSError, RuntimeError)) else f"{type(e).__name__}: "
        where = prog if prog == "perform.py" else f"{prog} {args.cmd}"
        from ..console import printable
        print(printable(f"{where}: error: {kind}{msg}", sys.stderr), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:                     # Ctrl-C (130), SIGTERM (143: stop_requests.Stopped)
        return getattr(e, "code", 130)
    finally:
        _restore(restore)


def _stop_signals() -> dict:
    """A show stops cleanly (its files finished, its summary said) on Ctrl-C, SIGINT and SIGTERM,
    even when started where SIGINT is ignored (a background job of a script, some launchers) or
    stopped by a service manager (SIGTERM); `kill -USR1 PID` prints every thread's stack, so a
    show that seems stuck says where.  A hang-up (the terminal closed, the SSH session it ran in
    dropped) is not a stop: the picture on the projector goes on, its console lines to /dev/null
    (console.guarded_streams); stop it from the window, OSC, the page or with SIGTERM.  Returns what
    to put back (in-process callers, tests)."""
    import faulthandler
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, frame):
        from ..stop_requests import Stopped
        raise Stopped("SIGTERM", 143)

    before = {}
    def hung_up(signum, frame):
        pass

    for name, handler in (("SIGINT", signal.default_int_handler), ("SIGTERM", stop), ("SIGHUP", hung_up)):
        sig = getattr(signal, name, None)
        if sig is not None:
            before[sig] = signal.signal(sig, handler)
    if hasattr(signal, "SIGUSR1"):
        try:
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
            before["usr1"] = True
        except (AttributeError, OSError, ValueError):      # no real stderr to write to
            pass
    return before


def _restore(before: dict) -> None:
    import faulthandler
    import signal

    for sig, handler in before.items():
        if sig == "usr1":
            faulthandler.unregister(signal.SIGUSR1)
        elif handler is not None:
            signal.signal(sig, handler)
