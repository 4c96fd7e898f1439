"""``make_demo.py OUT --long-only`` adds to a demo set the long videos a full ``--long`` run makes."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict
from pathlib import Path

from emoret.demo.long import make_long_demo
from emoret.demo.scenes import make_scenes

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "examples" / "make_demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_long_only_makes_the_long_videos_of_the_scenes_already_there(tmp_path):
    demo = tmp_path / "demo"
    demo.mkdir()
    scenes = make_scenes(3, seed=0)
    (demo / "scenes.json").write_text(json.dumps([asdict(s) for s in scenes]))
    (demo / "captions.json").write_text("kept\n")
    assert _script().main([str(demo), "--long-only", "--clips", "2"]) == 0
    full = make_long_demo(tmp_path / "full", n_videos=3, seed=0, clips_per_video=2)
    assert (demo / "long-captions.json").read_text() == full["long_captions"].read_text()
    assert sorted(p.name for p in (demo / "long").iterdir()) == sorted(p.name for p in full["long_videos"].iterdir())
    assert (demo / "captions.json").read_text() == "kept\n"  # the rest of the set is left as it was
    assert not (demo / "videos").exists()


def test_long_only_without_a_demo_set_is_one_line(tmp_path, capsys):
    assert _script().main([str(tmp_path / "nothing"), "--long-only"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing/scenes.json: no demo set" in err
