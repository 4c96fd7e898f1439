"""The public Python API: the README's example runs, and gives the hits ``emoret search`` prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- python-example"


def readme_example() -> str:
    """The ```python block just after the README's python-example marker."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith(MARKER))
    assert lines[start + 1] == "```python", "README.md: the python-example marker must precede a ```python fence"
    end = lines.index("```", start + 2)
    return "\n".join(lines[start + 2:end]) + "\n"


def _copy_set(name: Path, to: Path) -> None:
    for suffix in (".npy", ".jsonl", ".meta.json"):
        shutil.copy(Path(f"{name}{suffix}"), to / f"videos{suffix}")


def test_the_readme_example_gives_the_hits_of_emoret_search(env, run_cli, tmp_path, monkeypatch, capsys):
    _copy_set(env.videos, tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    printed = capsys.readouterr().out.splitlines()

    queries = "a happy dog plays in the park\na scary storm\n"
    cli = run_cli("search", "-", "--index", tmp_path / "my-index", "--top", "3", "--json", stdin=queries)
    assert cli.code == 0, cli.stderr
    expected = []
    for query in queries.splitlines():
        records = [record for record in cli.records if record["query"] == query]
        assert records, query
        expected.append(f"{query} {records[0]['query_emotions']}")
        expected += [f"  {r['rank']}. {r['score']:.3f} {r['video_id']}" for r in records]
    assert printed == expected
    # Whole records, not only what the example prints: the last answer's equal the command's.
    last = namespace["answer"]
    assert last.records() == [record for record in cli.records if record["query"] == last.query]


def test_import_emoret_loads_neither_torch_nor_numpy():
    code = "import sys, emoret; emoret.__version__; print(sorted({'torch', 'numpy', 'emoret.api'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_library_module_imports_the_cli():
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "emoret").rglob("*.py")
                 if "emoret_cli" in path.read_text(encoding="utf-8")]
    assert offenders == []


@pytest.mark.parametrize("name", ["create_model", "build_index", "refresh_index", "open_index", "search",
                                  "query_encoder", "annotate", "embed_captions", "embed_videos", "feel", "evaluate",
                                  "ModelOptions", "SearchOptions", "IndexParams", "Cutting"])
def test_the_api_names_load_on_first_use(name):
    import emoret

    assert getattr(emoret, name).__doc__


def test_evaluate_gives_the_figures_of_emoret_eval(env, run_cli):
    import emoret

    cli = run_cli("eval", "--texts", env.texts, "--videos", env.videos, "--json")
    assert cli.code == 0, cli.stderr
    reports = emoret.evaluate(env.texts, env.videos)
    assert {name: report.as_dict() for name, report in reports.items()} == json.loads(cli.stdout)


@pytest.mark.parametrize("what", ["captions", "frames"])
def test_embed_writes_the_set_emoret_embed_writes(env, run_cli, tmp_path, what):
    import numpy as np

    import emoret
    from emoret.records import read_captions

    model = emoret.create_model(str(env.model_dir), emoret.ModelOptions(device="cpu"))
    if what == "captions":
        written = emoret.embed_captions(model, str(env.model_dir), read_captions(env.captions), tmp_path / "api")
        cli = run_cli("embed", "--model", env.model_dir, "--texts", env.captions, "--out", tmp_path / "cli",
                      "--device", "cpu")
    else:
        written = emoret.embed_videos(model, str(env.model_dir), frames=env.frames, out=tmp_path / "api")
        cli = run_cli("embed", "--model", env.model_dir, "--frames", env.frames, "--out", tmp_path / "cli",
                      "--device", "cpu")
    assert cli.code == 0, cli.stderr
    assert written.path == tmp_path / "api.npy" and written.count > 0
    np.testing.assert_allclose(np.load(tmp_path / "api.npy"), np.load(tmp_path / "cli.npy"), atol=1e-6)
    assert (tmp_path / "api.jsonl").read_text() == (tmp_path / "cli.jsonl").read_text()
    ours, theirs = (json.loads((tmp_path / f"{name}.meta.json").read_text()) for name in ("api", "cli"))
    assert {k: v for k, v in ours.items() if k != "created"} == {k: v for k, v in theirs.items() if k != "created"}


def test_refresh_index_keeps_an_index_in_step_like_emoret_index(env, run_cli, tmp_path):
    import numpy as np

    import emoret
    from emoret.demo.scenes import make_scenes
    from emoret.demo.synthetic import make_video

    videos = tmp_path / "videos"
    videos.mkdir()
    for scene in make_scenes(3, seed=0):
        make_video(videos / f"{scene.video_id}.mp4", scene, width=64, height=48, fps=8, duration=0.5)
    model = emoret.create_model(str(env.model_dir), emoret.ModelOptions(device="cpu"))
    first = emoret.refresh_index(tmp_path / "api", [videos], model, str(env.model_dir))
    assert (first.kept, first.embedded, first.removed, first.written) == (0, 3, 0, True)
    again = emoret.refresh_index(tmp_path / "api", [videos], model, str(env.model_dir))
    assert (again.kept, again.embedded, again.written) == (3, 0, False)
    cli = run_cli("index", "--model", env.model_dir, videos, "--out", tmp_path / "cli", "--device", "cpu")
    assert cli.code == 0, cli.stderr
    ours, theirs = emoret.open_index(tmp_path / "api"), emoret.open_index(tmp_path / "cli")
    assert ours.items == theirs.items
    np.testing.assert_allclose(ours.vectors(), theirs.vectors(), atol=1e-6)
    query = emoret.search(ours, ["a happy dog"])[0].records()
    assert query == emoret.search(theirs, ["a happy dog"])[0].records()


def test_feel_and_annotate_give_the_records_of_their_commands(env, run_cli):
    import emoret

    model = emoret.create_model(str(env.model_dir), emoret.ModelOptions(device="cpu"))
    cli = run_cli("feel", "--model", env.model_dir, "--frames", env.frames, "--no-faces", "--device", "cpu")
    assert cli.code == 0, cli.stderr
    assert emoret.feel(frames=env.frames, model=model, faces=False) == cli.records
    annotated = run_cli("annotate", env.captions)
    assert annotated.code == 0, annotated.stderr
    assert list(emoret.annotate(env.captions)) == annotated.records


def _emoret_imports(path: Path) -> set[str]:
    """The modules of emoret that a file imports (at any depth of the file)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "emoret"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "emoret":
            found |= {f"{node.module}.{alias.name}" if node.module == "emoret" else str(node.module)
                      for alias in node.names}
    return found


def test_the_commands_import_only_the_public_api():
    allowed = {"emoret", "emoret.api", "emoret.errors"}
    beyond = {str(path.relative_to(ROOT)): sorted(_emoret_imports(path) - allowed)
              for path in sorted((ROOT / "emoret_cli").glob("*.py"))}
    assert {name: modules for name, modules in beyond.items() if modules} == {}


def test_every_name_of_the_api_loads_and_importing_it_loads_neither_numpy_nor_torch():
    probe = ("import sys\nfrom emoret import api\nloaded = {'numpy', 'torch'} & set(sys.modules)\n"
             "print(sorted(loaded), [name for name in api.__all__ if getattr(api, name, None) is None])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[] []", done.stdout + done.stderr
