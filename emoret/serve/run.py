"""Who may connect, the socket, and serving the app with uvicorn until Ctrl-C.

Safe by default: a loopback address, reachable from this machine only (and from no web page
elsewhere: the Host header is checked). Any other address needs a token, or the caller's
plain acceptance that anyone who can reach the port can search and watch the library.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable
from typing import Any

LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{8,200}")
OPEN_WARNING = ("serve: no token: anyone who can reach {host}:{port} can search the index and play "
                "every video it holds")


class ServeRefused(Exception):
    """Options that would expose the library: a one-line reason."""


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, no_token: bool) -> None:
    """Refuse a token that cannot travel in a URL and a cookie, and a reachable address without one."""
    if token is not None and not TOKEN_PATTERN.fullmatch(token):
        raise ServeRefused("--token: 8 to 200 letters, digits or . _ ~ - (e.g. the output of: "
                      "python3 -c 'import secrets; print(secrets.token_urlsafe())')")
    if token is not None and no_token:
        raise ServeRefused("--token and --no-token contradict each other")
    if not is_loopback(host) and token is None and not no_token:
        raise ServeRefused(f"--host {host} lets other machines connect: give --token T (every request then needs it), "
                      "or --no-token to let anyone who can reach it read the library")


def accepted_hosts(host: str, token: str | None) -> tuple[str, ...] | None:
    """The Host header values to accept: the loopback names on a loopback address without a token
    (no web page elsewhere can reach it by rebinding a name); else any (the token guards)."""
    if token is None and is_loopback(host):
        return (*LOCAL_NAMES, host.lower())
    return None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (``port`` 0: any free one); OSError when it cannot be had."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP, and with Nagle on, each keep-alive answer waited 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bare, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url(sock: socket.socket, host: str, token: str | None) -> str:
    """What to open in a browser: the bound port, and the token once (the page then keeps it in a cookie)."""
    port = sock.getsockname()[1]
    shown = socket.gethostname() if host.strip("[]") in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(app: Any, sock: socket.socket) -> None:
    """Serve until SIGINT or SIGTERM; uvicorn finishes the requests under way, then raises the
    signal again (Ctrl-C: KeyboardInterrupt in the caller)."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", server_header=False,
        limit_concurrency=256, timeout_graceful_shutdown=3, h11_max_incomplete_event_size=16 * 1024,
    )
    uvicorn.Server(config).run(sockets=[sock])


def run_server(index_dir: str | os.PathLike[str] | None = None, host: str = "127.0.0.1", port: int = 8765,
               token: str | None = None, no_token: bool = False, model_spec: str | None = None,
               device: str = "cpu", say: Callable[[str], None] = lambda _: None) -> None:
    """Check who may connect (:class:`ServeRefused`), load the index and its query path once, listen,
    say the URL to open, and serve until interrupted."""
    check_exposure(host, token, no_token)
    from emoret.serve.app import create_app
    from emoret.serve.holder import IndexHolder

    holder = IndexHolder(index_dir, model_spec, device, say=say)
    try:
        sock = bind(host, port)
    except OSError as err:
        raise ServeRefused(f"--host {host} --port {port}: cannot listen ({err.strerror or err})") from None
    if not is_loopback(host) and token is None:
        say(OPEN_WARNING.format(host=host, port=sock.getsockname()[1]))
    say(f"serve: {len(holder.current().index):,} items from {holder.path}; open {url(sock, host, token)}"
        " (Ctrl-C stops)")
    serve(create_app(holder, token, accepted_hosts(host, token)), sock)
