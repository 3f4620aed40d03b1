"""``Guard``: an ASGI middleware in front of every route of the chat server.

Gradio checks the login on some routes only (``/manifest.json``, ``/gradio_api/heartbeat/<id>``,
``/gradio_api/app_id`` and ``/gradio_api/startup-events`` answered without one), so this guard
decides for every request, including routes added later (an upload route, say):

* **login**: with a login set, only the login page and its static assets (``PUBLIC_PATHS``,
  ``PUBLIC_PREFIXES``) are served to a client without a valid session cookie; anything else gets
  401. The session is Gradio's own (the token set by ``POST /login``).
* **login back-off**: after ``free_attempts`` wrong passwords from one client address, that address
  must wait ``base_delay * 2**n`` seconds (at most ``max_delay``) before its next attempt, answered
  429 with ``Retry-After`` meanwhile. A right password resets it. Other addresses are not affected,
  and the wait is bounded, so an attacker cannot lock the real user out.
* **request size**: a body larger than ``max_body_bytes`` (``max_upload_bytes`` on upload routes)
  is refused with 413 before it is read; a JSON body nested deeper than ``max_json_depth`` is
  refused with 422 before it is parsed (the check is one iterative scan, no recursion).
* **API arity**: a call to a named API endpoint (``/gradio_api/call/<name>``, ``.../run/<name>``)
  with fewer values than the endpoint takes is refused with 422 naming the values it takes, instead
  of failing inside Gradio with a traceback in the log and ``{"error": null}`` for the caller.

This module knows Gradio's cookie names and route prefixes; it does not know any route of this app.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

PUBLIC_PATHS = frozenset(
    {
        "/",
        "/login",
        "/login/",
        "/logout",
        "/favicon.ico",
        "/theme.css",
        "/gradio_api/theme.css",
        "/robots.txt",
        "/gradio_api/login_check",
        "/gradio_api/login_check/",
    }
)
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/")
UPLOAD_PREFIXES = ("/gradio_api/upload", "/upload")
API_CALL_PREFIXES = ("/gradio_api/call/", "/gradio_api/run/", "/gradio_api/api/")


@dataclass
class _Client:
    failures: int = 0
    not_before: float = 0.0


@dataclass
class LoginThrottle:
    """Per-client back-off on wrong passwords (see the module docstring)."""

    free_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    clients: dict[str, _Client] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, client: str, now: float | None = None) -> float:
        """Seconds ``client`` must still wait before its next attempt (0: go ahead)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            state = self.clients.get(client)
            return 0.0 if state is None else max(0.0, state.not_before - now)

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            if len(self.clients) > 10_000:  # forget the oldest clients, not the memory
                for key in list(self.clients)[:5_000]:
                    del self.clients[key]
            state = self.clients.setdefault(client, _Client())
            state.failures += 1
            over = state.failures - self.free_attempts
            if over >= 0:
                state.not_before = now + min(self.max_delay, self.base_delay * 2**over)

    def succeeded(self, client: str) -> None:
        with self.lock:
            self.clients.pop(client, None)


