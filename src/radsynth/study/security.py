"""Request hardening for the study app: body size limit, per-page form tokens, CSV formula escape.

- **Body limit**: a request body over :data:`MAX_BODY_BYTES` is refused with 413 before it is
  parsed: at once when its ``Content-Length`` says so, otherwise as soon as the bytes read pass
  the limit (chunked uploads), for JSON and forms alike.
- **Form tokens** (CSRF): every page that holds a form gets a fresh token ``nonce.mac`` with
  ``mac = HMAC-SHA256(study secret, nonce | action path)``, and every state-changing form POST
  must return it. The app sends ``Referrer-Policy: no-referrer``, under which browsers send
  ``Origin: null`` even on its own POSTs, so an Origin check could not tell them from a foreign
  site's. JSON POSTs must say ``Content-Type: application/json``, which a cross-site page can
  only send after a CORS preflight that this app never grants.
- **CSV formula escape** (OWASP "CSV injection"): in the admin's spreadsheet download, a text
  cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``.
  The machine-readable export (``radsynth study export``) stays exact.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

MAX_BODY_BYTES = 64 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


class BodyTooLarge(Exception):
    """A request body passed :data:`MAX_BODY_BYTES` while it was being read."""


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes (see module docstring).

    ``reject(scope)`` builds the 413 response sent when ``Content-Length`` is already too large;
    a body that grows past the limit raises :class:`BodyTooLarge` from ``receive`` instead,
    which the app's exception handler turns into the same 413.
    """

    def __init__(self, app: ASGIApp, limit: int, reject: Callable[[Scope], Any]) -> None:
        self.app, self.limit, self.reject = app, limit, reject

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (
            not length.isdigit() or len(length) > 12 or int(length) > self.limit
        ):
            await self.reject(scope)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited, send)


class SecurityHeaders:
    """ASGI middleware adding fixed headers to every response (a plain ASGI wrapper: Starlette's
    ``@app.middleware("http")`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.names = {k for k, _ in self.raw}

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k not in self.names]
                message = {**message, "headers": kept + self.raw}
            await send(message)

        await self.app(scope, receive, with_headers)


def form_token(secret: str, action: str) -> str:
    """A fresh per-page token for a form that posts to ``action`` (a URL path)."""
    nonce = secrets.token_hex(8)
    return f"{nonce}.{_mac(secret, nonce, action)}"


def form_token_ok(secret: str, action: str, token: object) -> bool:
    """Whether ``token`` was made by :func:`form_token` for this action path."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 64:
        return False
    nonce, mac = token.split(".")
    return hmac.compare_digest(mac, _mac(secret, nonce, action))


def _mac(secret: str, nonce: str, action: str) -> str:
    msg = f"{nonce}|{action}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


def escape_formula(value: object) -> object:
    """A spreadsheet-safe cell: text starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
