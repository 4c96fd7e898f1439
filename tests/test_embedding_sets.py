"""An embedding set (NAME.npy + NAME.jsonl + NAME.meta.json) is one thing: a set mixed
from two runs, stopped halfway, or holding NaN is refused with one line."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from emoret.embedding.files import embedding_paths, load_embeddings, save_embeddings
from emoret.errors import InputError
from emoret.evaluation import metrics


def unit(rows, dim=5, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def records(rows, tag):
    return [{"video_id": f"{tag}{i}"} for i in range(rows)]


def test_a_set_mixed_from_two_runs_is_refused(run_cli, tmp_path):
    save_embeddings(tmp_path / "a", unit(4, seed=1), records(4, "a"))
    save_embeddings(tmp_path / "b", unit(4, seed=2), records(4, "b"))
    # What a crash between the swaps leaves: b's vectors with a's records and meta.
    os.replace(tmp_path / "b.npy", tmp_path / "a.npy")
    with pytest.raises(InputError, match="two runs"):
        load_embeddings(tmp_path / "a")
    result = run_cli("index", tmp_path / "a", "--out", tmp_path / "idx")
    assert result.code == 2 and result.stderr.count("\n") == 1 and "a.npy" in result.stderr
    assert not (tmp_path / "idx").exists()


def test_a_kill_between_the_swaps_leaves_a_set_that_is_refused(tmp_path):
    save_embeddings(tmp_path / "e", unit(4, seed=1), records(4, "old"))
    # A second run killed (SIGKILL) right after its first file is swapped in.
    script = (
        "import os, signal, numpy as np\n"
        "from emoret.embedding import files as embed\n"
        "real = os.replace\n"
        "def replace(a, b):\n"
        "    real(a, b)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.replace = replace\n"
        f"embed.save_embeddings({str(tmp_path / 'e')!r}, np.eye(3, 5, dtype=np.float32),"
        " [{'video_id': str(i)} for i in range(3)])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.getcwd()}, timeout=60)
    assert done.returncode == -signal.SIGKILL
    with pytest.raises(InputError, match="incomplete set"):
        load_embeddings(tmp_path / "e")


def test_a_whole_set_loads_and_records_its_digests(tmp_path):
    save_embeddings(tmp_path / "e", unit(3), records(3, "v"), {"model": "m"})
    loaded = load_embeddings(tmp_path / "e")
    assert loaded.meta["count"] == 3 and loaded.meta["model"] == "m"
    assert len(loaded.meta["npy_sha256"]) == 64 and len(loaded.meta["jsonl_sha256"]) == 64


def test_a_set_from_before_the_digests_still_loads(tmp_path):
    save_embeddings(tmp_path / "e", unit(3), records(3, "v"), {"model": "m"})
    _, _, meta = embedding_paths(tmp_path / "e")
    meta.write_text('{"count": 3, "model": "m"}')
    assert len(load_embeddings(tmp_path / "e").records) == 3


def test_edited_records_are_refused(tmp_path):
    save_embeddings(tmp_path / "e", unit(3), records(3, "v"))
    _, jsonl, _ = embedding_paths(tmp_path / "e")
    jsonl.write_text(jsonl.read_text().replace("v0", "w0"))
    with pytest.raises(InputError, match="e.jsonl"):
        load_embeddings(tmp_path / "e")


# --- NaN and infinity ----------------------------------------------------------------------


def test_nan_never_ranks_first():
    similarity = np.array([[np.nan, 0.5], [0.1, np.nan]])
    assert list(metrics.text_to_video_ranks(similarity, [0, 1])) == [2, 2]
    assert list(metrics.video_to_text_ranks(similarity, [0, 1])) == [2, 2]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_eval_and_index_refuse_nan_embeddings(run_cli, env, tmp_path, bad):  # noqa: F811
    videos = load_embeddings(env.videos)
    poisoned = videos.vectors.copy()
    poisoned[2] = bad
    save_embeddings(tmp_path / "v", poisoned, videos.records, videos.meta)
    evaluated = run_cli("eval", "--texts", env.texts, "--videos", tmp_path / "v")
    assert evaluated.code == 2 and evaluated.stderr.count("\n") == 1
    assert "v.npy" in evaluated.stderr and "row 2" in evaluated.stderr and "R@1" not in evaluated.stdout.decode()
    indexed = run_cli("index", tmp_path / "v", "--out", tmp_path / "idx")
    assert indexed.code == 2 and "NaN" in indexed.stderr and not (tmp_path / "idx").exists()


def test_embed_refuses_to_write_nan_from_a_broken_model(run_cli, env, tmp_path):  # noqa: F811
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(env.model_dir, broken)
    state = load_file(str(broken / "model.safetensors"))
    state["text_projection.weight"][:] = float("nan")
    save_file(state, str(broken / "model.safetensors"), metadata={"format": "pt"})
    result = run_cli("embed", "--model", broken, "--texts", env.captions, "--out", tmp_path / "t")
    assert result.code == 2 and "NaN" in result.stderr and result.stderr.count("\n") == 1
    assert not any(tmp_path.glob("t.*"))
