"""What every request passes before it reaches a route: the token, the Host, the size limits,
and the headers that keep the page from running anything but its own script.

Pure ASGI (no per-request objects beyond what a refusal needs): a search answers in a few
milliseconds, and this sits in front of every one.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_TARGET_BYTES = 4096  # path + query string: a query is a sentence, not a document
TOKEN_PARAM = "token"
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
                                 b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class Guard:
    """Refuses what no route should see; ``token``: required on every request (a bearer header,
    the cookie the page gets, or ``?token=`` once: the page is then sent to the same URL without
    it, the cookie set; a script may pass ``?token=`` on any request); ``hosts``: the Host header values accepted (None: any), which stops a web
    page elsewhere from reaching a loopback server through DNS rebinding."""

    def __init__(self, app: App, token: str | None = None, hosts: Collection[str] | None = None):
        self.app = app
        self.token = token.encode() if token else None
        self.hosts = None if hosts is None else frozenset(host.lower() for host in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await _plain(send, *refusal)
            return
        if self.token is not None and scope["path"] == "/" and _query_token(scope) is not None:
            await self._to_cookie(scope, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = dict(scope["headers"])
        if self.hosts is not None and _host_name(headers.get(b"host", b"")) not in self.hosts:
            return 400, "unexpected Host header"
        if scope["method"] not in ("GET", "HEAD"):
            return 405, "only GET and HEAD"
        if headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers:
            return 413, "requests carry no body"
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_TARGET_BYTES:
            return 414, f"request target over {MAX_TARGET_BYTES} bytes"
        if self.token is not None and not self._authorised(scope, headers):
            return 401, "this server needs its token: open the URL 'emoret serve' printed"
        return None

    def _authorised(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        given = [_query_token(scope), _bearer(headers.get(b"authorization", b"")),
                 _cookie(headers.get(b"cookie", b""), cookie_name(scope))]
        assert self.token is not None
        return any(value is not None and hmac.compare_digest(value, self.token) for value in given)

    async def _to_cookie(self, scope: Scope, send: Send) -> None:
        """303 to the same URL without the token (no token in bookmarks or shared links), cookie set."""
        kept = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                if k != TOKEN_PARAM]
        location = scope.get("root_path", "") + scope["path"] + (f"?{urlencode(kept)}" if kept else "")
        assert self.token is not None
        cookie = f"{cookie_name(scope)}={self.token.decode()}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1", "replace")), (b"set-cookie", cookie.encode()),
                                (b"content-length", b"0"), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": b""})


def cookie_name(scope: Scope) -> str:
    """One cookie a port: two servers on one machine keep their own tokens."""
    server = scope.get("server") or ("", 0)
    return f"emoret_token_{server[1] or 0}"


def _host_name(host: bytes) -> str:
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):  # [::1]:8765
        return text[: text.find("]") + 1]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _query_token(scope: Scope) -> bytes | None:
    query = scope.get("query_string") or b""
    if TOKEN_PARAM.encode() not in query:
        return None
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key == TOKEN_PARAM:
            return value.encode("latin-1", "replace")
    return None


def _bearer(value: bytes) -> bytes | None:
    scheme, _, credentials = value.partition(b" ")
    return credentials.strip() if scheme.lower() == b"bearer" and credentials.strip() else None


def _cookie(header: bytes, name: str) -> bytes | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header.decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed cookie header is no token
        return None
    morsel = jar.get(name)
    return morsel.value.encode("latin-1", "replace") if morsel is not None else None


async def _plain(send: Send, status: int, text: str) -> None:
    body = f"emoret serve: {text}\n".encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
