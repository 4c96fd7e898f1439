"""What every subcommand shares: stderr console, errors as one line, exit codes."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

EXIT_FAILED = 1  # the run failed (e.g. a video could not be decoded)
EXIT_USAGE = 2  # bad usage or bad input


class CliError(Exception):
    """An error to print as one line on stderr, with an exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise CliError(message, code)


def message(text: str) -> None:
    """A plain line on stderr (never stdout, which carries data only); control characters
    from the data it names (a file called ESC[2J) are shown escaped, never sent raw."""
    from emoret.errors import printable

    print(printable(text), file=sys.stderr, flush=True)


def hint_reading_stdin(source: str | None, command: str, what: str, instead: str) -> None:
    """Say on stderr that ``command`` reads ``what`` from stdin, when stdin is a terminal;
    ``instead``: what to give rather than typing (e.g. ``a file: emoret filter annotated.jsonl``).

    Run with no input in a terminal, a filter would otherwise wait silently for a
    Ctrl-D the newcomer does not know to type.
    """
    if source not in (None, "-"):
        return
    try:
        terminal = sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return
    if terminal:
        message(f"{command}: reading {what} from stdin (this terminal): end with Ctrl-D, or give {instead}")


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def progress(**kwargs):
    """A rich progress bar on stderr; invisible when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = stderr_console()
    kwargs.setdefault("disable", not console.is_terminal)  # no stray lines in logs and pipes
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        **kwargs,
    )


def quiet_stdout_after_broken_pipe() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def silence_hf() -> None:
    """transformers/huggingface progress bars and advice go nowhere near stdout."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def describe_os_error(err: OSError) -> str:
    """``FILE: reason`` in one line, e.g. ``out.jsonl: No space left on device``."""
    reason = err.strerror or str(err) or type(err).__name__
    if err.filename is not None:
        name = os.fsdecode(err.filename) if isinstance(err.filename, bytes) else str(err.filename)
        return f"{name}: {reason}"
    return reason


def exit_with(code: int) -> NoReturn:
    raise typer.Exit(code)
