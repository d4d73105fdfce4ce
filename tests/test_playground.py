"""anynet playground: the server's API on the backend under test (a real server on a free
loopback port, in a thread), its sessions' threads, its errors, and the neuron gradients
checked against an independent NumPy computation."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import numpy as np
import pytest

from anynet import cli
from anynet.playground import DEFAULT_HOST, make_server, serve
from anynet.playground.session import Session, SessionEnded, Settings
from tests.conftest import to_numpy

MOONS = {"dataset": "moons", "points": 200, "noise": 0.1, "hidden": [8, 8], "activation": "tanh",
         "optimizer": "adam", "lr": 0.01, "batch": 16}


@pytest.fixture
def server(be):
    srv = make_server(port=0, backend=be.name, max_sessions=3, idle_timeout=30.0, heartbeat=0.05)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)


def request(srv, method, path, body=None, *, headers=None, raw=None):
    """``(status, parsed JSON or text)``; ``body`` is sent as JSON, ``raw`` as is."""
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=60)
    hdrs = {"Content-Type": "application/json"} if (body is not None or raw is not None) else {}
    hdrs.update(headers or {})
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=hdrs)
    res = conn.getresponse()
    text = res.read().decode()
    conn.close()
    ctype = res.getheader("Content-Type", "")
    return res.status, (json.loads(text) if ctype.startswith("application/json") else text)


def wait_until(cond, timeout=20.0):
    """Poll ``cond`` until it holds (a deadline against hanging, not a speed check)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_page_and_its_files_are_served_with_a_policy_that_allows_no_network(server):
    status, page = request(server, "GET", "/")
    assert status == 200 and '<canvas id="plane"' in page and "/static/app.js" in page
    for path in ("/static/app.js", "/static/style.css"):
        assert request(server, "GET", path)[0] == 200
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.request("GET", "/")
    csp = conn.getresponse().getheader("Content-Security-Policy")
    conn.close()
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "http" not in page.replace("http-equiv", "")  # no address elsewhere in the page


def test_info_offers_the_backend_under_test(server, be):
    status, info = request(server, "GET", "/api/info")
    assert status == 200
    assert info["backends"][be.name] is None and info["default_backend"] == be.name
    assert set(info["datasets"]) == {"spiral", "moons", "circles", "xor", "blobs"}
    assert info["defaults"]["backend"] == be.name


def test_loss_falls_on_moons(server, be):
    status, out = request(server, "POST", "/api/sessions", MOONS)
    assert status == 201, out
    sid = out["id"]
    status, first = request(server, "POST", f"/api/sessions/{sid}/step", {"n": 1})
    assert status == 200 and first["step"] == 1
    status, later = request(server, "POST", f"/api/sessions/{sid}/step", {"n": 300})
    assert status == 200 and later["step"] == 301
    # measured on NumPy: 0.50 after one step, 0.02 after 301; every backend trains the same net
    assert later["test_loss"] < 0.5 * first["test_loss"]
    assert later["train_loss"] < 0.1 and later["test_acc"] > 0.95


def test_settings_change_keeps_or_restarts_the_model_as_it_should(server):
    sid = request(server, "POST", "/api/sessions", MOONS)[1]["id"]
    request(server, "POST", f"/api/sessions/{sid}/step", {"n": 5})
    status, out = request(server, "POST", f"/api/sessions/{sid}/settings", {"lr": 0.03})
    assert status == 200 and out["step"] == 5  # the same weights train on with a new rate
    status, out = request(server, "POST", f"/api/sessions/{sid}/settings", {"activation": "relu"})
    assert status == 200 and out["step"] == 0  # a new network
    status, out = request(server, "POST", f"/api/sessions/{sid}/settings", {"points": 100, "test": 0.5})
    assert status == 200 and (out["n_train"], out["n_test"]) == (50, 50)


