"""--precision int8: quantized towers on ONNX Runtime, their cache, auto's choice, the int8 query tower."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from retrieval_data import CAPTIONS

from emoret.embedding import int8, precision, sources
from emoret.embedding import runner as embed
from emoret.embedding.files import load_embeddings

INT8_OVERRIDE = "EMORET_CPU_VNNI"  # spelled out: the name users set is the contract


@pytest.fixture(scope="module")
def made_cache(env, tmp_path_factory):
    """The test model's int8 cache, made once for the module (a few seconds)."""
    root = tmp_path_factory.mktemp("int8-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMORET_CACHE", str(root))
        patch.setattr(int8, "_OPEN", {})
        int8.towers(env.model)
    return root


@pytest.fixture
def patch():
    """A monkeypatch of its own: run_cli undoes the ``monkeypatch`` fixture's changes when it returns."""
    with pytest.MonkeyPatch.context() as own:
        yield own


@pytest.fixture
def cache(made_cache, tmp_path, patch):
    """A copy of the made cache as this test's emoret cache; nothing of it checked yet in this process."""
    root = tmp_path / "cache"
    shutil.copytree(made_cache, root)
    patch.setenv("EMORET_CACHE", str(root))
    patch.setattr(int8, "_OPEN", {})
    return root


def cache_dir(root, env):
    return root / "int8" / env.fingerprint


def lowest_cosine(a, b) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def test_int8_embeddings_are_close_to_fp32(env, cache):
    items, _ = sources.items_from_frames(env.frames)
    videos32, records32 = embed.embed_videos(env.model, items, precision="fp32")
    videos8, records8 = embed.embed_videos(env.model, items, precision="int8")
    assert records8 == records32
    assert lowest_cosine(videos8, videos32) >= 0.999
    assert not np.array_equal(videos8, videos32)  # the int8 towers did run
    texts = [caption for captions in CAPTIONS.values() for caption in captions]
    emotions = [[1, 0, 0, 0, 0, 0, 0, 0]] * len(texts)
    texts32 = embed.embed_texts(env.model, texts, emotions, precision="fp32")
    texts8 = embed.embed_texts(env.model, texts, emotions, precision="int8")
    assert lowest_cosine(texts8, texts32) >= 0.999 and not np.array_equal(texts8, texts32)
    plain = embed.embed_texts(env.model, texts, None, precision="int8")
    assert lowest_cosine(plain, embed.embed_texts(env.model, texts, None, precision="fp32")) >= 0.999
    # Each caption finds the same best video in int8 as in fp32.
    assert ((texts8 @ videos8.T).argmax(axis=1) == (texts32 @ videos32.T).argmax(axis=1)).all()
    manifest = json.loads((cache_dir(cache, env) / int8.MANIFEST_FILE).read_text())
    assert manifest["vision"]["cosine"] >= 0.999 and manifest["text"]["cosine"] >= 0.999


