"""``Guard``: an ASGI middleware in front of every route of the chat server.

Gradio checks the login on some routes only (``/manifest.json``, ``/gradio_api/heartbeat/<id>``,
``/gradio_api/app_id`` and ``/gradio_api/startup-events`` answered without one), so this guard
decides for every request, including routes added later (an upload route, say):

* **login**: with a login set, only the login page and its static assets (``PUBLIC_PATHS``,
  ``PUBLIC_PREFIXES``) are served to a client without a valid session cookie; anything else gets
  401. The session is Gradio's own (the token set by ``POST /login``).
* **host and origin** (DNS rebinding): a request whose ``Host`` header names a host the server was
  not started for (``allowed_hosts``: 127.0.0.1, localhost, ``--host``, ``--allowed-host``; any IP
  address too when bound to all interfaces, since a rebound name never arrives as an address) is
  refused with 421, and one whose ``Origin`` names another host with 403, before Gradio answers:
  so no page of another site gets an ``access-control-allow-origin`` echo, or reaches a route.
* **login back-off**: each login attempt is counted *before* its password is checked, so a burst of
  concurrent guesses is counted as it arrives. After ``free_attempts`` attempts from one client
  address, that address must wait ``base_delay * 2**n`` seconds (at most ``max_delay``) before its
  next attempt, answered 429 with ``Retry-After`` meanwhile. Beside it, a global bucket allows
  ``global_burst`` attempts, refilled at ``global_rate`` a second, across all addresses (rotating
  through addresses gains nothing beyond it). A right password resets its address and gives its
  global token back. Both waits are bounded (the global one by ``1 / global_rate``), so an attacker
  cannot lock the real user out, only slow every login to that rate while the attack lasts.
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
import math
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
    """Back-off on login attempts, per client address and global (see the module docstring)."""

    free_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    global_burst: int = 30
    global_rate: float = 2.0  # attempts a second across all addresses, once the burst is spent
    clients: dict[str, _Client] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: float | None = None  # the global bucket (None: full)
    refilled: float = 0.0

    def wait(self, client: str, now: float | None = None) -> float:
        """Seconds ``client`` must still wait before its next attempt (0: go ahead); counts
        nothing (``attempt`` does)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            return self._wait(client, now)

    def _wait(self, client: str, now: float) -> float:
        state = self.clients.get(client)
        own = 0.0 if state is None else max(0.0, state.not_before - now)
        self._refill(now)
        shared = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.global_rate
        return max(own, shared)

    def _refill(self, now: float) -> None:
        if self.tokens is None:
            self.tokens, self.refilled = float(self.global_burst), now
        self.tokens = min(
            float(self.global_burst), self.tokens + (now - self.refilled) * self.global_rate
        )
        self.refilled = now

    def attempt(self, client: str, now: float | None = None) -> float:
        """Count one attempt from ``client`` before its password is checked: 0 when it may go
        ahead (and it is counted, as a failure until ``succeeded``), else the seconds to wait
        (and nothing is counted)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            wait = self._wait(client, now)
            if wait > 0:
                return wait
            self.tokens -= 1
            self._count(client, now)
            return 0.0

    def _count(self, client: str, now: float) -> None:
        if len(self.clients) > 10_000:  # forget the oldest clients, not the memory
            for key in list(self.clients)[:5_000]:
                del self.clients[key]
        state = self.clients.setdefault(client, _Client())
        state.failures += 1
        over = state.failures - self.free_attempts
        if over >= 0:
            state.not_before = now + min(self.max_delay, self.base_delay * 2**over)

    def failed(self, client: str, now: float | None = None) -> None:
        """A wrong password not counted by ``attempt`` (tests and callers without ``attempt``)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            self._count(client, now)

    def succeeded(self, client: str) -> None:
        """A right password: the address starts afresh and its global token is given back."""
        with self.lock:
            self.clients.pop(client, None)
            if self.tokens is not None:
                self.tokens = min(float(self.global_burst), self.tokens + 1)


def host_name(value: bytes | str) -> str:
    """The host of a ``Host`` header or of an origin URL, lower case, without port or brackets."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].rsplit("@", 1)[-1]
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def allowed_hosts(host: str, extra=()) -> tuple[frozenset[str], bool]:
    """The ``Host`` names a server bound to ``host`` answers to, and whether any IP address is
    allowed too (bound to all interfaces: 0.0.0.0 or ::)."""
    names = {"127.0.0.1", "localhost", "::1", host_name(host)}
    names |= {host_name(h) for h in extra if h and h.strip()}
    wildcard = host_name(host) in ("0.0.0.0", "::", "")
    return frozenset(n for n in names if n), wildcard


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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
        hosts: tuple[frozenset[str], bool] | None = None,
    ):
        self.app = app
        self.login = login
        self.hosts = hosts  # (names, any IP allowed); None: any host (a test double)
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

    def _host_allowed(self, name: str) -> bool:
        if self.hosts is None:
            return True
        names, any_ip = self.hosts
        return name in names or (any_ip and _is_ip(name))

    def _foreign(self, scope) -> str | None:
        """Why the request's ``Host`` or ``Origin`` is not this server's, or None."""
        headers = dict(scope.get("headers") or [])
        host = host_name(headers.get(b"host", b""))
        if not self._host_allowed(host):
            return (
                f"this chat does not answer to the host name {host!r}: open it at the address it "
                "was started for, or start it with --allowed-host NAME"
            )
        origin = headers.get(b"origin")
        if origin is not None and not self._host_allowed(host_name(origin)):
            return (
                "requests from another site's page are refused: this chat takes requests only "
                "from its own page"
            )
        return None

    # ---- the middleware -------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            problem = self._foreign(scope)
            if problem:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 4403})
                    return
                bad_host = problem.startswith("this chat does not answer")
                return await reply_json(send, 421 if bad_host else 403, problem)
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
            wait = self.throttle.attempt(client)  # counted now, before the check
            if wait > 0:
                return await reply_json(
                    send,
                    429,
                    "too many login attempts (from this address, or from all at once): try "
                    f"again in {max(1, math.ceil(wait))} s",
                    {"retry-after": str(max(1, math.ceil(wait)))},
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
        is_upload = path.startswith(UPLOAD_PREFIXES)  # streamed to disk by ui.uploads.UploadGuard
        if scope["method"] in ("POST", "PUT", "PATCH") and (
            is_json or (declared is None and not is_upload)
        ):
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
