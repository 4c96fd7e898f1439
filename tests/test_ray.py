"""``embed --ray``: the same set as the local path on a local Ray and on a two-node cluster,
through a killed actor and a killed job. One cluster serves the module (a Ray start costs
seconds); no Ray process outlives the module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # Ray Data warns of its own settings

from fault_tools import descendants  # noqa: E402

from emoret.cluster.embed import embed_on_ray  # noqa: E402
from emoret.cluster.jobs import RayOptions  # noqa: E402
from emoret.embedding import sets, shards  # noqa: E402
from emoret.embedding.files import load_embeddings, model_meta  # noqa: E402

BATCH = 2  # the shards hold a multiple of it: the same batches, so the same vectors, as the local path
SMALL = RayOptions(actor_cpus=0.5, decode_cpus=0.5, shard_size=2)  # fits two 1-CPU nodes


def started(pid: int) -> str | None:
    """The start time of ``pid`` as /proc says (None: gone or a zombie), so a reused pid is not taken for it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


@pytest.fixture(scope="module")
def before():
    """Every process the module's Ray runs start (this process's descendants, sampled as they
    run): none may outlive the module. Another user's Ray on the machine is not ours to count."""
    seen: dict[int, str] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            for pid in descendants(os.getpid()):
                if pid not in seen and (start := started(pid)) is not None:
                    seen[pid] = start

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    yield seen
    stop.set()
    sampler.join()
    deadline = time.monotonic() + 30
    while (left := [pid for pid, start in seen.items() if started(pid) == start]) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # counted, then stopped: a failing check leaves nothing running
    assert not left, f"Ray processes left behind: {sorted(left)}"


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """12 short videos (large enough that decoding them takes a moment) and one that is not a video."""
    from emoret.demo.synthetic import make_scenes, make_video

    directory = tmp_path_factory.mktemp("ray-videos")
    for scene in make_scenes(12, seed=3):
        make_video(directory / f"{scene.video_id}.mp4", scene, width=160, height=120, fps=24, duration=2.0)
    (directory / "broken.mp4").write_bytes(b"not a video at all")
    return directory


@pytest.fixture(scope="module")
def local(env, videos, tmp_path_factory):
    """The local path's set of the videos, at fp32."""
    out = tmp_path_factory.mktemp("ray-local") / "videos"
    meta = {**model_meta(env.model, env.model_dir), "precision": "fp32", "sampling": "linspace"}
    items = sets.video_items(env.model, [videos])
    written = sets.video_set(env.model, items, out, meta, BATCH, precision="fp32", decode_workers=0)
    assert written.count == 12 and len(written.failures) == 1
    return load_embeddings(out)


def assert_same_set(name, local) -> None:
    ours = load_embeddings(name)
    assert [r["video_id"] for r in ours.records] == [r["video_id"] for r in local.records]
    assert ours.records == local.records
    assert float(np.abs(ours.vectors - local.vectors).max()) <= 1e-6
    for key in ("model", "fingerprint", "dim", "precision", "sampling", "kind", "count"):
        assert ours.meta[key] == local.meta[key], key
    assert not [p for p in shards.shards_dir(name).iterdir() if p.name.endswith(".tmp")]


def test_a_local_ray_run_equals_the_local_path(env, videos, local, run_cli, tmp_path, monkeypatch, before):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # local: a new Ray of its own even where one runs on this machine (bare --ray would join it)
    result = run_cli("embed", "--ray", "local", "--model", env.model_dir, videos, "--out", tmp_path / "v", "--precision",
                     "fp32", "-b", str(BATCH), "--ray-shard-size", "4")
    assert result.code == 1, result.stderr  # broken.mp4: reported, skipped, the run failed as the local one does
    assert "broken.mp4" in result.stderr and "Traceback" not in result.stderr
    assert not ray.is_initialized()  # the local Ray it started is gone
    assert_same_set(tmp_path / "v", local)
    assert len(list(shards.shards_dir(tmp_path / "v").glob("*.meta.json"))) == 4  # 13 items, 4 a shard


@pytest.fixture(scope="module")
def cluster(before):
    """Two nodes of one CPU each, on this machine."""
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    made.add_node(num_cpus=1)
    made.wait_for_nodes()
    yield made
    if ray.is_initialized():
        ray.shutdown()
    made.shutdown()


