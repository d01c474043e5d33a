"""The one main loop, for the window and headless alike: `run(app, backend, clock)`.

Each display frame: wait until it is due on the clock (a live clock paces by the wall; a
fixed-step clock never waits, and every frame waits for its own generator frame instead), tick the
show, run the app's triggers, present, and hand the frame to the backend (flip the window, or
read the program into the video).  A failing frame is a HUD line, never the end of the show, and
no collection of the startup objects stalls one (collector.py).
The backends live with their displays: display/headless.py and display/window.py (pyglet only there).
"""
from __future__ import annotations

from typing import Callable, Optional

from .clock import FixedStepClock, LiveClock
from .collector import startup_frozen
from .stop_requests import StopRequests, Stopped


def run(app, backend, clock, frames: Optional[int] = None, seconds: Optional[float] = None,
        on_tick: Optional[Callable] = None) -> dict:
    """Drive `app` (app.py) on `backend` until `frames` frames, `seconds` on the clock, the backend
    stops (a closed window, Esc) or Ctrl-C; then finish the files.  Returns what it did.
    Ctrl-C and SIGTERM are taken between frames (stop_requests.py); the cycle collector walks only
    what the show makes meanwhile, not what existed when it started (collector.py)."""
    with StopRequests() as stops, startup_frozen():
        return _run(app, backend, clock, frames, seconds, on_tick, stops)


def _run(app, backend, clock, frames, seconds, on_tick, stops: StopRequests) -> dict:
    show, fixed = app.show, isinstance(clock, FixedStepClock)
    fps = show.opts.fps
    done, interrupted = 0, None
    try:
        show.start()                                # inside: a Ctrl-C from here on finishes the files
        while frames is None or done < frames:
            stops.take()
            if not fixed:
                backend.pace(done / fps, clock)
            if backend.stopped:
                break
            now = clock.now()
            last = (frames is not None and done == frames - 1) or (seconds is not None and now >= seconds)
            try:
                # A fixed-step frame waits for its own picture; a live one only at the start, if
                # the backend asks (never a black first frame).
                wait = fixed or (backend.wait_first and show.current is None)
                frame = show.tick(now, wait=wait)
                app.triggers(backend.display)
                app.present(backend.display, frame)
            except TimeoutError:
                raise
            except Exception as e:                  # on stage: report in the HUD, keep presenting
                show.error(f"frame:{type(e).__name__}", f"frame failed: {type(e).__name__}: {e}")
            if on_tick is not None:
                on_tick(done, show, backend.display)
            backend.finish(done, last)
            done += 1
            if fixed:
                clock.advance()
            if last:
                break
        stops.take()                                # one that came during the last frame
    except KeyboardInterrupt as e:                  # Ctrl-C, SIGTERM: finish the files, then the summary
        interrupted = e if isinstance(e, Stopped) else Stopped()
    finally:
        stops.finishing()
        app.flush()
        show.stop()
        backend.close()
    return {"frames": done, "interrupted": interrupted is not None,
            "stopped_by": interrupted.why if interrupted else None, "code": interrupted.code if interrupted else 0}


__all__ = ["run", "Stopped", "LiveClock", "FixedStepClock"]
