"""Ctrl-C and SIGTERM end a show between frames, never inside one (the class: a KeyboardInterrupt
landing inside a queue put to the recorder once left the encoder unwoken and the show hung at the
join).  Real signals, raised in this process at a chosen point of a frame."""
import signal
from types import SimpleNamespace

import pytest

from livegan import stop_requests
from livegan.loop import FixedStepClock, run


class Show:
    def __init__(self, during=None):
        self.opts = SimpleNamespace(fps=30.0)
        self.current, self.during = None, during or {}
        self.ticks, self.completed, self.stopped, self.errors = 0, [], False, []

    def start(self):
        pass

    def tick(self, now, wait=False):
        i = self.ticks
        self.ticks += 1
        for sig in self.during.get(i, ()):
            signal.raise_signal(sig)            # handled before raise_signal returns to this frame
        self.completed.append(i)                # what an interrupted frame never reaches
        return i

    def error(self, key, line):
        self.errors.append(line)

    def stop(self):
        self.stopped = True


class App:
    def __init__(self, show, at_flush=()):
        self.show, self.at_flush, self.flushed = show, at_flush, False

    def triggers(self, display):
        pass

    def present(self, display, frame):
        pass

    def flush(self):
        for sig in self.at_flush:
            signal.raise_signal(sig)
        self.flushed = True                     # the files are finished whatever came meanwhile


class Backend:
    stopped, wait_first, display = False, False, None

    def __init__(self):
        self.finished, self.closed = [], False

    def pace(self, t, clock):
        pass

    def finish(self, i, last):
        self.finished.append(i)

    def close(self):
        self.closed = True


@pytest.fixture
def handlers():
    """Perform's handlers (commands/__init__.py): SIGINT raises KeyboardInterrupt, SIGTERM Stopped."""
    from livegan.stop_requests import Stopped

    def term(signum, frame):
        raise Stopped("SIGTERM", 143)

    before = {s: signal.signal(s, h) for s, h in ((signal.SIGINT, signal.default_int_handler),
                                                  (signal.SIGTERM, term))}
    yield
    for s, h in before.items():
        signal.signal(s, h)


def _run(show, app=None, frames=50):
    app = app or App(show)
    backend = Backend()
    return run(app, backend, FixedStepClock(30.0), frames=frames), app, backend


@pytest.mark.parametrize("sig, why, code", [(signal.SIGINT, "Ctrl-C", 130), (signal.SIGTERM, "SIGTERM", 143)])
def test_a_stop_signal_inside_a_frame_lets_the_frame_finish_then_stops(handlers, sig, why, code):
    show = Show(during={3: [sig]})
    ran, app, backend = _run(show)
    assert show.completed == [0, 1, 2, 3]              # frame 3 ran to its end, no frame 4 began
    assert backend.finished == [0, 1, 2, 3]
    assert ran == {"frames": 4, "interrupted": True, "stopped_by": why, "code": code}
    assert app.flushed and show.stopped and backend.closed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # put back after the show


def test_a_quick_second_ctrl_c_is_the_same_request(handlers):
    show = Show(during={2: [signal.SIGINT, signal.SIGINT, signal.SIGTERM]})
    ran, app, _ = _run(show)
    assert show.completed == [0, 1, 2] and ran["stopped_by"] == "Ctrl-C" and app.flushed


def test_a_second_signal_while_a_frame_is_stuck_stops_at_once(handlers, monkeypatch):
    monkeypatch.setattr(stop_requests, "STUCK_S", 0.0)         # the first has waited long enough
    show = Show(during={2: [signal.SIGINT, signal.SIGINT]})
    ran, app, backend = _run(show)
    assert show.completed == [0, 1]                    # the way out of a hang: frame 2 never ends
    assert ran["interrupted"] and ran["code"] == 130 and ran["frames"] == 2
    assert app.flushed and backend.closed


def test_signals_while_the_files_are_finished_wait_for_them(handlers, capfd):
    show = Show(during={1: [signal.SIGTERM]})
    app = App(show, at_flush=[signal.SIGINT, signal.SIGTERM, signal.SIGINT])
    ran, app, backend = _run(show, app)
    assert app.flushed and show.stopped and backend.closed
    assert ran["stopped_by"] == "SIGTERM" and ran["code"] == 143
    assert capfd.readouterr().err.count("finishing the files first") == 3


def test_a_signal_during_the_last_frame_still_counts(handlers):
    show = Show(during={4: [signal.SIGINT]})
    ran, _, backend = _run(show, frames=5)
    assert backend.finished == [0, 1, 2, 3, 4] and ran["interrupted"] and ran["stopped_by"] == "Ctrl-C"


def test_an_ignored_signal_stays_ignored(handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # started as a background job: no Ctrl-C
    show = Show(during={1: [signal.SIGINT]})
    ran, _, _ = _run(show, frames=4)
    assert ran == {"frames": 4, "interrupted": False, "stopped_by": None, "code": 0}
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
