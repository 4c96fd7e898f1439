"""The README's offline shell blocks run as written, in order, in a fresh directory.

A block is offline when the line just before its ```bash fence is an HTML comment that
starts ``<!-- offline`` (invisible on GitHub). Its commands run one after another in one
bash, as a reader pasting them into one shell would: ``cd`` and ``. .venv/bin/activate``
carry over to the next block. In a block of ``$ `` prompts only the prompted lines are
commands; the rest is output. The install that opens the README is not run: the
directory's ``.venv`` is the environment running this test, standing in for it.
The quickstart runs small (EMORET_QUICKSTART_VIDEOS, EMORET_QUICKSTART_EPOCHS, read by
examples/quickstart.sh); the commands themselves are the README's, unchanged.

Blocks marked ``<!-- hub-cache`` name a hub model and the reader's own files; they run, in
order, offline, with what a reader would have: the hub ids cached (a tiny random CLIP in
``$HF_HOME``, DESIGN.md's offline cache), the face model cached, videos in ``~/Videos``, and
in the working directory ``captions.json``, ``videos/`` and ``val.jsonl``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- offline"
HUB_MARKER = "<!-- hub-cache"
INSTALL = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install (?P<args>[^&]+?) && ")
# What the clone holds besides the repository's files: never linked into the test's directory.
NOT_CLONED = {".git", ".venv", "emoret-demo", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SMALL = {"EMORET_QUICKSTART_VIDEOS": "12", "EMORET_QUICKSTART_EPOCHS": "2"}


@dataclass
class Command:
    line: int  # in README.md, 1-based
    text: str


def offline_commands(readme: str, marker: str = MARKER) -> list[Command]:
    """The commands of the blocks marked ``marker``, in order."""
    lines = readme.splitlines()
    commands: list[Command] = []
    for number, line in enumerate(lines):
        if line.strip().startswith(marker):
            assert lines[number + 1] == "```bash", f"README.md:{number + 1}: {marker} must precede a ```bash fence"
            end = lines.index("```", number + 2)
            commands += _block_commands(lines[number + 2:end], first_line=number + 3)
    return commands


def _block_commands(body: list[str], first_line: int) -> list[Command]:
    transcript = any(line.startswith("$ ") for line in body)
    commands: list[Command] = []
    pending: Command | None = None
    for offset, line in enumerate(body):
        if pending is not None:  # a continuation line
            pending.text += "\n" + line
        elif transcript and not line.startswith("$ "):
            continue  # output
        elif line.strip() and not line.lstrip().startswith("#"):
            pending = Command(first_line + offset, line[2:] if transcript else line)
        if pending is not None and not line.endswith("\\"):
            commands.append(pending)
            pending = None
    assert pending is None, f"README.md:{first_line}: a block ends in a continuation line"
    return commands


def without_install(command: Command) -> Command | None:
    """The opening ``python3 -m venv .venv && .venv/bin/pip install … && REST`` as REST."""
    found = INSTALL.match(command.text)
    if not found:
        return command
    rest = command.text[found.end():]
    return Command(command.line, rest) if rest.strip() else None


def script(commands: list[Command], mark: Path) -> str:
    """One bash script: each command announced in ``mark``, the first that fails ends it."""
    lines = ["set -o pipefail"]
    for command in commands:
        where = f"README.md:{command.line}: {command.text}"
        lines.append(f"printf '%s\\n' {shlex.quote(where)} > {shlex.quote(str(mark))}")
        lines.append(f"{{ {command.text}\n}} || exit $?")
    lines.append(f": > {shlex.quote(str(mark))}")
    return "\n".join(lines) + "\n"


def clone_of_the_repository(root: Path) -> Path:
    """A directory that looks like a fresh clone after the install: the repository's files
    (linked) and ``.venv``, the environment running this test."""
    clone = root / "emoret"
    clone.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in NOT_CLONED:
            (clone / entry.name).symlink_to(entry)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    return clone


def clean_environment(home: Path) -> dict[str, str]:
    """A login's environment: no venv on PATH (the README must activate it), a fresh home."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    environ = {key: value for key, value in os.environ.items()
               if key not in {"VIRTUAL_ENV", "PYTHONPATH", "EMORET_INDEX", "EMORET_CACHE", "XDG_CACHE_HOME",
                              "HF_HOME", "HF_HUB_CACHE"}}
    environ.update(PATH=path, HOME=str(home), HF_HUB_OFFLINE="1", **SMALL)
    return environ


def test_the_readme_marks_its_offline_blocks():
    commands = offline_commands((ROOT / "README.md").read_text())
    texts = [c.text for c in commands]
    assert texts[0].startswith("python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e . && ")
    assert texts[1] == ". .venv/bin/activate"  # right after the install, before any `emoret`
    assert any("examples/make_demo.py" in t for t in texts) and any("| emoret gallery" in t for t in texts)


def test_the_install_is_the_one_ci_runs():
    """The README's install (which this test does not run) is .ci/run's, so CI tests what a reader gets."""
    commands = [Command(0, line) for line in (ROOT / "README.md").read_text().splitlines()]
    readme_installs = {m["args"].strip() for c in commands if (m := INSTALL.match(c.text))}
    ci = (ROOT / ".ci" / "run").read_text()
    ci_install = re.search(r"\.venv/bin/pip install -q (.+)", ci)
    assert ci_install and ci_install.group(1).strip() in readme_installs
    assert "-c constraints.txt -e ." in readme_installs