def test_a_clicked_point_joins_the_training_set(server):
    sid = request(server, "POST", "/api/sessions", MOONS)[1]["id"]
    n = request(server, "POST", f"/api/sessions/{sid}/step", {"n": 1})[1]["n_train"]
    status, out = request(server, "POST", f"/api/sessions/{sid}/point", {"x": 0.1, "y": -0.2, "label": 1})
    assert status == 200 and out["n_train"] == n + 1
    status, out = request(server, "POST", f"/api/sessions/{sid}/point", {"x": 0.1, "y": -0.2, "label": 2})
    assert status == 400 and "'label'" in out["error"] and "[0, 1]" in out["error"]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), [
    ("GET", "/nowhere", None, 404, "GET /nowhere"),
    ("GET", "/static/../session.py", None, 404, "no such page"),
    ("POST", "/api/sessions", {"dataset": "mnist"}, 400, "'dataset' must be one of"),
    ("POST", "/api/sessions", {"lr": -1}, 400, "'lr' must be a number in (0, 10]"),
    ("POST", "/api/sessions", {"hidden": [8, 0]}, 400, "'hidden' must be an integer in [1, 32]"),
    ("POST", "/api/sessions", {"learning_rate": 0.1}, 400, "unknown key(s) 'learning_rate'"),
    ("POST", "/api/sessions", {"backend": "no_such_backend"}, 400, "'backend' must be one of"),
    ("POST", "/api/sessions", [1, 2], 400, "must be a JSON object"),
    ("POST", "/api/sessions/0123456789abcdef/play", {}, 404, "no session '0123456789abcdef'"),
    ("GET", "/api/sessions/0123456789abcdef/events", None, 404, "no session"),
    ("DELETE", "/api/sessions/0123456789abcdef", None, 404, "no session"),
])
def test_bad_requests_get_a_4xx_and_a_message(server, method, path, body, status, words):
    got, out = request(server, method, path, body)
    assert got == status, out
    assert words in out["error"]


def test_bad_bodies_and_commands_get_a_4xx_and_a_message(server):
    sid = request(server, "POST", "/api/sessions", MOONS)[1]["id"]
    cases = [
        (dict(raw=b"{not json"), 400, "not valid JSON"),
        (dict(raw=b'{"n": 1}', headers={"Content-Type": "text/plain"}), 415, "application/json"),
        (dict(raw=b"x" * 70_000), 413, "at most 65536"),
    ]
    for kw, status, words in cases:
        got, out = request(server, "POST", f"/api/sessions/{sid}/step", **kw)
        assert got == status and words in out["error"], (kw, got, out)
    for action, body, words in [("fly", {}, "unknown action 'fly'"),
                                ("step", {"n": 0}, "'n' must be an integer in [1, 2000]"),
                                ("step", {"m": 3}, "unknown argument(s) 'm'"),
                                ("neuron", {"layer": 0, "unit": 8}, "'unit' must be an integer in [0, 7]"),
                                ("settings", {"noise": "lots"}, "'noise' must be a number")]:
        got, out = request(server, "POST", f"/api/sessions/{sid}/{action}", body)
        assert got == 400 and words in out["error"], (action, out)
    # a refused settings change leaves the session as it was
    assert request(server, "POST", f"/api/sessions/{sid}/step", {"n": 1})[1]["step"] == 1


def test_only_loopback_names_are_served_by_a_loopback_server(server):
    status, out = request(server, "GET", "/api/info", headers={"Host": "attacker.example:80"})
    assert status == 403 and "loopback" in out["error"]
    assert request(server, "GET", "/api/info", headers={"Host": "localhost"})[0] == 200


def test_too_many_sessions_get_429(server):
    ids = [request(server, "POST", "/api/sessions", MOONS)[1]["id"] for _ in range(server.max_sessions)]
    status, out = request(server, "POST", "/api/sessions", MOONS)
    assert status == 429 and "max_sessions=3" in out["error"]
    assert request(server, "DELETE", f"/api/sessions/{ids[0]}")[1]["ended"] is True
    assert request(server, "POST", "/api/sessions", MOONS)[0] == 201  # room again


