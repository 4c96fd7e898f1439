"""``emoret``: the command group. Subcommands import their heavy dependencies lazily."""

from __future__ import annotations

import _thread
import functools
import os
import signal
import sys
import threading

import typer

from emoret.errors import InputError, ModelError, OutputClosed
from emoret_cli import common
from emoret_cli.rayopt import bare_ray_flag
from emoret_cli.typer_compat import click_exceptions, plain_help_types

app = typer.Typer(
    name="emoret",
    help="Emotion-aware text-to-video retrieval: small commands that pipe JSON lines.",
    no_args_is_help=False,  # a bare `emoret` is a usage error: the short usage, exit 2
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        import emoret

        print(f"emoret {emoret.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Emotion-aware text-to-video retrieval: small commands that pipe JSON lines."""


def _guarded(command):
    """Turn the ways a command can stop into one stderr line and an exit status.

    Done inside the command, before typer/click can turn Ctrl-C or a closed pipe
    into their own exit codes.
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (InputError, ModelError) as err:
            _flush_stdout()
            common.message(f"emoret: {err}")
            raise typer.Exit(common.EXIT_USAGE) from None
        except common.CliError as err:
            _flush_stdout()
            common.message(f"emoret: {err}")
            raise typer.Exit(err.code) from None
        except (BrokenPipeError, OutputClosed):
            # The reader went away (`| head`): stop quietly, as a Unix filter does.
            common.quiet_stdout_after_broken_pipe()
            raise typer.Exit(0) from None
        except KeyboardInterrupt:
            _flush_stdout()
            common.message("emoret: interrupted")
            raise typer.Exit(130) from None
        except OSError as err:
            # A full disk, a read-only or vanished directory: the run failed, not the input.
            _flush_stdout()
            common.message(f"emoret: {common.describe_os_error(err)}")
            raise typer.Exit(common.EXIT_FAILED) from None

    return run


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        common.quiet_stdout_after_broken_pipe()
    except OSError:
        common.quiet_stdout_after_broken_pipe()  # reported by the caller's own error


@functools.cache
def _register() -> None:
    # One module a subcommand, in pipeline order; each exposes COMMAND (the function,
    # its docstring the help) and EPILOG (an example). Called by main(), after the search
    # fast path, which imports only its own module.
    from emoret_cli import annotate, embed, extract_frames, feel, gallery, index, search, serve, train, tsne
    from emoret_cli import eval as eval_cmd
    from emoret_cli import filter as filter_cmd

    for name, module in (
        ("annotate", annotate),
        ("filter", filter_cmd),
        ("extract-frames", extract_frames),
        ("train", train),
        ("embed", embed),
        ("feel", feel),
        ("index", index),
        ("search", search),
        ("gallery", gallery),
        ("serve", serve),
        ("eval", eval_cmd),
        ("tsne", tsne),
    ):
        app.command(name, epilog=module.EPILOG, help=module.COMMAND.__doc__)(_guarded(module.COMMAND))


def redeliver_swallowed_interrupts() -> None:
    """Send a Ctrl-C again when Python swallowed it.

    A KeyboardInterrupt raised while a finaliser (``__del__``) runs is only printed
    ("Exception ignored in …"), so a Ctrl-C landing there was lost and the command ran on
    to exit 0. Sent again, it arrives where the command can stop and report it (exit 130).
    """
    if getattr(sys.unraisablehook, "redelivers_interrupts", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if unraisable.exc_type is KeyboardInterrupt:
            # From another thread, a moment later: sent from here it would be raised
            # inside this hook, and swallowed again.
            threading.Timer(0.05, _thread.interrupt_main, (signal.SIGINT,)).start()
        else:
            previous(unraisable)

    hook.redelivers_interrupts = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def main(argv: list[str] | None = None) -> None:
    common.silence_hf()
    redeliver_swallowed_interrupts()
    _fast_search(sys.argv[1:] if argv is None else list(argv))
    _register()
    command = typer.main.get_command(app)
    plain_help_types(command)
    try:
        args = bare_ray_flag(sys.argv[1:] if argv is None else list(argv))
        status = command.main(args=args, prog_name="emoret", standalone_mode=False)
    except click_exceptions().ClickException as err:
        err.show()  # usage errors: the short usage and one error line, exit 2
        sys.exit(err.exit_code)
    except typer.Abort:
        common.message("emoret: interrupted")
        sys.exit(130)
    try:
        sys.stdout.flush()  # data printed last (a table) must reach a full disk's error here
    except BrokenPipeError:
        common.quiet_stdout_after_broken_pipe()
    except OSError as err:
        common.quiet_stdout_after_broken_pipe()
        common.message(f"emoret: <stdout>: {err.strerror or err}")
        sys.exit(common.EXIT_FAILED)
    sys.exit(status if isinstance(status, int) else 0)


def _fast_search(args: list[str]) -> None:
    """``emoret search`` parsed without typer's pydantic (a third of a cold query); exits when run."""
    if args[:1] != ["search"]:
        return
    if "-" not in args[1:] and "numpy" not in sys.modules:
        # One query's matrices are a few rows tall: BLAS threads only add start-up and,
        # on a busy machine, spinning (8x the CPU time measured). Read when numpy loads.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from emoret_cli import fastpath
    from emoret_cli import search as search_cmd

    values = fastpath.parse(search_cmd.COMMAND, args[1:])
    if values is None:
        return  # help or a usage error: typer parses and words it
    try:
        _guarded(search_cmd.COMMAND)(**values)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    sys.exit(0)


if __name__ == "__main__":
    main()
