"""emoret train: the command, its errors, resuming after a kill, and two-process DDP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from emoret.errors import InputError
from emoret.model.tiny import build_tiny_clip
from emoret.records import read_jsonl
from emoret.train.config import make_config, read_config_file
from emoret.train.data import epoch_pairs, load_video_captions
from emoret.train.loop import train
from emoret.train.run_dir import MetricsLog
from emoret.train.schedule import lr_factor

COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "purple": (128, 0, 128),
    "cyan": (0, 255, 255),
}


def write_dataset(root: Path) -> dict[str, Path]:
    """8 single-colour videos (4 frames, 40 px) with two captions each, and a tiny base model."""
    frames = root / "frames"
    frames.mkdir(parents=True)
    records = []
    for index, (name, rgb) in enumerate(COLOURS.items()):
        video = np.zeros((4, 40, 40, 3), dtype=np.uint8)
        video[:] = rgb
        video[:, :, :20] //= 2  # some structure inside the frame
        np.save(frames / f"v{index}.npy", video)
        records.append({"video_id": f"v{index}", "caption": f"a happy {name} screen", "joy": 1, "sen_id": 2 * index})
        records.append({"video": f"v{index}.mp4", "caption": f"the {name} video", "sen_id": 2 * index + 1, "joy": 0})
    captions = root / "captions.jsonl"
    captions.write_text("".join(json.dumps(r) + "\n" for r in records))
    base = build_tiny_clip([r["caption"] for r in records], root / "base", seed=0)
    return {"frames": frames, "captions": captions, "base": base}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("train-data"))


def settings(data, out, **overrides):
    values = dict(
        model=str(data["base"]), captions=str(data["captions"]), frames=str(data["frames"]), out=str(out),
        num_frames=4, batch_size=4, epochs=2, lr=2e-3, lr_new=2e-3, warmup=0.1, seed=3, threads=1,
    )  # fmt: skip
    values.update(overrides)
    return make_config({}, values)


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


def test_cli_trains_writes_metrics_and_checkpoints(data, tmp_path, run_cli):
    out = tmp_path / "model"
    result = run_cli(
        "train", "--model", data["base"], "--captions", data["captions"], "--frames", data["frames"],
        "--out", out, "--val-captions", data["captions"], "--num-frames", "4", "--batch-size", "4",
        "--epochs", "3", "--lr", "3e-3", "--lr-new", "3e-3", "--video-encoder", "vip", "--threads", "1",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.stdout == b""
    epoch_lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    timing = r"  \((\d+s|\d+m\d\ds) elapsed, ((\d+s|\d+m\d\ds) left|estimating)\)$"
    assert epoch_lines[0].endswith(" elapsed, estimating)")  # the first epoch pays the start-up
    assert all(re.search(r"^epoch \d/3: loss \d+\.\d{4}  val t2v R@1 [\d.]+ R@5 [\d.]+" + timing, line)
               for line in epoch_lines), epoch_lines
    assert epoch_lines[-1].endswith(", 0s left)")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    epochs = [r for r in records if "train_loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 7))
    assert {"lr", "lr_new", "temperature", "step_time", "videos_per_s"} <= set(steps[0])
    assert {r["objective"] for r in steps} == {"infonce"} and "logit_bias" not in steps[0]  # CLIP's loss
    assert [r["epoch"] for r in epochs] == [0, 1, 2]
    assert {"R@1", "R@5", "R@10"} <= set(epochs[0]["val"]["t2v"])
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert os.readlink(out / "last") == "checkpoints/step-0000006"
    assert (out / "best" / "emoret.json").exists() and (out / "last" / "train_state.pt").exists()
    from emoret.model import load_model

    model = load_model(out)  # the best checkpoint
    assert model.config.video_encoder == "vip" and model.config.emotion and model.num_frames == 4
    assert model.fingerprint == json.loads((out / "best" / "emoret.json").read_text())["fingerprint"]


def test_resume_after_a_kill_gives_the_same_weights(data, tmp_path):
    whole = train(settings(data, tmp_path / "whole", batch_size=2, save_every=3))

    class Killed(Exception):
        pass

    def kill_at_step_7(record):
        if record.get("step") == 7 and "loss" in record:
            raise Killed()

    interrupted = settings(data, tmp_path / "killed", batch_size=2, save_every=3)
    with pytest.raises(Killed):
        train(interrupted, on_record=kill_at_step_7)
    assert os.readlink(tmp_path / "killed" / "last") == "checkpoints/step-0000006"  # mid-epoch 2
    resumed = train(interrupted, resume=True)
    first, second = weights(whole / "last"), weights(resumed / "last")
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    drop_time = lambda text: [  # noqa: E731
        {k: v for k, v in json.loads(line).items() if k not in ("step_time", "videos_per_s")} for line in text.splitlines()
    ]
    assert drop_time((whole / "metrics.jsonl").read_text()) == drop_time((resumed / "metrics.jsonl").read_text())


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_global_batch(data, tmp_path):
    common = [
        "--model", str(data["base"]), "--captions", str(data["captions"]), "--frames", str(data["frames"]),
        "--num-frames", "2", "--epochs", "1", "--lr", "1e-3", "--lr-new", "1e-3", "--seed", "1", "--warmup", "0",
        "--threads", "1",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "emoret_cli", "train"]
    done = subprocess.run(
        cmd + common + ["--out", str(tmp_path / "ddp"), "--batch-size", "2"], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    single = train(make_config({}, _flags_to_settings(common + ["--out", str(tmp_path / "one"), "--batch-size", "4"])))
    metrics = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in metrics if "loss" in r] == [1, 2]  # 8 videos / (2 × 2) a step
    ddp, one = weights(tmp_path / "ddp" / "last"), weights(single / "last")
    base = load_file(str(data["base"] / "model.safetensors"))
    name = "vision_model.encoder.layers.0.mlp.fc1.weight"
    assert not torch.allclose(ddp[name], base[name], atol=1e-4)  # it trained
    for key in one:
        assert torch.allclose(ddp[key], one[key], atol=1e-5), key


def _flags_to_settings(flags: list[str]) -> dict:
    pairs = dict(zip(flags[::2], flags[1::2], strict=True))
    return {k.lstrip("-").replace("-", "_"): v for k, v in pairs.items()}


def run_train(run_cli, data, out, *extra):
    return run_cli(
        "train", "--model", data["base"], "--captions", data["captions"], "--frames", data["frames"], "--out", out,
        "--threads", "1", *extra,
    )  # fmt: skip


def test_bad_input_is_one_line_and_exit_2(data, tmp_path, run_cli):
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"video_id": "v0", "caption": "red"}\n{"video_id": "nope", "caption": "ghost"}\n')
    result = run_cli("train", "--model", data["base"], "--captions", missing, "--frames", data["frames"], "--out", tmp_path / "a")
    assert result.code == 2 and result.stderr.count("\n") == 1
    assert f"{missing}:2: video 'nope' has no frames" in result.stderr

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run_cli("train", "--model", data["base"], "--captions", empty, "--frames", data["frames"], "--out", tmp_path / "b")
    assert result.code == 2 and "no captions" in result.stderr

    result = run_train(run_cli, data, tmp_path / "c", "--batch-size", "9")
    assert result.code == 2 and "batch size 9 is above the 8 videos" in result.stderr

    config = tmp_path / "train.yaml"
    config.write_text("epochs: 2\nlearning_rate: 0.1\n")
    result = run_train(run_cli, data, tmp_path / "d", "--config", config)
    assert result.code == 2 and "unknown key 'learning_rate'" in result.stderr

    result = run_train(run_cli, data, tmp_path / "e", "--video-encoder", "transformer")
    assert result.code == 2 and "video_encoder must be vip or meanpool" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_existing_run_needs_resume_and_same_settings(data, tmp_path, run_cli):
    out = tmp_path / "run"
    assert run_train(run_cli, data, out, "--epochs", "1", "--num-frames", "2", "--batch-size", "8").code == 0
    again = run_train(run_cli, data, out, "--epochs", "1", "--num-frames", "2", "--batch-size", "8")
    assert again.code == 2 and "--resume" in again.stderr
    changed = run_cli("train", "--out", out, "--resume", "--epochs", "3")
    assert changed.code == 0, changed.stderr  # more epochs: allowed, the run goes on
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    assert [r["epoch"] for r in records if "train_loss" in r] == [0, 1, 2]
    other = run_cli("train", "--out", out, "--resume", "--lr", "0.5")
    assert other.code == 2 and "lr differs" in other.stderr


def test_a_run_that_fails_its_checks_writes_nothing_and_blocks_nothing(data, tmp_path, run_cli):
    out = tmp_path / "run"
    csv = tmp_path / "caps.csv"
    csv.write_text("video_id,caption\nv0,a red screen\n")
    common = ("--model", data["base"], "--frames", data["frames"], "--out", out, "--threads", "1",
              "--epochs", "1", "--num-frames", "2", "--batch-size", "8")
    bad = run_cli("train", "--captions", csv, *common)
    assert bad.code == 2 and str(csv) in bad.stderr
    assert not out.exists()  # nothing written, not even the directory

    missing_model = run_cli("train", "--captions", data["captions"], *common[2:], "--model", tmp_path / "no-model")
    assert missing_model.code == 2 and "no such file or directory" in missing_model.stderr
    assert not out.exists()

    good = run_cli("train", "--captions", data["captions"], *common)
    assert good.code == 0, good.stderr
    assert (out / "train_config.json").exists() and (out / "last").exists()


def test_leftovers_of_a_run_without_a_step_do_not_block(data, tmp_path, run_cli):
    # What an older emoret left after a failed check: the settings, naming the bad captions.
    out = tmp_path / "run"
    out.mkdir()
    stale = settings(data, out, captions=str(tmp_path / "caps.csv"), epochs=1, num_frames=2, batch_size=8)
    from dataclasses import asdict

    (out / "train_config.json").write_text(json.dumps(asdict(stale)))
    (out / "metrics.jsonl").write_text("")
    resumed = run_cli("train", "--out", out, "--resume", "--captions", data["captions"], "--threads", "1")
    assert resumed.code == 0, resumed.stderr  # nothing was trained: starts afresh, captions may change
    assert json.loads((out / "train_config.json").read_text())["captions"] == str(data["captions"])

    fresh_out = tmp_path / "fresh"
    fresh_out.mkdir()
    (fresh_out / "train_config.json").write_text(json.dumps(asdict(stale)))
    fresh = run_train(run_cli, data, fresh_out, "--epochs", "1", "--num-frames", "2", "--batch-size", "8")
    assert fresh.code == 0, fresh.stderr


def test_a_run_that_fails_before_its_first_step_removes_what_it_wrote(data, tmp_path, monkeypatch):
    from emoret.train import loop

    def fail_in_step(self, pairs):
        raise RuntimeError("out of memory in the first step")

    out = tmp_path / "run"
    monkeypatch.setattr(loop._Trainer, "_step", fail_in_step)
    with pytest.raises(RuntimeError, match="first step"):
        train(settings(data, out, epochs=1, num_frames=2, batch_size=8))
    assert not (out / "train_config.json").exists() and not (out / "metrics.jsonl").exists()
    monkeypatch.undo()
    assert train(settings(data, out, epochs=1, num_frames=2, batch_size=8)) == out


def test_frames_are_picked_from_the_store_by_the_sampling_rule(data, tmp_path, run_cli):
    from emoret.model import load_model
    from emoret.train.data import FrameCache

    store = tmp_path / "frames"
    store.mkdir()
    video = np.repeat(np.arange(0, 250, 25, dtype=np.uint8)[:, None, None, None], 16, axis=1)
    np.save(store / "v.npy", np.repeat(np.repeat(video, 16, axis=2), 3, axis=3))  # 10 flat frames, 25 apart
    frames = np.load(store / "v.npy")
    model = load_model(data["base"])
    linspace = FrameCache(str(store), model, 4).get("v")
    middle = FrameCache(str(store), model, 4, rule="middle").get("v")
    assert torch.equal(linspace, model.preprocess_frames(frames[[0, 3, 6, 9]]))
    assert torch.equal(middle, model.preprocess_frames(frames[[1, 3, 6, 8]]))
    assert make_config({}, {"model": "m", "captions": "c", "frames": "f", "out": "o"}).sampling == "linspace"
    bad = run_train(run_cli, data, tmp_path / "bad", "--sampling", "random")
    assert bad.code == 2 and "sampling must be linspace or middle" in bad.stderr


def test_config_file_then_flags(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 7\nbatch-size: 16\nlr: 1.0e-5\nemotion: false\n")
    values = read_config_file(config)
    settings_ = make_config(values, {"model": "m", "captions": "c", "frames": "f", "out": "o", "epochs": 2, "lr": None})
    assert (settings_.epochs, settings_.batch_size, settings_.lr, settings_.emotion) == (2, 16, 1e-5, False)
    (tmp_path / "c.json").write_text('{"epochs": "many"}')
    with pytest.raises(InputError, match="epochs = 'many' is not a valid int"):
        make_config(read_config_file(tmp_path / "c.json"), {"model": "m", "captions": "c", "frames": "f", "out": "o"})


def test_settings_from_a_file_take_each_setting_type():
    required = {"model": "m", "captions": "c", "frames": "f", "out": "o"}
    values = {"num_frames": "8", "warmup": "0.1", "emotion": "off", "val_captions": 5, "threads": 2.0}
    settings_ = make_config(values, required)
    assert (settings_.num_frames, settings_.warmup, settings_.emotion) == (8, 0.1, False)
    assert (settings_.val_captions, settings_.threads) == ("5", 2)
    assert make_config({}, required).val_captions is None
    with pytest.raises(InputError, match="num_frames = 2.5 is not a valid int"):
        make_config({"num_frames": 2.5}, required)
    with pytest.raises(InputError, match="lr = 'fast' is not a valid float"):
        make_config({"lr": "fast"}, required)


def test_metrics_log_is_closed_when_the_run_fails(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with pytest.raises(RuntimeError):
        with MetricsLog(path, active=True) as metrics:
            metrics.write({"step": 1, "loss": 0.5})
            raise RuntimeError("crash mid-run")
    assert metrics.handle is None
    assert read_jsonl(path) == [{"step": 1, "loss": 0.5}]


def test_epoch_pairs_draw_one_caption_a_video_reproducibly(data):
    videos = load_video_captions(str(data["captions"]), str(data["frames"]))
    assert len(videos) == 8 and videos[0].captions == ["a happy red screen", "the red video"]
    assert videos[0].emotions[0][0] == 1
    pairs = epoch_pairs(videos, seed=0, epoch=0)
    assert sorted(v for v, _ in pairs) == list(range(8))
    assert pairs == epoch_pairs(videos, seed=0, epoch=0) and pairs != epoch_pairs(videos, seed=0, epoch=1)


def test_schedule_warms_up_then_decays_to_zero():
    factors = [lr_factor(step, 100, 0.1) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False)) and factors[-1] < 0.001


def test_epoch_clock_counts_the_epochs_of_this_run_and_estimates_what_is_left():
    from emoret_cli.train import EpochClock, duration

    now = [100.0]
    clock = EpochClock(250, now=lambda: now[0])
    now[0] += 20.0  # start-up and the first epoch: no estimate from it
    assert clock.epoch_done(0) == "epoch 1/250"
    assert clock.timing() == "20s elapsed, estimating"
    now[0] += 2.0
    clock.epoch_done(1)
    assert clock.timing() == "22s elapsed, 8m16s left"  # 248 more at 2 s, not at 20
    now[0] += 4.0
    clock.epoch_done(2)
    assert clock.timing() == "26s elapsed, 12m21s left"  # 247 at the mean of 2 and 4 s
    resumed = EpochClock(10, now=lambda: now[0])
    now[0] += 30.0
    assert resumed.epoch_done(4) == "epoch 5/10"  # resumed after 4: this run's first epoch
    assert resumed.timing() == "30s elapsed, estimating"
    now[0] += 10.0
    resumed.epoch_done(5)
    assert resumed.timing() == "40s elapsed, 40s left"
    single = EpochClock(1, now=lambda: now[0])
    single.epoch_done(0)
    assert single.timing() == "0s elapsed, 0s left"  # nothing left: nothing to estimate
    assert [duration(s) for s in (0.4, 59, 60, 185, 3599, 3600, 7620)] == ["0s", "59s", "1m00s", "3m05s", "59m59s",
                                                                         "1h00m", "2h07m"]
