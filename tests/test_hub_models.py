"""``--model ORG/NAME``: hub ids load from a Hugging Face cache, offline; a missing one fails fast."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from emoret.model import hub

HUB_ID = "tiny-org/tiny-clip"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root: Path, model_dir: Path, repo_id: str = HUB_ID) -> Path:
    """``HF_HOME`` holding ``model_dir`` as ``repo_id``, in the hub cache layout."""
    home = root / "hf-home"
    repo = home / "hub" / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(model_dir, repo / "snapshots" / REVISION)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return home


@pytest.fixture
def offline_cache(env, tmp_path):
    """An offline process whose hub cache holds the emoret test model under HUB_ID."""
    home = hub_cache(tmp_path, env.model_dir)
    # run_cli undoes its own monkeypatch after each call; this one lasts the whole test.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(home))
        patch.delenv("HF_HUB_CACHE", raising=False)
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield home


def test_hub_ids_are_not_paths():
    assert hub.is_hub_id("openai/clip-vit-base-patch32")
    assert hub.is_hub_id("gpt2")
    for path in ("./model", "../model", "/abs/model", "a/b/c", "model/", "ckpt.pt", "a/../b"):
        assert not hub.is_hub_id(path), path


def test_embed_loads_a_cached_hub_id_offline(env, run_cli, offline_cache, tmp_path):
    out = tmp_path / "texts"
    result = run_cli("embed", "--model", HUB_ID, "--texts", env.captions, "--out", out, "--device", "cpu",
                     "--precision", "fp32")  # compared with fp32 vectors below: auto may pick bf16
    assert result.code == 0, result.stderr
    from emoret.embedding.files import load_embeddings

    made = load_embeddings(out)
    expected = load_embeddings(env.texts)
    assert made.meta["model"] == HUB_ID  # the id, not a path into the cache
    assert made.meta["fingerprint"] == env.fingerprint
    np.testing.assert_allclose(made.vectors, expected.vectors, atol=1e-5)


def test_index_and_search_load_a_cached_hub_id_offline(env, run_cli, offline_cache, tmp_path):
    idx = tmp_path / "idx"
    built = run_cli("index", env.videos, "--model", HUB_ID, "--out", idx, "--device", "cpu")
    assert built.code == 0, built.stderr
    # The index records the hub id; search loads it from the cache both implicitly and by --model.
    implicit = run_cli("search", "a happy dog", "--index", idx, "--top", "3")
    explicit = run_cli("search", "a happy dog", "--index", idx, "--top", "3", "--model", HUB_ID)
    assert implicit.code == 0, implicit.stderr
    assert explicit.code == 0, explicit.stderr
    assert len(explicit.records) == 3
    assert [h["video_id"] for h in implicit.records] == [h["video_id"] for h in explicit.records]


def test_missing_hub_id_offline_fails_in_one_line(run_cli, offline_cache, tmp_path):
    start = time.monotonic()
    result = run_cli("embed", "--model", "nobody/no-such-model", "--texts", "-", "--out", tmp_path / "t",
                     stdin='{"video_id": "a", "caption": "a dog"}\n')
    assert time.monotonic() - start < 10
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "nobody/no-such-model" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert "local model directory" in lines[0]
    assert not (tmp_path / "t.npy").exists()


def test_missing_hub_id_with_unreachable_hub_fails_fast(run_cli, tmp_path):
    # Online, but the hub's address refuses connections (port 9 on this host): no retries.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(tmp_path / "empty-home"))
        patch.delenv("HF_HUB_CACHE", raising=False)
        patch.delenv("HF_HUB_OFFLINE", raising=False)
        patch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        patch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        start = time.monotonic()
        result = run_cli("embed", "--model", "nobody/no-such-model", "--texts", "-", "--out", tmp_path / "t",
                         stdin='{"video_id": "a", "caption": "a dog"}\n')
        elapsed = time.monotonic() - start
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot be reached" in lines[0] and "local model directory" in lines[0]
    assert elapsed < 15


def test_local_path_that_is_not_there_says_so(run_cli, tmp_path):
    result = run_cli("embed", "--model", str(tmp_path / "nothing"), "--texts", "-", "--out", tmp_path / "t",
                     stdin='{"video_id": "a", "caption": "a dog"}\n')
    assert result.code == 2
    assert "no such file or directory" in result.stderr
