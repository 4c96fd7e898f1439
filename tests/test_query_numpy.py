"""The query path without torch: the numpy text tower exported beside an index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emoret.embedding.runner import embed_texts
from emoret.query import export as query_export
from emoret.query import text_numpy

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["a happy dog plays in the park", "a sad man sits alone", "Children laugh, at a party!", "unknownword cat",
         " ".join(["a dog runs on the grass"] * 10)]  # longer than the tiny model's 32 positions
EMOTIONS = [[1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 2, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 3], [0] * 8, [0, 0, 1, 0, 0, 0, 1, 0]]


def test_numpy_tower_embeds_like_torch(env, tmp_path):
    worst = query_export.export_text_tower(env.model, tmp_path)
    assert worst >= query_export.MIN_COSINE
    encoder = text_numpy.NumpyTextEncoder.load(tmp_path)
    for emotions in (None, EMOTIONS):
        ours = encoder.encode_queries(TEXTS, emotions)
        theirs = embed_texts(env.model, TEXTS, emotions, precision="fp32")
        assert ours.shape == theirs.shape and ours.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        assert np.min(np.sum(ours * theirs, axis=1)) >= 0.9999
    # The emotion bias matters: the same text with other emotions embeds elsewhere.
    assert np.min(np.sum(encoder.encode_queries(TEXTS, EMOTIONS) * encoder.encode_queries(TEXTS), axis=1)) < 0.999


def test_a_querys_vector_does_not_depend_on_its_batch(env, tmp_path):
    """Bit for bit: ``search -`` and the server's batches must give each query what it gets alone."""
    query_export.export_text_tower(env.model, tmp_path)
    encoder = text_numpy.NumpyTextEncoder.load(tmp_path)
    texts = [*TEXTS, "a dog", "the party", "a storm at sea tonight", "sad", *TEXTS[:3]] * 3
    emotions = [EMOTIONS[n % len(EMOTIONS)] for n in range(len(texts))]
    alone = np.stack([encoder.encode_queries([text], [emotion])[0] for text, emotion in zip(texts, emotions, strict=True)])
    for size in (2, 3, 4, 5, 8, 13, len(texts)):
        for start in range(0, len(texts), size):
            together = encoder.encode_queries(texts[start : start + size], emotions[start : start + size])
            assert np.array_equal(together, alone[start : start + size]), (size, start)


def test_index_exports_and_search_matches_the_torch_path(env, run_cli, index_dir, monkeypatch):
    assert text_numpy.exported(index_dir)
    assert text_numpy.read_config(index_dir)["fingerprint"] == env.fingerprint
    queries = "a happy dog plays in the park\na scary storm over the sea\na cat sleeps on a sofa\n"
    torch_path = run_cli("search", "-", "--index", index_dir, "--top", "6", "--model", env.model_dir, stdin=queries)
    assert torch_path.code == 0, torch_path.stderr

    from emoret.model import factory

    def no_torch(*args, **kwargs):
        raise AssertionError("the torch model was loaded")

    monkeypatch.setattr(factory, "create_model", no_torch)
    numpy_path = run_cli("search", "-", "--index", index_dir, "--top", "6", stdin=queries)
    assert numpy_path.code == 0, numpy_path.stderr
    ours, theirs = numpy_path.records, torch_path.records
    assert [(h["query"], h["video_id"]) for h in ours] == [(h["query"], h["video_id"]) for h in theirs]
    np.testing.assert_allclose([h["score"] for h in ours], [h["score"] for h in theirs], atol=1e-4)


