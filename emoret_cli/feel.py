"""``emoret feel``: each video's emotions, read from its scene and its faces."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret import api
from emoret_cli.common import EXIT_FAILED, exit_with, fail, message, progress
from emoret_cli.modelopt import load_model_or_fail
from emoret_cli.rayopt import ACTORS_HELP, RAY_HELP

EPILOG = (
    "Example: emoret feel --model model/ --frames frames/ -o feel.jsonl\n\n"
    "emoret feel --model openai/clip-vit-base-patch32 ~/Videos --face-model enet_b0_8_best_vgaf.onnx > feel.jsonl\n\n"
    "Then: emoret index videos --emotions feel.jsonl --out my-index; emoret search 'a party' --emotion joy\n\n"
    "The face model (HSEmotion, AffectNet, 8 classes) is fetched once into $EMORET_CACHE/face "
    "(default ~/.cache/emoret/face); offline, pass --face-model PATH or --no-faces."
)

def COMMAND(
    videos: Optional[List[Path]] = typer.Argument(None, help="Video files or directories, decoded on the fly."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="A frame store made by 'emoret extract-frames'."),
    model_spec: Optional[str] = typer.Option(None, "--model", "-m", help="CLIP or emoret model for the scene (hub id or directory)."),
    no_scene: bool = typer.Option(False, "--no-scene", help="Do not read the scene (no model needed)."),
    no_faces: bool = typer.Option(False, "--no-faces", help="Do not read faces."),
    face_model: Optional[Path] = typer.Option(None, "--face-model", help="A local facial-expression ONNX file (HSEmotion's 8-class contract)."),
    face_share: float = typer.Option(0.5, "--face-share", min=0.0, max=1.0, help="Weight of the faces when every frame shows one (less when fewer do)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write here (atomically) instead of stdout."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, help="Videos a batch."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
    ray_actors: int = typer.Option(1, "--ray-actors", min=1, help=ACTORS_HELP),
) -> None:
    """Add `video_emotions` (8 NRC emotions + neutral) and `faces` to each video's record."""
    if bool(videos) == (frames is not None):
        fail("give video paths or --frames DIR (one of them)")
    if no_scene and no_faces:
        fail("--no-scene and --no-faces leave nothing to read")
    if not no_scene and model_spec is None:
        fail("reading the scene needs --model (or pass --no-scene)")
    if no_faces and face_model is not None:
        fail("--face-model and --no-faces contradict each other")

    faces = False if no_faces else _face_reader(face_model, scene_too=not no_scene)
    if ray is not None:
        _feel_on_ray(None if no_scene else model_spec, videos or [], frames, faces is not False, face_model,
                     face_share, batch_size, output, api.RayOptions(ray or None, ray_actors, device))
        return
    model = None if no_scene else load_model_or_fail(str(model_spec), device)
    failures: list[api.VideoFailure] = []

    def report(failure: api.VideoFailure) -> None:
        failures.append(failure)
        message(f"emoret: {api.VideoRecord(failure.record).label}: {failure.reason}")

    with progress() as bar:
        task = bar.add_task("reading emotions", total=0)
        try:
            records = api.feel(videos or [], frames, model, faces, None, face_share, batch_size, message,
                               on_total=lambda n: bar.update(task, total=n), on_step=lambda n: bar.advance(task, n),
                               on_failure=report)
        except api.NoVideos as err:
            fail(str(err))
    api.write_records(records, output)
    message(f"feel: {len(records)} videos" + (f", {len(failures)} failed" if failures else ""))
    if failures:
        exit_with(EXIT_FAILED)


def _face_reader(face_model: Optional[Path], scene_too: bool) -> api.FaceReader:
    try:
        return api.face_reader(face_model)
    except api.FacesUnavailable as err:
        # Without faces the scene can still be read: the way on for a newcomer offline.
        also = ", or pass --no-faces to read the scene only" if scene_too and "--no-faces" not in str(err) else ""
        fail(f"{err}{also}")


def _feel_on_ray(model_spec: Optional[str], videos: List[Path], frames: Optional[Path], faces: bool,
                 face_model: Optional[Path], face_share: float, batch_size: int, output: Optional[Path],
                 options: api.RayOptions) -> None:
    with progress() as bar:
        task = bar.add_task("reading emotions on Ray", total=None)
        records, failures = api.feel_on_ray(model_spec, videos, frames, faces, face_model, face_share, batch_size,
                                            options, say=message,
                                            on_items=lambda done, total: bar.update(task, completed=done, total=total))
    if not records and not failures:
        fail("no videos to read")
    api.write_records(records, output)
    message(f"feel: {len(records)} videos" + (f", {len(failures)} failed" if failures else ""))
    if failures:
        exit_with(EXIT_FAILED)
