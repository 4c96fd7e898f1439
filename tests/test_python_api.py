"""The public Python API: the README's example runs, and gives the hits ``emoret search`` prints."""

from __future__ import annotations

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
