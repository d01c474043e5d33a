"""Rendering outside the live show: seed grids, truncation sheets and morphs (explore.py), walks for
curation (walks.py), and the exact re-render of a recorded session (replay.py)."""