def test_a_two_node_cluster_run_equals_the_local_path(env, videos, local, cluster, tmp_path):
    options = RayOptions(cluster.address, actors=2, actor_cpus=0.5, decode_cpus=0.5, shard_size=2)
    said: list[str] = []
    written = embed_on_ray(str(env.model_dir), [videos], out=tmp_path / "v", options=options, batch_size=BATCH,
                           precision="fp32", say=said.append)
    assert written.count == 12 and [f.record["video"] for f in written.failures] == ["broken.mp4"]
    assert any("broken.mp4" in line for line in said)
    assert_same_set(tmp_path / "v", local)
    with pytest.raises(Exception, match="need 3 CPUs, the cluster has 2: run fewer actors"):  # else: a job waiting forever
        embed_on_ray(str(env.model_dir), [videos], out=tmp_path / "w", options=RayOptions(cluster.address, actors=2))


def kill_first(title: bytes, once: threading.Event, when) -> int | None:
    """Wait for ``when()``, then kill -9 the first process whose title starts with ``title``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not once.is_set():
        if when():
            for pid in descendants(os.getpid()):
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title):
                        os.kill(pid, signal.SIGKILL)
                        return pid
                except OSError:
                    continue
        time.sleep(0.005)
    return None


def test_a_killed_actor_is_retried_to_the_same_output(env, videos, local, cluster, tmp_path):
    out = tmp_path / "v"
    done = threading.Event()
    killed: dict[str, object] = {}

    def killer() -> None:
        first_shard = lambda: any(shards.shards_dir(out).glob("*.meta.json"))  # noqa: E731
        killed["pid"] = kill_first(b"ray::MapWorker(Map(ShardEmbedder))", done, first_shard)
        killed["manifest"] = (tmp_path / "v.meta.json").exists()

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        embed_on_ray(str(env.model_dir), [videos], out=out, options=RayOptions(cluster.address, **_small()),
                     batch_size=BATCH, precision="fp32")
    finally:
        done.set()
        thread.join()
    assert killed["pid"] is not None and killed["manifest"] is False  # killed mid-run
    assert_same_set(out, local)


def _small() -> dict:
    return {"actor_cpus": SMALL.actor_cpus, "decode_cpus": SMALL.decode_cpus, "shard_size": SMALL.shard_size}


def test_a_killed_job_leaves_no_manifest_and_its_rerun_computes_only_the_missing_shards(
        env, videos, local, cluster, tmp_path):
    out = tmp_path / "v"
    command = [sys.executable, "-m", "emoret_cli", "embed", "--ray", cluster.address, "--model", str(env.model_dir),
               str(videos), "--out", str(out), "--precision", "fp32", "-b", str(BATCH), "--ray-shard-size", "2"]
    with open(tmp_path / "stderr", "wb") as stderr:
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(shards.shards_dir(out).glob("*.meta.json")) and time.monotonic() < deadline:
            assert job.poll() is None, (tmp_path / "stderr").read_text()
            time.sleep(0.005)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    assert not (tmp_path / "v.meta.json").exists()  # nothing half-done taken as a set
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shards.shards_dir(out).glob("*.meta.json")
            if shards.checked_shard(p.parent / p.name[: -len(".meta.json")]) is not None}
    assert 0 < len(kept) < 7, kept
    said: list[str] = []
    embed_on_ray(str(env.model_dir), [videos], out=out, options=RayOptions(cluster.address, **_small()),
                 batch_size=BATCH, precision="fp32", say=said.append)
    assert f"{len(kept)} of 7 shards already written whole, kept; embedding {7 - len(kept)}" in " ".join(said)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shards.shards_dir(out).glob("*.meta.json")}
    assert all(after[name] == stamp for name, stamp in kept.items())  # not written again
    assert_same_set(out, local)


def test_feel_on_ray_reads_the_same_emotions_as_the_local_path(env, videos, cluster):
    from emoret.cluster.feel import feel_on_ray
    from emoret.perception.run import feel, feel_items

    here = feel(feel_items(env.model, [videos]), env.model, batch_size=BATCH)
    there, failures = feel_on_ray(str(env.model_dir), [videos], faces=False, batch_size=BATCH,
                                  options=RayOptions(cluster.address, **_small()))
    assert [f.record["video"] for f in failures] == ["broken.mp4"]
    assert [r["video_id"] for r in there] == [r["video_id"] for r in here] and len(here) == 12
    for ours, theirs in zip(there, here, strict=True):
        assert ours["video_emotions"].keys() == theirs["video_emotions"].keys()
        assert max(abs(ours["video_emotions"][k] - theirs["video_emotions"][k]) for k in ours["video_emotions"]) <= 1e-3
