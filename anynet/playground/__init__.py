"""``anynet playground``: the lecture's 2-D classification demo as a live local page.

A small network trains on a 2-D toy set (spiral, moons, circles, xor, blobs,
plus points you click in) while the page redraws the decision regions, the
train and test loss curves, every hidden unit's map and, for the neuron you
pick, its map and the gradient flowing into it. Unlike ConvNetJS or the
TensorFlow Playground, the model trains *in anynet on the server*, on any
backend that runs here (NumPy, JAX, PyTorch, CuPy, array-api-strict), through
anynet's public API only.

How it is built, and why:

* **Server: the Python standard library only** (``http.server.ThreadingHTTPServer``,
  JSON for requests, server-sent events for the stream). It is a local,
  single-user tool, so it adds no dependency; the stream only flows one way
  (server to page), which is exactly what server-sent events are, the standard
  library serves them as a plain chunk of text, and the browser's
  ``EventSource`` reconnects by itself.
* **Loopback by default.** The server binds 127.0.0.1; ``--host`` changes it,
  with a warning, because there is no password. It also refuses requests whose
  ``Host`` is not a loopback name (DNS rebinding) and bodies that are not JSON
  (no cross-site form posts).
* **One session per page, one thread per session.** A page creates a session;
  its training runs in that session's worker thread, which ends when the
  page's event stream closes (tab closed or reloaded), after an idle timeout
  without a stream, or at shutdown. At most ``max_sessions`` train at once;
  reloads and many tabs leak no threads. A bad request gets a 4xx and a JSON
  message naming what was wrong.
* **The page is one HTML, one JS and one CSS file** shipped in the package
  (``static/``), no framework, nothing loaded from the network (its
  Content-Security-Policy allows only this server), so it works offline.
  Every setting is kept in the URL's query string, so a view can be shared.

Examples
--------
>>> from anynet.playground import make_server
>>> srv = make_server(port=0)           # port 0: any free port
>>> srv.server_address[0]               # loopback unless asked otherwise
'127.0.0.1'
>>> srv.server_close()
"""

from __future__ import annotations

import argparse
import sys
import threading
import webbrowser
from collections.abc import Sequence

from .server import PlaygroundServer, warn_if_exposed

__all__ = ["PlaygroundServer", "add_arguments", "main", "make_server", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def make_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, backend: str | None = None,
                **kwargs) -> PlaygroundServer:
    """A :class:`PlaygroundServer` bound to ``host:port`` (not yet serving).

    ``kwargs`` go to :class:`PlaygroundServer` (``max_sessions``, ``idle_timeout``,
    ``heartbeat``, ``quiet``).

    Examples
    --------
    >>> import anynet.playground as pg
    >>> srv = pg.make_server(port=0, max_sessions=2)
    >>> srv.max_sessions, srv.url.startswith("http://127.0.0.1:")
    (2, True)
    >>> srv.server_close()
    """
    return PlaygroundServer((host, port), backend=backend, **kwargs)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, backend: str | None = None,
          open_browser: bool = True, **kwargs) -> None:
    """Serve the playground until Ctrl-C; open it in the browser unless ``open_browser=False``.

    Examples
    --------
    >>> import anynet.playground as pg
    >>> pg.serve  # doctest: +ELLIPSIS
    <function serve at ...>
    """
    warn_if_exposed(host)
    try:
        srv = make_server(host, port, backend=backend, **kwargs)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                      "is another playground running? --port 0 picks a free port") from None
    print(f"anynet playground: {srv.url}/ (backend {srv.default_backend}; Ctrl-C stops)", flush=True)
    # which backends run here (imports JAX, torch, ...): looked up now, not when the page first asks
    threading.Thread(target=srv.backends, daemon=True).start()
    if open_browser:
        threading.Timer(0.3, webbrowser.open, args=(f"{srv.url}/",)).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        print("anynet playground: stopped", file=sys.stderr)
    finally:
        srv.server_close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command-line options of ``anynet playground`` (shared with ``python -m anynet.playground``).

    Examples
    --------
    >>> import argparse, anynet.playground as pg
    >>> p = argparse.ArgumentParser()
    >>> pg.add_arguments(p)
    >>> args = p.parse_args(["--port", "0", "--no-browser"])
    >>> args.host, args.port, args.no_browser
    ('127.0.0.1', 0, True)
    """
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (0: any free port)")
    p.add_argument("--backend", default=None, help="the backend pages start on (default: $ANYNET_BACKEND "
                   "or numpy); pages may switch to any backend that runs here")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on; anything but loopback "
                   "exposes the page (no password) to your network")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m anynet.playground [--port P] [--backend B] [--host H] [--no-browser]``.

    Serves until Ctrl-C; returns 0.

    Examples
    --------
    >>> import anynet.playground as pg
    >>> pg.main(["--help"])  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    p = argparse.ArgumentParser(prog="anynet playground", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    serve(args.host, args.port, backend=args.backend, open_browser=not args.no_browser)
    return 0
