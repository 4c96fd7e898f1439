"""Usage errors are click's short usage and one error line, exit 2, on the typer in use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USAGE_ERRORS = {
    "misspelt option": (["annotate", "--treshold", "0.6"], "No such option: --treshold"),
    "misspelt command": (["annotat"], "No such command 'annotat'"),
    "missing argument": (["search"], "Missing argument"),
    "bad number": (["filter", "--thr", "abc"], "'--thr'"),
    "no command": ([], "Missing command"),
}


@pytest.mark.parametrize("args, says", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_is_short_usage_and_exit_2(run_cli, args, says):
    result = run_cli(*args)
    assert result.code == 2
    assert result.stdout == b""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Usage: emoret")
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 5, result.stderr


def test_usage_error_from_the_installed_command():
    # The real entry point in a fresh interpreter, as a user meets it.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "emoret_cli", "annotate", "--treshold", "0.6"],
                          check=False, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("Usage: emoret annotate") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["annotate", "filter", "extract-frames", "train", "embed", "index",
                                     "search", "eval", "tsne"])
def test_help_shows_no_python_type_placeholders(run_cli, command):
    result = run_cli(command, "--help")
    assert result.code == 0
    help_text = result.stdout.decode()
    assert "Usage" in help_text and "--help" in help_text and "-h" in help_text
    for placeholder in ("<bool>", "<list[", "list[Path]", "list[str]"):
        assert placeholder not in help_text, (placeholder, help_text)


def test_root_help_and_version(run_cli):
    assert "<bool>" not in run_cli("-h").stdout.decode()
    version = run_cli("--version")
    assert version.code == 0 and version.stdout.decode().startswith("emoret ")
