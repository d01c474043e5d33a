"""The HUD tells the performer what the knobs are: the selected parameter with its value and
range, recent problems that fade (their count stays), long lines wrapped inside the panel, and
what the control surfaces are connected to."""
from __future__ import annotations


from livegan.app import App
from livegan.display import hud_image, hud_lines, wrap_text
from livegan.params import Command
from livegan.show import Options, Show


def test_selected_parameter_errors_fade_and_count(tiny, tmp_path):
    show = Show(Options(fps=30), G=tiny)
    app = App(show, tmp_path, hud=True)
    app.selected = "psi"
    show.post(Command("set", "psi", 0.55, "key"))
    app.run_headless(3, realtime=False)
    lines = hud_lines(show.status, 30.0) + [app._selected_line()]
    sel = [ln for ln in lines if ln.startswith("[ ] psi")]
    assert sel and "-> 0.55" in sel[0] and "(-1 .. 2," in sel[0]
    show.error("x", "a problem that matters now")
    assert any("a problem that matters now" in ln for ln in hud_lines(show.publish(), 30.0))
    show.problems.times[-1] -= show.problems.FADE_S + 1         # a few seconds later
    later = hud_lines(show.publish(), 30.0)
    assert not any("a problem that matters" in ln for ln in later)
    assert any(ln == f"{show.error_count} problem{'s' if show.error_count > 1 else ''} so far" for ln in later)


def test_long_lines_wrap_inside_the_panel():
    long = "! network https://example.invalid/" + "x" * 300 + " failed to load: a very long reason " * 3
    img = hud_image(["short", long], width=460)
    assert img.shape[1] == 460 and img.shape[0] > 17 * 6        # several rows, not one clipped row
    rows = wrap_text(long, lambda t: 7.0 * len(t), 448)
    assert all(7.0 * len(r) <= 448 for r in rows) and "".join(r.strip() for r in rows).replace(" ", "") == long.replace(" ", "")
    # text reaches the right part of the panel only within its margin
    alpha = img[..., :3].max(axis=2)
    assert alpha[:, 455:].max() < 200


def test_rows_kept_between_redraws_draw_the_same_panel():
    """The painter keeps each row it drew (the HUD redraws four times a second, most rows the
    same): a redraw after others equals a panel drawn from nothing, pixel for pixel, and a row
    evicted from a full cache is drawn again the same."""
    import numpy as np

    from livegan.display.hud import HudPainter

    first = ["display  30.0 fps", "network builtin:tiny", "preset default   keyframe 1/6"]
    later = ["display  29.9 fps", "network builtin:tiny", "! a problem " + "y" * 120, "preset default   keyframe 1/6"]
    kept = HudPainter(keep=2)
    kept.image(first)
    again = kept.image(later)
    fresh = HudPainter().image(later)
    assert again.shape == fresh.shape and np.array_equal(again, fresh)
    assert np.array_equal(kept.image(first), HudPainter().image(first))
    assert again[..., :3].max() == 255 and (again.shape[0] - 10) // 17 > len(later)   # the long line wrapped


def test_controls_state_is_in_the_hud(tiny):
    from livegan.control.surfaces import ControlOptions, Controls

    show = Show(Options(fps=30), G=tiny)
    c = Controls(show, ControlOptions(osc=True, osc_port=0, oscquery=False), log=lambda m: None).start()
    try:
        (line,) = c.hud_lines()
        assert line.startswith("OSC 127.0.0.1:") and "messages" in line
    finally:
        c.stop()
    off = Controls(show, ControlOptions(osc=False, oscquery=False), log=lambda m: None).start()
    assert off.hud_lines() == ["OSC off"]
    off.stop()
