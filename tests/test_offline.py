"""Rendering outside the live show: seed grids and truncation sheets, morphs, walks for curation."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import livegan
from livegan.media import read_video


def test_truncation_sheet_labels_its_psi_columns(tiny):
    from livegan.offline.explore import truncation_sheet

    sheet = truncation_sheet(tiny, [0, 1], [0.3, 1.0])
    assert sheet.shape == (2 * 256 + 22, 2 * 256, 3)
    strip = sheet[:22]
    for col in (strip[:, :256], strip[:, 256:]):              # a label over each column
        assert (col > 128).sum() > 20


def test_walk_is_an_abstract_base():
    from livegan.offline.walks import CustomWalk, RandomWalk, Walk

    with pytest.raises(TypeError):
        Walk([np.zeros(4), np.ones(4)])
    assert RandomWalk(8, keyframes=2, steps=4).kind == "random" and issubclass(CustomWalk, Walk)






def _gif(path):
    from PIL import ImageSequence
    with Image.open(path) as im:
        return [f.copy() for f in ImageSequence.Iterator(im)]


def test_generate_and_morph_play_a_canvas_network(tmp_path):
    grid, gif = tmp_path / "g.png", tmp_path / "m.gif"
    livegan("generate", "--network", "builtin:canvas-tiny", "--seeds", "0-3", "--grid", "2x2", "--out", str(grid))
    img = np.asarray(Image.open(grid)).astype(int)
    cells = [img[:128, :128], img[:128, 128:], img[128:, :128], img[128:, 128:]]
    assert img.shape[:2] == (256, 256) and min(c.std() for c in cells) > 3
    assert np.abs(cells[0] - cells[1]).mean() > 1                 # seeds differ through the mapping rows
    cond = tmp_path / "cond.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 128, dtype=np.uint8)[:, None, None], (1, 128, 3))).save(cond)
    livegan("morph", "--network", "builtin:canvas-tiny", "--seeds", "1,2", "--frames", "3", "--input", str(cond),
            "--out", str(gif))
    frames = read_video(gif) if gif.suffix != ".gif" else [np.asarray(f.convert("RGB")) for f in _gif(gif)]
    assert len(frames) == 4 and np.abs(frames[0].astype(int) - frames[-1]).mean() > 1
    r = livegan("generate", "--seeds", "0", "--input", str(cond), "--out", str(tmp_path / "x.png"), ok=False)
    assert "StyleGAN-Canvas" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("steps,keys,loop", [(120, 4, False), (7, 3, False), (10, 4, True), (2, 2, False)])
def test_a_walk_has_exactly_the_frames_asked_for(steps, keys, loop):
    from livegan.offline.walks import RandomWalk

    w = RandomWalk(8, keyframes=keys, steps=steps, loop=loop)
    assert len(w) == steps
    ids = [np.full((1, 1), float(k)) for k in range(keys)]
    pos = [float(w.w_at(ids, i)[0, 0]) for i in range(steps)]
    assert pos[0] == 0.0
    if not loop:                                                   # evenly on to the last key
        assert all(b > a for a, b in zip(pos, pos[1:])) and pos[-1] == keys - 1
    else:                                                          # round and back towards the first
        assert max(pos) <= keys - 1 and pos[-1] > pos[-2] - (keys - 1)