def _written_before_digests(index_dir) -> None:
    meta = json.loads((index_dir / "meta.json").read_text())
    del meta["files"], meta["meta_sha256"]
    (index_dir / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", ["missing", "other model"])
def test_search_falls_back_to_torch_without_a_usable_export(env, run_cli, index_dir, monkeypatch, damage):
    """In an index from before digests; in one that has them the same edits are refused (test_index_integrity.py)."""
    expected = run_cli("search", "a happy dog", "--index", index_dir, "--top", "6").records
    _written_before_digests(index_dir)
    if damage == "missing":
        (index_dir / text_numpy.CONFIG_FILE).unlink()
    else:
        config = text_numpy.read_config(index_dir)
        config["fingerprint"] = "0" * 16
        (index_dir / text_numpy.CONFIG_FILE).write_text(json.dumps(config))

    def no_numpy(self, *args, **kwargs):
        raise AssertionError("the numpy encoder answered")

    monkeypatch.setattr(text_numpy.NumpyTextEncoder, "encode_queries", no_numpy)
    result = run_cli("search", "a happy dog", "--index", index_dir, "--top", "6")
    assert result.code == 0, result.stderr
    assert [h["video_id"] for h in result.records] == [h["video_id"] for h in expected]


def test_model_override_uses_torch(env, run_cli, index_dir, monkeypatch):
    def no_numpy(self, *args, **kwargs):
        raise AssertionError("the numpy encoder answered")

    monkeypatch.setattr(text_numpy.NumpyTextEncoder, "encode_queries", no_numpy)
    result = run_cli("search", "a happy dog", "--index", index_dir, "--model", env.model_dir)
    assert result.code == 0, result.stderr
    assert len(result.records) == 6


def test_a_failed_check_leaves_no_export(env, tmp_path, monkeypatch):
    monkeypatch.setattr(query_export, "MIN_COSINE", 1.01)  # no float embedding can pass
    with pytest.raises(query_export.NotExportable, match="disagree"):
        query_export.export_text_tower(env.model, tmp_path)
    assert not any(tmp_path.iterdir())


def test_index_without_a_loadable_model_still_builds(env, run_cli, tmp_path):
    import shutil

    from emoret.embedding.files import load_embeddings, save_embeddings

    videos = load_embeddings(env.videos)
    moved = tmp_path / "videos"
    save_embeddings(moved, videos.vectors, videos.records, {**videos.meta, "model": str(tmp_path / "gone")})
    shutil.rmtree(tmp_path / "gone", ignore_errors=True)
    result = run_cli("index", moved, "--out", tmp_path / "idx")
    assert result.code == 0, result.stderr
    assert "searches will load torch" in result.stderr
    assert not text_numpy.exported(tmp_path / "idx")


def test_a_search_process_imports_neither_torch_nor_transformers(index_dir):
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('\\nHEAVY=' + ','.join(sorted(m for m in ('torch', 'transformers', "
        "'pydantic') if m in sys.modules))))\n"
        "from emoret_cli.main import main\n"
        "main()\n"
    )
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe, "search", "a happy dog", "--index", str(index_dir), "--json"],
                          capture_output=True, text=True, env=environ, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 6
    assert done.stderr.strip().splitlines()[-1] == "HEAVY="


def test_piped_lines_are_answered_in_batches(monkeypatch):
    from emoret_cli import query_lines as search_cli

    read, write = os.pipe()
    os.write(write, b"a dog\n\n a cat \nlast without newline")
    os.close(write)
    try:
        assert list(search_cli._batches_from_fd(read)) == [["a dog", "a cat"], ["last without newline"]]
    finally:
        os.close(read)
    monkeypatch.setattr(search_cli, "MAX_BATCH", 2)
    assert list(search_cli._batches(["a", "", "b", "c"])) == [["a", "b"], ["c"]]


def _typer_values(argv: list[str]) -> dict | None:
    """What typer itself passes ``emoret search``'s function for ``argv``; None where it refuses
    the line or answers it without a search (help)."""
    import functools

    import typer

    from emoret_cli import search as search_cli
    from emoret_cli.typer_compat import click_exceptions

    seen: dict = {}

    @functools.wraps(search_cli.COMMAND)
    def record(**values):
        seen.update(values)

    app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})
    app.command("search")(record)
    try:
        typer.main.get_command(app).main(args=list(argv), prog_name="emoret", standalone_mode=False)
    except click_exceptions().ClickException:
        return None
    return seen or None


PLAIN_OPTIONS = [
    ["-k", "3"], ["--top=2"], ["--top", "7"], ["-k7"], ["--per-video", "0"], ["--per-video", "3"],
    ["--index", "idx"], ["-i", "other/idx"], ["--model", "m"], ["-m", "m"], ["--method", "exact"],
    ["--ef", "64"], ["--emotions", "joy,trust"], ["--no-emotion"], ["--as-written"], ["--emotion", "joy"],
    ["--emotion-threshold", "0.4"], ["--emotion-threshold=1"], ["--emotion-weight", "0.1"], ["--json"],
    ["--device", "cuda"], ["--html", "page.html"], ["--frames", "frames"],
]
REFUSED_OPTIONS = [
    ["--top", "0"], ["--top", "many"], ["--bogus"], ["--per-video", "-1"], ["--emotion-threshold", "2"],
    ["--ef", "0"], ["--emotion-weight", "-1"], ["--top"], ["-h"], ["--help"], ["--json=yes"],
]


def _argv_variants(count: int = 300) -> list[list[str]]:
    import random

    rng = random.Random(0)
    variants = [["a dog"], ["-"], [], ["a dog", "a cat"], ["--", "-a query with a dash"], ["--top", "3", "a dog"]]
    variants += [["a dog", *option] for option in PLAIN_OPTIONS + REFUSED_OPTIONS]
    for _ in range(count):
        pool = PLAIN_OPTIONS if rng.random() < 0.7 else PLAIN_OPTIONS + REFUSED_OPTIONS
        options = [token for option in rng.sample(pool, rng.randint(1, 5)) for token in option]
        spot = rng.randint(0, len(options))
        if spot < len(options) and options[spot - 1:spot] and options[spot - 1].startswith("-") and "=" not in options[spot - 1]:
            spot = len(options)  # not between an option and its value
        variants.append(options[:spot] + [rng.choice(["a happy dog", "-"])] + options[spot:])
    return variants


def test_fast_parser_agrees_with_typer_or_declines():
    """The fast parser passes the search function what typer's real command would, or declines
    (help, usage errors), over many command lines; it answers the plain ones."""
    from emoret_cli import fastpath
    from emoret_cli import search as search_cli

    answered = 0
    for argv in _argv_variants():
        fast = fastpath.parse(search_cli.COMMAND, argv)
        real = _typer_values(argv)
        if fast is not None:  # declining is always safe: typer then parses the line itself
            assert fast == real, argv  # so where typer refuses a line (None), the parser must decline it
            answered += 1
    assert answered > 200
    for option in PLAIN_OPTIONS:
        assert fastpath.parse(search_cli.COMMAND, ["a dog", *option]) is not None, option
    for option in REFUSED_OPTIONS:
        assert fastpath.parse(search_cli.COMMAND, ["a dog", *option]) is None, option
