"""``emoret serve``: a search page and a JSON API over an index, in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from emoret_cli.common import fail, message

EPILOG = (
    "Example: emoret serve --index my-index, then open the URL it prints.\n\n"
    "Scripts: curl 'http://127.0.0.1:8765/api/search?q=a+happy+dog&top=5' prints what emoret search --json does.\n\n"
    "Other machines: emoret serve --host 0.0.0.0 --token T (every request needs the token).\n\n"
    "Needs the web server extra: pip install 'emoret[serve]'."
)
INSTALL_HINT = "serve needs the web server extra: pip install 'emoret[serve]'"


def COMMAND(
    index_dir: Optional[Path] = typer.Option(None, "--index", "-i", help="Index directory (default $EMORET_INDEX, then ./emoret-index)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Other than loopback: needs --token (or --no-token)."),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0: any free one)."),
    token: Optional[str] = typer.Option(None, "--token", envvar="EMORET_TOKEN", help="Secret every request must carry (the printed URL carries it once; the page keeps it in a cookie)."),
    no_token: bool = typer.Option(False, "--no-token", help="With --host other than loopback: serve without a token, so anyone who can reach the port can read the library."),
    model_spec: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: the one recorded in the index)."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu or cuda for the query encoder."),
) -> None:
    """Search an index from a browser: a live page, a JSON API (the records of search --json), the videos."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        fail(INSTALL_HINT)
    from emoret import api

    try:
        api.serve(index_dir, host, port, token, no_token, model_spec, device, say=message)
    except api.ServeRefused as err:
        fail(str(err))
