"""--precision: bf16 where the CPU has it, fp32 otherwise, and bf16 agrees with fp32."""

from __future__ import annotations

import numpy as np
import pytest
from retrieval_data import CAPTIONS

from emoret.embedding import precision, sources
from emoret.embedding import runner as embed
from emoret.embedding.files import load_embeddings

BF16_OVERRIDE = "EMORET_CPU_BF16"  # spelled out: the name users set is the contract


def bf16_cpu(monkeypatch, has_bf16: bool) -> None:
    """This process's CPU, as the detection sees it: set through the override users have too."""
    monkeypatch.setenv(BF16_OVERRIDE, "1" if has_bf16 else "0")


@pytest.mark.parametrize("has_bf16, device, expected", [(True, "cpu", "bf16"), (False, "cpu", "fp32"),
                                                        (False, "cuda", "fp16"), (True, "cuda", "fp16")])
def test_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch, has_bf16, device, expected):
    bf16_cpu(monkeypatch, has_bf16)
    assert precision.resolve_precision("auto", device) == expected
    assert precision.resolve_precision("fp32", device) == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        precision.resolve_precision("fp8", device)


def test_bf16_embeddings_agree_with_fp32(env):
    items, _ = sources.items_from_frames(env.frames)
    videos32, _ = embed.embed_videos(env.model, items, precision="fp32")
    videos16, _ = embed.embed_videos(env.model, items, precision="bf16")
    assert np.min(np.sum(videos32 * videos16, axis=1)) >= 0.999
    texts = [caption for captions in CAPTIONS.values() for caption in captions]
    emotions = [[1, 0, 0, 0, 0, 0, 0, 0]] * len(texts)
    texts32 = embed.embed_texts(env.model, texts, emotions, precision="fp32")
    texts16 = embed.embed_texts(env.model, texts, emotions, precision="bf16")
    assert np.min(np.sum(texts32 * texts16, axis=1)) >= 0.999
    assert not np.array_equal(texts32, texts16)  # bf16 did run


@pytest.mark.parametrize("has_bf16, chosen", [(True, "bf16"), (False, "fp32")])
def test_embed_says_what_auto_chose_and_falls_back(env, run_cli, tmp_path, monkeypatch, has_bf16, chosen):
    bf16_cpu(monkeypatch, has_bf16)
    out = tmp_path / "videos"
    result = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", out, "--device", "cpu")
    assert result.code == 0, result.stderr
    assert "precision" not in result.stderr  # stderr is no terminal here: errors only
    assert load_embeddings(out).meta["precision"] == chosen
    reference = load_embeddings(env.videos).vectors  # made in fp32
    assert np.min(np.sum(load_embeddings(out).vectors * reference, axis=1)) >= 0.999



@pytest.mark.parametrize("has_bf16, chosen", [(True, "bf16"), (False, "fp32")])
def test_on_a_terminal_embed_says_what_auto_chose(monkeypatch, capsys, has_bf16, chosen):
    from types import SimpleNamespace

    import torch
    from rich.console import Console

    from emoret_cli import embed as embed_cli

    model = SimpleNamespace(device=torch.device("cpu"))  # auto on a CPU without int8 asks the model nothing more
    bf16_cpu(monkeypatch, has_bf16)
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    assert embed_cli._say_precision("auto", model, "videos") == chosen
    assert f"precision {chosen} (auto: {BF16_OVERRIDE}={int(has_bf16)}; EMORET_CPU_VNNI=0)" in capsys.readouterr().err
    monkeypatch.delenv(BF16_OVERRIDE)  # detected: the line says what the CPU has
    detected = "bf16" if precision.cpu_reports_bf16() else "fp32"
    assert embed_cli._say_precision("auto", model, "videos") == detected
    assert f"precision {detected} (auto: " in capsys.readouterr().err


def test_an_unknown_precision_is_refused(env, run_cli, tmp_path):
    result = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "v",
                     "--precision", "fp8")
    assert result.code == 2 and "--precision must be one of" in result.stderr


def test_the_override_beats_the_detection_and_is_read_on_every_call(monkeypatch):
    detected = precision.cpu_reports_bf16()  # cached: the CPU does not change
    for value, has_bf16 in (("1", True), ("0", False), (" 1 ", True), ("0", False)):
        monkeypatch.setenv(BF16_OVERRIDE, value)
        assert precision.cpu_has_bf16() is has_bf16
        assert precision.resolve_precision("auto", "cpu") == ("bf16" if has_bf16 else "fp32")
    monkeypatch.setenv(BF16_OVERRIDE, "")
    assert precision.cpu_has_bf16() is detected
    monkeypatch.delenv(BF16_OVERRIDE)
    assert precision.cpu_has_bf16() is detected


@pytest.mark.parametrize("value", ["yes", "2", "true"])
def test_an_invalid_override_is_refused_in_one_line(env, run_cli, tmp_path, monkeypatch, value):
    monkeypatch.setenv(BF16_OVERRIDE, value)
    with pytest.raises(ValueError, match=f"{BF16_OVERRIDE} must be 0 or 1"):
        precision.cpu_has_bf16()
    result = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "v")
    assert result.code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"{BF16_OVERRIDE} must be 0 or 1" in result.stderr and repr(value) in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_quickstart_embeds_in_fp32():
    # Its figures (README) must not depend on whether the CPU has bf16: every embed names fp32.
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / "examples" / "quickstart.sh").read_text()
    embeds = [line for line in script.replace("\\\n", " ").splitlines() if line.strip().startswith("emoret embed ")]
    assert len(embeds) == 2
    for line in embeds:
        assert "--precision fp32" in line, line