def damage(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_manifest(path, change) -> None:
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("spoil", [
    lambda d: damage(d / int8.VISION_FILE),
    lambda d: damage(d / int8.TEXT_DIR / "text_tower.int8.onnx"),
    lambda d: (d / int8.VISION_FILE).unlink(),
    lambda d: (d / int8.MANIFEST_FILE).write_text('{"identity": '),  # a kill while it was written
    lambda d: edit_manifest(d / int8.MANIFEST_FILE, lambda m: m["identity"].update(format=0)),  # an older emoret
    lambda d: edit_manifest(d / int8.MANIFEST_FILE, lambda m: m["identity"].update(onnxruntime="1.0")),
], ids=["vision-damaged", "text-damaged", "vision-missing", "manifest-cut", "old-format", "other-onnxruntime"])
def test_a_damaged_or_stale_cache_is_made_again_never_used(env, cache, spoil):
    folder = cache_dir(cache, env)
    whole = {name: (folder / name).read_bytes() for name in (int8.VISION_FILE, int8.MANIFEST_FILE)}
    spoil(folder)
    said: list[str] = []
    towers = int8.towers(env.model, said.append)
    assert len(said) == 1 and "quantizing the model once" in said[0]
    assert int8.checked_manifest(folder, env.fingerprint) == towers.manifest
    assert (folder / int8.VISION_FILE).read_bytes() == whole[int8.VISION_FILE]  # the same model quantized again
    items, _ = sources.items_from_frames(env.frames)
    videos8, _ = embed.embed_videos(env.model, items, precision="int8")
    assert lowest_cosine(videos8, load_embeddings(env.videos).vectors) >= 0.999
    said.clear()
    int8._OPEN.clear()  # as in the next process
    int8.towers(env.model, said.append)
    assert said == []  # whole now: used as it is


def test_a_cache_of_another_model_is_not_taken(env, cache):
    folder = cache_dir(cache, env)
    edit_manifest(folder / int8.MANIFEST_FILE, lambda m: m["identity"].update(fingerprint="0" * 16))
    assert int8.checked_manifest(folder, env.fingerprint) is None


def fake_timings(patch, int8_seconds: float, float_seconds: float) -> list[str]:
    measured: list[str] = []

    def measure(model, cache, kind, base, rounds=3):
        measured.append(f"{kind} {base}")
        return {"int8": int8_seconds, base: float_seconds}

    patch.setattr(int8, "measure", measure)
    return measured


@pytest.mark.parametrize("has_int8, int8_seconds, chosen", [(False, 0.1, "fp32"), (True, 0.1, "int8"),
                                                            (True, 0.5, "fp32")])
def test_auto_takes_int8_only_where_the_cpu_has_it_and_it_was_measured_faster(
        env, cache, run_cli, tmp_path, patch, has_int8, int8_seconds, chosen):
    patch.setenv("EMORET_CPU_BF16", "0")
    patch.setenv(INT8_OVERRIDE, "1" if has_int8 else "0")
    measured = fake_timings(patch, int8_seconds, 0.5)
    out = tmp_path / "videos"
    result = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", out, "--device", "cpu")
    assert result.code == 0, result.stderr
    assert load_embeddings(out).meta["precision"] == chosen
    assert measured == (["videos fp32"] if has_int8 else [])
    timings = json.loads((cache_dir(cache, env) / int8.MANIFEST_FILE).read_text())["timings"]
    assert timings.get(int8.cpu_key(), {}).get("videos") == ({"int8": int8_seconds, "fp32": 0.5} if has_int8 else None)
    # Measured once for this CPU: the next run reads the verdict from the cache.
    patch.setattr(int8, "_OPEN", {})
    assert int8.choose_precision("auto", env.model, "videos")[0] == chosen
    assert len(measured) == (1 if has_int8 else 0)


def test_auto_keeps_the_float_path_where_int8_is_too_far_from_fp32(env, cache, patch):
    patch.setenv("EMORET_CPU_BF16", "1")
    patch.setenv(INT8_OVERRIDE, "1")
    fake_timings(patch, 0.1, 0.5)
    assert int8.choose_precision("auto", env.model, "texts") == ("int8", "int8 measured 5.00x bf16, cosine to fp32 "
                                                                 f"{int8.towers(env.model).manifest['text']['cosine']:.4f}")
    int8.towers(env.model).manifest["text"]["cosine"] = 0.95
    chosen, why = int8.choose_precision("auto", env.model, "texts")
    assert chosen == "bf16" and "0.9500 < 0.99" in why


def test_int8_is_for_the_cpu_and_the_override_is_checked(monkeypatch):
    with pytest.raises(ValueError, match="int8 runs on the CPU only"):
        precision.resolve_precision("int8", "cuda")
    assert precision.resolve_precision("int8", "cpu") == "int8"
    for value, expected in (("1", True), ("0", False)):
        monkeypatch.setenv(INT8_OVERRIDE, value)
        assert precision.cpu_has_int8() is expected
    monkeypatch.setenv(INT8_OVERRIDE, "yes")
    with pytest.raises(ValueError, match=f"{INT8_OVERRIDE} must be 0 or 1"):
        precision.cpu_has_int8()


def test_embed_int8_through_the_command(env, cache, run_cli, tmp_path):
    out = tmp_path / "texts"
    result = run_cli("embed", "--model", env.model_dir, "--texts", env.captions, "--out", out, "--precision", "int8")
    assert result.code == 0, result.stderr
    written = load_embeddings(out)
    assert written.meta["precision"] == "int8"
    assert lowest_cosine(written.vectors, load_embeddings(env.texts).vectors) >= 0.999


# --- the int8 query tower of an index ---------------------------------------------------------


def test_an_index_carries_an_int8_query_tower_where_the_cpu_has_int8(env, run_cli, tmp_path, patch):
    from emoret.index import store
    from emoret.index.check import IndexDamaged
    from emoret.query import search, text_onnx
    from emoret.query.text_numpy import NumpyTextEncoder

    patch.setenv(INT8_OVERRIDE, "1")
    path = tmp_path / "idx"
    assert run_cli("index", env.videos, "--out", path).code == 0
    assert not (path / text_onnx.INT8_FILE).exists()  # only when asked for
    patch.setenv(text_onnx.QUERY_INT8_OPT_IN, "1")
    assert run_cli("index", env.videos, "--out", path).code == 0
    assert (path / text_onnx.INT8_FILE).is_file()
    index = store.open_index(path)
    fast = search.query_encoder(index)
    assert isinstance(fast, text_onnx.OnnxTextEncoder)
    queries = [caption for captions in CAPTIONS.values() for caption in captions]
    hits8 = search.search(index, fast, queries, top=3)
    patch.setenv(INT8_OVERRIDE, "0")  # the same index on a CPU without int8: the fp32 numpy tower
    plain = search.query_encoder(index)
    assert isinstance(plain, NumpyTextEncoder)
    hits32 = search.search(index, plain, queries, top=3)
    assert [[h.item["video_id"] for h in hits] for hits in hits8] == [[h.item["video_id"] for h in hits] for hits in hits32]
    assert lowest_cosine(fast.encode_queries(queries), plain.encode_queries(queries)) >= 0.999
    patch.setenv(INT8_OVERRIDE, "1")
    damage(path / text_onnx.INT8_FILE)
    with pytest.raises(IndexDamaged, match="text_tower.int8.onnx"):
        search.query_encoder(store.open_index(path))
    result = run_cli("search", "--index", path, "a dog")
    assert result.code == 2 and "text_tower.int8.onnx" in result.stderr and result.stdout == b""


def test_without_int8_instructions_an_index_has_no_int8_tower(env, run_cli, tmp_path, patch):
    from emoret.query import text_onnx

    patch.setenv(text_onnx.QUERY_INT8_OPT_IN, "1")
    path = tmp_path / "idx"
    assert run_cli("index", env.videos, "--out", path).code == 0  # conftest: EMORET_CPU_VNNI=0
    assert (path / "text_tower.safetensors").is_file() and not (path / text_onnx.INT8_FILE).exists()


def test_no_int8_query_tower_where_it_would_change_a_top_10(env, run_cli, tmp_path, patch):
    from emoret.query import text_onnx

    patch.setenv(INT8_OVERRIDE, "1")
    patch.setenv(text_onnx.QUERY_INT8_OPT_IN, "1")
    patch.setattr(text_onnx, "AGREEMENT_TOP", 3)  # the test index holds 6 videos
    patch.setattr(text_onnx, "QUERY_MIN_COSINE", -1.0)  # the probe cosine passes: only the top 3 can refuse it
    flipped = text_onnx.OnnxTextEncoder.encode_queries
    patch.setattr(text_onnx.OnnxTextEncoder, "encode_queries", lambda self, texts, emotions=None: -flipped(self, texts, emotions))
    path = tmp_path / "idx"
    result = run_cli("index", env.videos, "--out", path)
    assert result.code == 0, result.stderr
    assert (path / "text_tower.safetensors").is_file() and not (path / text_onnx.INT8_FILE).exists()
    assert "searches will run the fp32 query tower: int8 changes the top 3 of" in result.stderr