def json_depth(body: bytes, limit: int) -> int:
    """The nesting depth of a JSON text, stopping once it passes ``limit`` (an iterative scan that
    skips strings; it does not validate the JSON)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


class Guard:
    """The ASGI middleware; ``login`` is None when the server has no login."""

    def __init__(
        self,
        app,
        *,
        login: bool = False,
        throttle: LoginThrottle | None = None,
        max_body_bytes: int = 4 * 2**20,
        max_upload_bytes: int = 64 * 2**20,
        max_json_depth: int = 32,
    ):
        self.app = app
        self.login = login
        self.throttle = throttle or LoginThrottle()
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.max_json_depth = max_json_depth

    # ---- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _path(scope) -> str:
        root = scope.get("root_path") or ""
        path = scope.get("path") or "/"
        return path[len(root) :] or "/" if root and path.startswith(root) else path

    @staticmethod
    def _logged_in(scope) -> bool:
        app = scope.get("app")
        tokens = getattr(app, "tokens", None) or {}
        cookie_id = getattr(app, "cookie_id", None)
        if not tokens or cookie_id is None:
            return False
        cookies = {}
        for name, value in scope.get("headers") or []:
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    key, _, val = part.strip().partition("=")
                    cookies[key] = val
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(
            f"access-token-unsecure-{cookie_id}"
        )
        return token is not None and token in tokens

    @staticmethod
    def _starting(scope, path: str) -> bool:
        """Gradio's ``launch`` calls ``startup-events`` once, itself, to start the queue; until
        that has happened the route is open (it starts the app and returns nothing else)."""
        app = scope.get("app")
        return path.rstrip("/") == "/gradio_api/startup-events" and not getattr(
            app, "startup_events_triggered", True
        )

    @staticmethod
    def _is_public(path: str) -> bool:
        return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)

    # ---- the middleware -------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            if self.login and not self._logged_in(scope):
                await send({"type": "websocket.close", "code": 4401})
                return
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = self._path(scope)
        client = (scope.get("client") or ("?", 0))[0]
        is_login = path.rstrip("/") == "/login" and scope["method"] == "POST"

        if self.login and not is_login and not self._is_public(path):
            if not self._logged_in(scope) and not self._starting(scope, path):
                return await reply_json(send, 401, "log in first: this chat requires a login")
        if is_login and self.login:
            wait = self.throttle.wait(client)
            if wait > 0:
                return await reply_json(
                    send,
                    429,
                    f"too many wrong passwords from this address: try again in {wait:.0f} s",
                    {"retry-after": str(max(1, round(wait)))},
                )

        limit = self.max_upload_bytes if path.startswith(UPLOAD_PREFIXES) else self.max_body_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return await reply_json(send, 400, "bad Content-Length header")
            if size > limit:
                return await reply_json(send, 413, self._too_large(size, limit))

        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = ctype == b"application/json"
        if scope["method"] in ("POST", "PUT", "PATCH") and (is_json or declared is None):
            # a JSON body is checked before the app parses it; a body of no declared length
            # (chunked) is read here up to the limit, as the app would read it whole anyway
            body, too_large = await read_body(receive, limit)
            if too_large:
                return await reply_json(send, 413, self._too_large(None, limit))
            if is_json:
                problem = self._check_json(scope, path, body)
                if problem:
                    return await reply_json(send, 422, problem)
            receive = replay_body(body, receive)

        status: list[int] = []

        async def watch(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watch if is_login else send)
        if is_login and self.login and status:
            if status[0] == 200:
                self.throttle.succeeded(client)
            elif status[0] in (400, 401, 403):
                self.throttle.failed(client)

    @staticmethod
    def _too_large(size: int | None, limit: int) -> str:
        got = f"{size:,} bytes" if size is not None else "more"
        return (
            f"the request is too large ({got}; the limit is {limit:,} bytes): "
            "send a shorter question or history"
        )

    def _check_json(self, scope, path: str, body: bytes) -> str | None:
        depth = json_depth(body, self.max_json_depth)
        if depth > self.max_json_depth:
            return (
                f"the request is nested more than {self.max_json_depth} levels deep: send the "
                "history as a flat list of earlier questions (strings) or chat messages"
            )
        if not path.startswith(API_CALL_PREFIXES):
            return None
        name = path.split("/")[3] if len(path.split("/")) > 3 else ""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 'the request body is not JSON: send {"data": [...]}'
        values = data.get("data") if isinstance(data, dict) else None
        if not isinstance(values, list):
            return 'the request body must be {"data": [...]}, a list of the endpoint\'s values'
        wanted = self._inputs_of(scope, name)
        if wanted is not None and len(values) < len(wanted):
            return (
                f"/{name} takes {len(wanted)} values ({', '.join(wanted)}) and got {len(values)}: "
                "send null for a value you leave out"
            )
        return None

    @staticmethod
    def _inputs_of(scope, name: str) -> list[str] | None:
        """The parameter names of the API endpoint ``name``, or None if unknown."""
        app = scope.get("app")
        blocks = getattr(app, "blocks", None)
        for fn in getattr(blocks, "fns", {}).values():
            if getattr(fn, "api_name", None) == name:
                inputs = getattr(fn, "inputs", None) or []
                names = []
                for i, block in enumerate(inputs):
                    label = getattr(block, "label", None)
                    names.append(str(label) if label else f"value {i + 1}")
                return names
        return None


async def read_body(receive, limit: int) -> tuple[bytes, bool]:
    """An ASGI request body read up to ``limit`` bytes: (what was read, whether it went over).
    Shared by the guard and the upload route (``ui.uploads``)."""
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        chunks.append(chunk)
        if total > limit:
            return b"".join(chunks), True
        if not message.get("more_body"):
            break
    return b"".join(chunks), False


async def reply_json(send, status: int, message: str, headers: dict | None = None) -> None:
    """Answer an ASGI request with ``{"error": message}`` and ``status``, without the app."""
    body = json.dumps({"error": message}).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    head += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def replay_body(body: bytes, receive):
    """A ``receive`` that hands the app the body already read, then the rest of the connection's
    messages (a disconnect), so a checked request reaches the app unchanged."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
