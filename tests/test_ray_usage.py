"""``--ray [ADDRESS]`` as typed, and ``--ray`` where Ray is not installed (no Ray started here)."""

from __future__ import annotations

import sys

import pytest

from emoret_cli.rayopt import bare_ray_flag


def hide_ray(monkeypatch) -> None:
    """``import ray`` raises ImportError, as where it is not installed."""
    for name in [name for name in sys.modules if name == "ray" or name.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)


def test_ray_without_ray_installed_is_one_line_exit_2(env, run_cli, tmp_path, monkeypatch):
    for command in (["embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "v"],
                    ["feel", "--model", env.model_dir, "--no-faces", "--frames", env.frames]):
        hide_ray(monkeypatch)  # again each run: run_cli undoes the test's monkeypatches when it ends
        result = run_cli(*command, "--ray")
        assert result.code == 2 and result.stdout == b"", result.stderr
        assert result.stderr.strip().splitlines() == ["emoret: --ray: needs Ray, which is not installed here: "
                                                      "pip install 'emoret[ray]'"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, parsed", [
    (["embed", "--ray"], ["embed", "--ray="]),
    (["embed", "--ray", "--model", "m"], ["embed", "--ray=", "--model", "m"]),
    (["embed", "--ray", "videos/", "--out", "v"], ["embed", "--ray=", "videos/", "--out", "v"]),
    (["embed", "--ray", "auto", "v/"], ["embed", "--ray", "auto", "v/"]),
    (["embed", "--ray", "10.0.0.5:6379"], ["embed", "--ray", "10.0.0.5:6379"]),
    (["embed", "--ray", "ray://head:10001"], ["embed", "--ray", "ray://head:10001"]),
    (["embed", "--ray=auto"], ["embed", "--ray=auto"]),
    (["search", "--", "--ray"], ["search", "--", "--ray"]),
])
def test_ray_takes_an_address_only_when_one_follows(args, parsed):
    assert bare_ray_flag(args) == parsed


def test_a_file_named_like_an_address_stays_a_video(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "auto").mkdir()
    assert bare_ray_flag(["embed", "--ray", "auto"]) == ["embed", "--ray=", "auto"]
