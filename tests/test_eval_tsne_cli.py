import numpy as np
import orjson
import pytest
from retrieval_data import EMOTIONAL, caption_records, write_captions

from emoret.embedding.files import load_embeddings, save_embeddings
from emoret.evaluation import metrics, plots


def flat(figures, prefix=()):
    """Nested figures as {(subset, direction, metric): value}, for pytest.approx."""
    out = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out.update(flat(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def direct_figures(env):
    texts, videos = load_embeddings(env.texts), load_embeddings(env.videos)
    video_row = {r["video_id"]: i for i, r in enumerate(videos.records)}
    target = np.array([video_row[r["video_id"]] for r in texts.records])
    sim = texts.vectors @ videos.vectors.T
    return metrics.text_to_video_ranks(sim, target), sim, target


def test_eval_json_agrees_with_a_direct_computation(env, run_cli):
    result = run_cli("eval", "--texts", env.texts, "--videos", env.videos, "--json")
    assert result.code == 0, result.stderr
    figures = orjson.loads(result.stdout)
    ranks, sim, target = direct_figures(env)
    assert figures["all"]["t2v"]["R@1"] == pytest.approx(np.mean(ranks <= 1))
    assert figures["all"]["t2v"]["MnR"] == pytest.approx(ranks.mean())
    assert figures["all"]["t2v"]["count"] == 12 and figures["all"]["v2t"]["count"] == 6
    emotional = np.array([r["caption"] in EMOTIONAL for r in caption_records()])
    assert figures["emotion"]["t2v"]["count"] == emotional.sum() == 5
    expected = metrics.evaluate_subset(sim, target, emotional).as_dict()
    assert flat(figures["emotion"]) == pytest.approx(flat(expected))


def test_eval_table_has_the_seed_rows_and_columns(env, run_cli):
    result = run_cli("eval", "--texts", env.texts, "--videos", env.videos)
    assert result.code == 0
    lines = result.stdout.decode().splitlines()
    assert "Emotion+Neutral" in lines[0] and "Emotion" in lines[0].replace("Emotion+Neutral", "")
    assert lines[1].split() == ["T2V", "V2T", "T2V", "V2T"]
    assert [line.split()[0] for line in lines[2:7]] == ["R@1", "R@5", "R@10", "MdR", "MnR"]


def test_eval_with_a_model_matches_eval_of_embeddings(env, run_cli):
    from_model = run_cli("eval", "--model", env.model_dir, "--captions", env.captions, "--frames", env.frames, "--json")
    from_files = run_cli("eval", "--texts", env.texts, "--videos", env.videos, "--json")
    assert from_model.code == 0, from_model.stderr
    assert flat(orjson.loads(from_model.stdout)) == pytest.approx(flat(orjson.loads(from_files.stdout)))


def test_eval_without_emotion_flags_shows_all_only(env, run_cli, tmp_path):
    texts = load_embeddings(env.texts)
    unflagged = [{k: v for k, v in r.items() if k != "emotion"} for r in texts.records]
    save_embeddings(tmp_path / "t", texts.vectors, unflagged, texts.meta)
    result = run_cli("eval", "--texts", tmp_path / "t", "--videos", env.videos, "--json")
    assert result.code == 0 and "emotion" in result.stderr
    assert list(orjson.loads(result.stdout)) == ["all"]


def test_eval_errors(env, run_cli, tmp_path):
    videos = load_embeddings(env.videos)
    save_embeddings(tmp_path / "v", np.eye(6, 5, dtype=np.float32), videos.records)
    dims = run_cli("eval", "--texts", env.texts, "--videos", tmp_path / "v")
    assert dims.code == 2 and "dimension" in dims.stderr and dims.stderr.count("\n") == 1
    texts = load_embeddings(env.texts)
    save_embeddings(tmp_path / "t", texts.vectors, [{**r, "video_id": "elsewhere"} for r in texts.records])
    unmatched = run_cli("eval", "--texts", tmp_path / "t", "--videos", env.videos)
    assert unmatched.code == 2 and "video_id" in unmatched.stderr
    half = run_cli("eval", "--texts", env.texts)
    assert half.code == 2
    rows = tmp_path / "rows"
    save_embeddings(rows, texts.vectors, texts.records)
    write_captions(rows.with_suffix(".jsonl"), texts.records[:3])
    short = run_cli("eval", "--texts", rows, "--videos", env.videos)
    assert short.code == 2 and "rows.jsonl: does not match rows.meta.json" in short.stderr
    meta = rows.with_suffix(".meta.json")  # a set from before the digests: the row count still checks
    meta.write_bytes(orjson.dumps({k: v for k, v in orjson.loads(meta.read_bytes()).items() if "sha256" not in k}))
    short = run_cli("eval", "--texts", rows, "--videos", env.videos)
    assert short.code == 2 and "3 records for 12 rows" in short.stderr


@pytest.mark.slow
def test_tsne_writes_a_png_with_one_panel_an_emotion(env, run_cli, tmp_path):
    out = tmp_path / "tsne.png"
    annotations = write_captions(tmp_path / "ann.jsonl", [{**r, "joy": int("happy" in r["caption"])} for r in caption_records()])
    result = run_cli("tsne", "--texts", env.texts, "--videos", env.videos, "--annotations", annotations,
                     "-e", "joy", "-e", "fear", "-o", out, "--perplexity", "5")
    assert result.code == 0, result.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    assert width == round(2 * plots.PANEL_INCHES[0] * plots.DPI)  # two panels side by side


def test_tsne_marks_videos_by_their_captions(env):
    from emoret.evaluation import plots

    annotations = [{"video_id": "clip0", "caption": "x", "joy": 1}, {"video_id": "clip0", "caption": "y", "fear": 2}]
    flags = plots.emotion_flags(load_embeddings(env.videos).records, plots.video_emotions(annotations))
    assert flags[0].tolist() == [True, False, True, False, False, False, False, False]
    assert not flags[1:].any()


def test_tsne_errors(env, run_cli, tmp_path):
    unknown = run_cli("tsne", "--texts", env.texts, "-e", "glee", "-o", tmp_path / "x.png")
    assert unknown.code == 2 and "glee" in unknown.stderr
    nothing = run_cli("tsne", "-o", tmp_path / "x.png")
    assert nothing.code == 2
    assert not (tmp_path / "x.png").exists()


def test_tsne_refuses_to_draw_panels_with_nothing_to_colour(env, run_cli, tmp_path):
    out = tmp_path / "x.png"
    bare = run_cli("tsne", "--texts", env.texts, "--videos", env.videos, "-o", out)
    assert bare.code == 2 and "Traceback" not in bare.stderr
    assert "nothing to colour by" in bare.stderr and "--annotations" in bare.stderr
    assert len(bare.stderr.strip().splitlines()) <= 2  # the no-annotations note, then the error
    assert not out.exists()
    no_fear = write_captions(tmp_path / "ann.jsonl", [{**r, "joy": 0} for r in caption_records()])
    absent = run_cli("tsne", "--videos", env.videos, "--annotations", no_fear, "-e", "fear", "-o", out)
    assert absent.code == 2 and "no point has fear" in absent.stderr and str(no_fear) in absent.stderr
    assert not out.exists()
