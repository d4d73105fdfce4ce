"""The playground's HTTP server: the page, a JSON API, and one event stream per page.

Routes (every answer of the API is JSON; an error is ``{"error": message}``
with a 4xx status):

``GET  /``                               the page (``static/index.html``)
``GET  /static/<app.js|style.css>``      its script and style sheet
``GET  /api/info``                       backends, choices, default settings
``POST /api/sessions``                   settings -> a new session ``{"id", "settings"}`` (201)
``GET  /api/sessions/<id>/events``       the session's server-sent events (``meta``, ``data``, ``frame``)
``POST /api/sessions/<id>/<action>``     ``play``, ``pause``, ``step {"n"}``, ``reset``,
                                         ``settings {...}``, ``point {"x", "y", "label"}``,
                                         ``neuron {"layer", "unit"}`` -> a summary
``DELETE /api/sessions/<id>``            end the session now

A session ends when its event stream closes (the page was closed or
reloaded), when no stream was attached for ``idle_timeout`` seconds, or at
shutdown; at most ``max_sessions`` live at once (then 429).

Two guards for a server on the loopback interface: requests must name a
loopback host in ``Host`` (a web page elsewhere cannot reach it through DNS
rebinding), and requests with a body must say ``Content-Type: application/json``
(another site's page cannot send those without a CORS preflight, which this
server never grants).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import anynet as an

from . import session as S

__all__ = ["PlaygroundServer"]

_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/index.html": ("index.html", "text/html; charset=utf-8"),
           "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/static/style.css": ("style.css", "text/css; charset=utf-8")}
# Nothing but this server: the page loads nothing from the network (and works offline).
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MAX_BODY = 64 * 1024
_SESSION = re.compile(r"^/api/sessions/([0-9a-f]{16})(?:/([a-z_]+))?$")


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PlaygroundServer(ThreadingHTTPServer):
    """A threading HTTP server holding the live sessions.

    Parameters
    ----------
    server_address : (host, port)
        Port 0 picks a free port (``server.server_address`` tells which).
    backend : str, optional
        The backend new pages start on (default: the current backend).
    max_sessions : int
        Pages that may train at once; one more gets 429.
    idle_timeout : float
        Seconds a session may live without an attached event stream.
    heartbeat : float
        Seconds between keep-alive comments on an idle stream (they also find
        closed connections, which ends their sessions).
    quiet : bool
        Do not log every request to stderr.

    Examples
    --------
    >>> import json, threading, urllib.request
    >>> from anynet.playground.server import PlaygroundServer
    >>> srv = PlaygroundServer(("127.0.0.1", 0), backend="numpy")
    >>> threading.Thread(target=srv.serve_forever, daemon=True).start()
    >>> with urllib.request.urlopen(f"{srv.url}/api/info") as r:
    ...     "numpy" in json.load(r)["backends"]
    True
    >>> srv.shutdown(); srv.server_close()
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, server_address: tuple[str, int] = ("127.0.0.1", 0), *, backend: str | None = None,
                 max_sessions: int = 8, idle_timeout: float = 60.0, heartbeat: float = 2.0,
                 frame_interval: float = 0.1, quiet: bool = True) -> None:
        if backend is None:
            backend = an.backend().name
        else:
            with an.using(backend):  # fails now, with the reason, if it cannot run here
                pass
        self.default_backend = backend
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.heartbeat = heartbeat
        self.frame_interval = frame_interval
        self.quiet = quiet
        self.sessions: dict[str, S.Session] = {}
        self._lock = threading.Lock()
        self._backends: dict[str, str | None] | None = None
        if ":" in server_address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(server_address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    @property
    def loopback_only(self) -> bool:
        return self.server_address[0] in ("127.0.0.1", "::1") or self.server_address[0].startswith("127.")

    def backends(self) -> dict[str, str | None]:
        """Backend name -> None if pages may use it, else why not (looked up once)."""
        with self._lock:
            if self._backends is None:
                found = dict(an.available_backends())
                # the server's own backend (a test variant, say) is always offered
                found[self.default_backend] = None
                self._backends = found
            return self._backends

    def usable_backends(self) -> list[str]:
        return [name for name, why in self.backends().items() if why is None]

    def default_settings(self) -> S.Settings:
        return S.Settings(backend=self.default_backend)

    def create_session(self, raw: Any) -> S.Session:
        settings = S.parse_settings(raw, self.default_settings(), self.usable_backends())
        with self._lock:
            if len(self.sessions) >= self.max_sessions:
                raise _HTTPError(HTTPStatus.TOO_MANY_REQUESTS,
                                 f"{len(self.sessions)} pages are training already (max_sessions="
                                 f"{self.max_sessions}); close a tab or wait a minute")
        sess = S.Session(settings, backends=self.usable_backends(), idle_timeout=self.idle_timeout,
                         frame_interval=self.frame_interval, on_end=self._forget)
        with self._lock:
            self.sessions[sess.id] = sess
        sess.start()
        return sess

    def _forget(self, sess: S.Session) -> None:
        with self._lock:
            self.sessions.pop(sess.id, None)

    def get_session(self, sid: str) -> S.Session:
        with self._lock:
            sess = self.sessions.get(sid)
        if sess is None:
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"no session {sid!r} (it ended: its page closed, it "
                             f"was idle for {self.idle_timeout:g} s, or the server restarted)")
        return sess

    def server_close(self) -> None:
        """Stop every session, wait for their threads, then close the socket."""
        with self._lock:
            live = list(self.sessions.values())
        for sess in live:
            sess.stop()
        for sess in live:
            sess.join(10.0)
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    protocol_version = "HTTP/1.1"
    server_version = f"anynet-playground/{an.__version__}"

    # ------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:  # the base class names it format
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json")

    def _check_host(self) -> None:
        if not self.server.loopback_only:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        if name not in _LOOPBACK and not name.startswith("127."):
            raise _HTTPError(HTTPStatus.FORBIDDEN, f"Host {host!r} is not this machine's loopback name; "
                             "open the page at http://127.0.0.1:<port>/")

    def _body(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            if self.headers.get("Transfer-Encoding"):
                raise _HTTPError(HTTPStatus.LENGTH_REQUIRED, "send the JSON body with a Content-Length")
            return {}
        n = int(length)
        if n > _MAX_BODY:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise _HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                             f"request body of {n} bytes; at most {_MAX_BODY} accepted")
        raw = self.rfile.read(n) if n else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _HTTPError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                             f"Content-Type must be application/json, got {ctype or 'none'!r}")
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, f"the request body is not valid JSON: {exc}") from None

    def _handle(self, fn: Any) -> None:
        try:
            self._check_host()
            fn()
        except _HTTPError as exc:
            self._json(exc.status, {"error": str(exc)})
        except S.SettingsError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug or a backend failing: say so, keep serving
            self.log_error("%s %s failed: %r", self.command, self.path, exc)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    # ------------------------------------------------------------ verbs
    def do_GET(self) -> None:
        self._handle(self._get)

    def do_HEAD(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def do_DELETE(self) -> None:
        self._handle(self._delete)

    def _get(self) -> None:
        path = self._path()
        if path in _STATIC:
            name, ctype = _STATIC[path]
            body = resources.files("anynet.playground").joinpath("static", name).read_bytes()
            self._send(HTTPStatus.OK, body, ctype, {"Content-Security-Policy": _CSP})
        elif path == "/api/info":
            srv = self.server
            self._json(HTTPStatus.OK, {
                "version": an.__version__, "backends": srv.backends(),
                "default_backend": srv.default_backend, "defaults": srv.default_settings().as_json(),
                "datasets": list(S.DATASETS), "multiclass": list(S.MULTICLASS),
                "activations": list(S.ACTIVATIONS), "optimizers": list(S.OPTIMIZERS),
                "limits": {"layers": S.MAX_LAYERS, "units": S.MAX_UNITS, "points": S.MAX_POINTS}})
        elif (m := _SESSION.match(path)) and m.group(2) == "events":
            self._events(self.server.get_session(m.group(1)))
        else:
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"no such page or API: GET {path}")

    def _post(self) -> None:
        path = self._path()
        body = self._body()
        if path == "/api/sessions":
            sess = self.server.create_session(body)
            self._json(HTTPStatus.CREATED, {"id": sess.id, "settings": sess.settings.as_json(),
                                            "events": f"/api/sessions/{sess.id}/events"})
        elif (m := _SESSION.match(path)) and m.group(2):
            sess = self.server.get_session(m.group(1))
            try:
                self._json(HTTPStatus.OK, sess.command(m.group(2), body))
            except S.SessionEnded as exc:  # it ended while we asked
                raise _HTTPError(HTTPStatus.NOT_FOUND, str(exc)) from None
            except TimeoutError as exc:
                raise _HTTPError(HTTPStatus.SERVICE_UNAVAILABLE, str(exc)) from None
        else:
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"no such API: POST {path}")

    def _delete(self) -> None:
        m = _SESSION.match(self._path())
        if not m or m.group(2):
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"no such API: DELETE {self._path()}")
        sess = self.server.get_session(m.group(1))
        sess.stop()
        sess.join(10.0)
        self._json(HTTPStatus.OK, {"id": sess.id, "ended": not sess.alive})

    def _events(self, sess: S.Session) -> None:
        """Server-sent events until the page goes away; then the session ends."""
        if not sess.attach_stream():
            raise _HTTPError(HTTPStatus.CONFLICT, f"session {sess.id} already has an event stream; "
                             "create a new session for another page")
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            self.close_connection = True  # no Content-Length: the stream ends with the connection
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while sess.alive:
                events = sess.next_events(self.server.heartbeat)
                if events:
                    out = b"".join(f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
                                   .encode() for kind, payload in events)
                else:
                    out = b": ping\n\n"  # a closed page shows up as a failed write
                self.wfile.write(out)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            pass
        finally:
            sess.detach_stream()


def warn_if_exposed(host: str) -> None:
    """Say so on stderr when the server listens beyond this machine."""
    if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("127."):
        print(f"anynet playground: warning: listening on {host}, beyond this machine: anyone who can "
              "reach it can start training on your CPU/GPU; there is no password", file=sys.stderr)