def run_commands(commands: list[Command], cwd: Path, env: dict[str, str], scratch: Path) -> str:
    """Runs the commands in one bash; "" when all succeed, else which failed, how, and its stderr's end."""
    mark = scratch / "running"
    (scratch / "readme.sh").write_text(script(commands, mark))
    result = subprocess.run(["bash", str(scratch / "readme.sh")], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=900)
    failed = mark.read_text().strip()
    if result.returncode == 0 and not failed:
        return ""
    tail = "\n".join(result.stderr.splitlines()[-25:])
    return f"{failed or 'the README blocks'}\nexited {result.returncode}; its stderr ends:\n{tail}"


def test_a_failing_command_is_named_with_its_line(tmp_path):
    """The harness itself: a command that fails, even inside an && list or a pipe, stops the run and is named;
    state (cd, variables) carries from block to block."""
    readme = ("# t\n\n<!-- offline -->\n```bash\nmkdir d && cd d\nexport X=1\n```\n\n"
              "<!-- offline -->\n```bash\n$ test \"$X\" = 1 && test \"${PWD##*/}\" = d\nok\n"
              "$ false && echo never\n$ echo after\n```\n\n```bash\nfalse\n```\n")
    commands = offline_commands(readme)
    assert [c.text for c in commands][-2:] == ["false && echo never", "echo after"]
    report = run_commands(commands, tmp_path, dict(os.environ), tmp_path)
    assert report.startswith("README.md:13: false && echo never\nexited 1"), report
    piped = [Command(3, "false | cat"), Command(4, "true")]
    assert run_commands(piped, tmp_path, dict(os.environ), tmp_path).startswith("README.md:3: false | cat")
    assert run_commands([Command(5, "true")], tmp_path, dict(os.environ), tmp_path) == ""


@pytest.mark.slow  # about 70 s of CPU: a dozen commands that each import torch and transformers
@pytest.mark.skipif(sys.prefix == sys.base_prefix or not (Path(sys.prefix) / "bin" / "activate").exists(),
                    reason="the README's commands run in the venv its install makes; run pytest from one")
def test_the_readme_offline_blocks_run_as_written(tmp_path):
    commands = [c for c in map(without_install, offline_commands((ROOT / "README.md").read_text())) if c]
    clone = clone_of_the_repository(tmp_path)
    (tmp_path / "home").mkdir()
    report = run_commands(commands, clone, clean_environment(tmp_path / "home"), tmp_path)
    assert not report, report
    demo = clone / "emoret-demo"
    assert (demo / "index" / "meta.json").exists() and (demo / "long-index" / "meta.json").exists()
    assert "<html" in (demo / "page.html").read_text().lower()


HUB_IDS = re.compile(r"--model ([\w.-]+/[\w.-]+)")


def readers_files(home: Path, work: Path, hub_id: str) -> None:
    """What the hub-cache blocks expect a reader to have, made small: the hub model cached where
    the hub puts it (~/.cache/huggingface), the face model cached, a few videos in ~/Videos,
    and captions, videos and validation captions in ``work``."""
    from feel_data import tiny_expression_model
    from test_hub_models import hub_cache

    from emoret.demo.synthetic import make_videos
    from emoret.model.tiny import build_tiny_clip
    from emoret.perception.face_model import DEFAULT_FACE_MODEL

    small = {"width": 64, "height": 64, "duration": 1.0}
    make_videos(home / "Videos", 3, seed=1, **small)
    _, records = make_videos(work / "videos", 32, seed=2, **small)  # train's default batch: 32 videos
    (work / "captions.json").write_text(json.dumps(records))
    (work / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[::5]))
    model = build_tiny_clip([r["caption"] for r in records], work.parent / "tiny-clip", seed=0)
    hub_cache(work.parent, Path(model), hub_id).rename(home / ".cache" / "huggingface")
    tiny_expression_model(home / ".cache" / "emoret" / "face" / f"{DEFAULT_FACE_MODEL}.onnx")


@pytest.mark.slow  # about 65 s of CPU, as the offline blocks
@pytest.mark.skipif(sys.prefix == sys.base_prefix or not (Path(sys.prefix) / "bin" / "activate").exists(),
                    reason="the README's commands run in the venv its install makes; run pytest from one")
def test_the_readme_hub_blocks_run_offline_with_the_models_cached(tmp_path):
    readme = (ROOT / "README.md").read_text()
    commands = offline_commands(readme, HUB_MARKER)
    hub_ids = {m for c in commands for m in HUB_IDS.findall(c.text)}
    assert "openai/clip-vit-base-patch32" in hub_ids
    assert len(hub_ids) == 1, f"one cache holds one model: {hub_ids}"
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / ".cache").mkdir()
    readers_files(home, work, hub_ids.pop())
    environ = clean_environment(home)
    environ["PATH"] = str(Path(sys.prefix) / "bin") + os.pathsep + environ["PATH"]  # activated, as the README says
    report = run_commands(commands, work, environ, tmp_path)
    assert not report, report
    assert (home / ".emoret-index" / "meta.json").exists() and (work / "tsne.png").exists()
