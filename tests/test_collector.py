"""The cycle collector walks only what a show made, never the startup objects (collector.py; the
class: a full collection over ~340,000 startup objects held the interpreter 160-270 ms, and a
network loaded mid-show set one off).  Real shows on the fixed-step clock, counted objects."""
import gc
import weakref
from types import SimpleNamespace

from livegan.loop import FixedStepClock, run
from livegan.params import Command
from livegan.show import Options, Show

from test_stop_requests import App, Backend, Show as FakeShow


class Cycle:
    def __init__(self):
        self.me = self


def _until(app, backend, condition, on_tick=None, limit: int = 3000) -> int:
    """Run the loop until `condition(i, show)` holds; how many frames that took."""
    seen = SimpleNamespace(at=None)

    def tick(i, show, display):
        if on_tick is not None:
            on_tick(i, show)
        if seen.at is None and condition(i, show):
            seen.at = i
            backend.stopped = True
        if i >= limit:
            backend.stopped = True
    run(app, backend, FixedStepClock(30.0), on_tick=tick)
    assert seen.at is not None, f"the condition never held in {limit} frames"
    return seen.at


def test_a_network_loaded_mid_show_leaves_the_startup_objects_unwalked(tmp_path):
    """builtin:tiny plays, builtin:twemoji is loaded over OSC's command: during the show a full
    collection walks a small part of what existed at the start; the replaced network, frozen with
    the rest, is freed by its reference count during the show; afterwards nothing stays frozen."""
    before = gc.get_freeze_count()
    show = Show(Options(fps=30, network="builtin:tiny", load_roots=(str(tmp_path),)))
    first = weakref.ref(show.G)
    seen = {}

    def on_tick(i, s):
        if i == 0:
            seen["frozen"], seen["walked_at_start"] = gc.get_freeze_count() - before, len(gc.get_objects())
            s.limits["network"].allow = lambda: True
            s.post(Command("trigger", "network", "builtin:twemoji", "osc"))

    def swapped(i, s):
        seen["walked"] = len(gc.get_objects())      # the new network's objects among them
        return first() is None and s.network == "builtin:twemoji"
    _until(App(show), Backend(), swapped, on_tick)
    assert seen["frozen"] > 20 * max(seen["walked_at_start"], seen["walked"]), seen
    assert gc.get_freeze_count() == before
    assert not show.errors, show.errors


def test_cycles_are_still_collected_during_the_show_and_after_it():
    """A cycle made during the show is collected during it; one that existed at the start and
    was dropped mid-show is collected once the show has given the startup objects back."""
    old = Cycle()
    old_ref = weakref.ref(old)
    made = {}

    def on_tick(i, s):
        if i == 0:
            made["new"] = weakref.ref(Cycle())
            made["old"] = old_ref
    holder = [old]
    del old

    def condition(i, s):
        if i == 0:
            holder.clear()                          # the startup cycle dropped mid-show
            return False
        gc.collect()
        made["old_alive"] = old_ref() is not None   # frozen: left alone while the show runs
        return made["new"]() is None
    _until(App(FakeShow()), Backend(), condition, on_tick)
    assert made["old_alive"]
    gc.collect()
    assert old_ref() is None