def _events(sock_file, n):
    """The first ``n`` server-sent events as ``(kind, payload)``."""
    out, kind, data = [], None, []
    while len(out) < n:
        line = sock_file.readline().decode()
        assert line, "the stream ended early"
        line = line.rstrip("\r\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and kind:
            out.append((kind, json.loads("".join(data))))
            kind, data = None, []
    return out


def test_the_stream_sends_the_view_and_the_session_thread_ends_when_it_closes(server):
    threads_before = {t.ident for t in threading.enumerate()}
    sid = request(server, "POST", "/api/sessions", MOONS)[1]["id"]
    sess = server.sessions[sid]
    request(server, "POST", f"/api/sessions/{sid}/play", {})
    sock = socket.create_connection(server.server_address[:2], timeout=30)
    sock.sendall(f"GET /api/sessions/{sid}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    f = sock.makefile("rb")
    assert f.readline().startswith(b"HTTP/1.1 200")
    # what the page needs first, one event of each kind (a newer one replaces an unsent one)
    assert {kind for kind, _ in _events(f, 3)} == {"meta", "data", "frame"}
    frame = [p for k, p in _events(f, 6) if k == "frame"][-1]
    assert frame["grid"]["n"] == 48 and len(frame["grid"]["p"]) == 48 * 48 * 2
    assert [len(u["grad_a"]) for u in frame["units"]] == [8, 8]
    # a second stream for the same page is refused
    assert request(server, "GET", f"/api/sessions/{sid}/events")[0] == 409
    f.close()
    sock.close()
    assert wait_until(lambda: not sess.alive), "the session's thread outlived its stream"
    assert sid not in server.sessions
    assert wait_until(lambda: {t.ident for t in threading.enumerate() if t.name.startswith("anynet-playground")}
                      <= threads_before)


def test_a_session_whose_page_never_connects_ends_after_the_idle_timeout(server):
    server.idle_timeout = 0.2
    sid = request(server, "POST", "/api/sessions", MOONS)[1]["id"]
    sess = server.sessions[sid]
    assert wait_until(lambda: not sess.alive)
    assert sid not in server.sessions


def test_loopback_only_by_default():
    srv = make_server(port=0)
    try:
        assert DEFAULT_HOST == "127.0.0.1" and srv.server_address[0] == "127.0.0.1" and srv.loopback_only
    finally:
        srv.server_close()
    args = cli._parser().parse_args(["playground", "--no-browser"])
    assert args.host == "127.0.0.1" and args.no_browser


def test_a_wider_host_is_allowed_when_asked_with_a_warning(monkeypatch, capsys):
    started = {}

    class Fake:
        url = "http://0.0.0.0:1"
        default_backend = "numpy"

        def backends(self):
            return {"numpy": None}

        def serve_forever(self):
            started["served"] = True

        def server_close(self):
            started["closed"] = True

    monkeypatch.setattr("anynet.playground.make_server", lambda host, port, **kw: started.update(host=host) or Fake())
    assert cli.main(["playground", "--host", "0.0.0.0", "--port", "1", "--no-browser"]) == 0
    assert started == {"host": "0.0.0.0", "served": True, "closed": True}
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert serve.__module__ == "anynet.playground"


def test_neuron_gradients_match_an_independent_numpy_backprop(be):
    """The gradient flowing into each unit of the last hidden layer, ``|dl_n/da|`` averaged,
    equals ``|(softmax(y) - onehot(t)) @ W|`` averaged, computed here in NumPy float64."""
    sess = Session(Settings(dataset="moons", points=60, hidden=(5, 4), backend=be.name), backends=[be.name])
    view = sess.neuron_view()
    W = np.asarray(to_numpy(sess.model.params[-1]["W"]), dtype=np.float64)  # (classes, units)
    y = np.asarray(to_numpy(sess.model.predict(sess.x_train)), dtype=np.float64)
    p = np.exp(y - y.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(p)), sess.t_train] -= 1.0
    want = np.abs(p @ W).mean(axis=0)
    got = np.asarray(view["units"][-1]["grad_a"], dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6)
    # and dl/dz = dl/da * tanh'(z) = dl/da * (1 - a^2), per sample, averaged
    h = sess.model.backend.asarray(sess.x_train, dtype="float32")
    for i, layer in enumerate(sess.model.layers[:-1]):
        h, _ = layer.forward(sess.model.params[i], h)
    a = np.asarray(to_numpy(h), dtype=np.float64)
    np.testing.assert_allclose(view["units"][-1]["grad_z"], np.abs((p @ W) * (1 - a * a)).mean(axis=0),
                               rtol=1e-3, atol=1e-6)
    assert len(view["neuron"]["map"]) == 48 * 48


def test_a_page_can_switch_to_another_backend_that_runs_here(server, be):
    cheap_first = ["numpy", "array_api_strict", "torch", "cupy", "jax"]  # jax compiles: slowest to start
    others = sorted((n for n in server.usable_backends() if n != be.name),
                    key=lambda n: cheap_first.index(n) if n in cheap_first else len(cheap_first))
    if not others:
        pytest.skip(f"no backend but {be.name} can run in this environment")
    sid = request(server, "POST", "/api/sessions", MOONS)[1]["id"]
    status, out = request(server, "POST", f"/api/sessions/{sid}/settings", {"backend": others[0]})
    assert status == 200, out
    assert request(server, "POST", f"/api/sessions/{sid}/step", {"n": 2})[1]["step"] == 2
    assert server.sessions[sid].model.backend.name == others[0]


def test_a_busy_port_is_a_clear_error_with_exit_code_1(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["playground", "--no-browser", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port 0" in err


def test_a_command_to_an_ended_session_says_so(be):
    sess = Session(Settings(dataset="moons", points=40, hidden=(4,), backend=be.name), backends=[be.name])
    sess.start()
    sess.stop()
    sess.join(10)
    with pytest.raises(SessionEnded, match="has ended"):
        sess.command("play", {})
