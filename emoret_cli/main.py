"""``emoret``: the command group. Subcommands import their heavy dependencies lazily."""

from __future__ import annotations

import sys

import typer

from emoret import __version__
from emoret.records import InputError, OutputClosed
from emoret_cli import common

app = typer.Typer(
    name="emoret",
    help="Emotion-aware text-to-video retrieval: small commands that pipe JSON lines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"emoret {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Emotion-aware text-to-video retrieval: small commands that pipe JSON lines."""


def _register() -> None:
    # One module a subcommand; each exposes COMMAND (the function) and EPILOG (an example).
    from emoret_cli import annotate, extract_frames, filter as filter_cmd
    from emoret_cli import embed, eval as eval_cmd, index, search, tsne
    from emoret_cli import train

    for name, module in (
        ("annotate", annotate),
        ("filter", filter_cmd),
        ("extract-frames", extract_frames),
        ("embed", embed),
        ("index", index),
        ("search", search),
        ("eval", eval_cmd),
        ("tsne", tsne),
        ("train", train),
    ):
        app.command(name, epilog=module.EPILOG, help=module.COMMAND.__doc__)(module.COMMAND)


_register()


def main(argv: list[str] | None = None) -> None:
    common.silence_hf()
    import click

    try:
        status = app(args=argv, prog_name="emoret", standalone_mode=False)
    except click.exceptions.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        common.message("emoret: interrupted")
        sys.exit(130)
    except InputError as err:
        sys.stdout.flush()
        common.message(f"emoret: {err}")
        sys.exit(common.EXIT_USAGE)
    except common.CliError as err:
        sys.stdout.flush()
        common.message(f"emoret: {err}")
        sys.exit(err.code)
    except (BrokenPipeError, OutputClosed):
        common.quiet_stdout_after_broken_pipe()
        sys.exit(0)
    except KeyboardInterrupt:
        common.message("emoret: interrupted")
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
