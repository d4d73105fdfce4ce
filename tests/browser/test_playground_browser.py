"""anynet playground in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium; nothing is downloaded): the page loads,
trains on moons until the test loss is low, takes clicked points, switches the
activation, survives a reload without leaking its session, and leaves a
screenshot for the README in ``docs/playground.png``.

Run with ``pytest -m browser --backend numpy tests/browser`` or ``nox -s browser``.
Where Chromium, its driver or Selenium are missing the test skips with the reason,
unless ``ANYNET_REQUIRE_BROWSER=1`` (set by ``nox -s browser``) makes that a failure.
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from anynet.playground import make_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "playground.png"
# Measured with these settings (moons, 200 points, noise 0.1, 8-8 tanh or relu, Adam 0.01, batch 16):
# the test loss starts near 0.7 and falls below 0.05 within 200-550 steps for seeds 0, 1 and 2
# (seed 0: 250 steps, then down to 0.001-0.002); the page trains thousands of steps a second.
TEST_LOSS_BELOW = 0.05
SETTINGS = "dataset=moons&points=200&noise=0.1&test=0.3&seed=0&hidden=8,8&activation=tanh" \
           "&optimizer=adam&lr=0.01&batch=16&l2=0"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1360,1000"]


def _unavailable(why: str) -> None:
    if os.environ.get("ANYNET_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ANYNET_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


@pytest.fixture
def server(be):
    srv = make_server(port=0, backend=be.name, heartbeat=0.2)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)


@pytest.fixture
def driver(monkeypatch, tmp_path):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        _unavailable(f"{' and '.join(missing)} not installed (Debian: apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install selenium)")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    opts = webdriver.ChromeOptions()
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    opts.binary_location = str(CHROMIUM)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _wait(drv, cond, what, timeout=60.0):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.1).until(lambda d: cond())
    except Exception as exc:
        status, banner = _text(drv, "status"), _text(drv, "banner")
        raise AssertionError(f"waited {timeout:g} s for {what}; status {status!r}, banner {banner!r}") from exc


def _text(drv, id_):
    return (drv.find_element("id", id_).get_attribute("textContent") or "").strip()  # as written, not as styled


def _number(drv, id_):
    try:
        return float(_text(drv, id_).replace(",", ""))
    except ValueError:
        return float("nan")


def _only_session(srv):
    assert len(srv.sessions) == 1, f"{len(srv.sessions)} sessions"
    return next(iter(srv.sessions.values()))


def test_playground_in_chromium(server, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    drv, be_name = driver, server.default_backend
    drv.get(f"{server.url}/?{SETTINGS}")
    # Play at once, before the page has its session: the click waits for it, it is not lost
    drv.find_element("id", "play").click()
    _wait(drv, lambda: _number(drv, "test-loss") < TEST_LOSS_BELOW, f"test loss < {TEST_LOSS_BELOW}")
    query = parse_qs(urlparse(drv.current_url).query)
    assert query["dataset"] == ["moons"] and query["backend"] == [be_name]  # the view is in the URL
    assert _number(drv, "step-count") > 0 and _number(drv, "sps") > 0
    drv.find_element("id", "play").click()  # pause
    _wait(drv, lambda: _text(drv, "status").startswith("paused"), "pause")

    # a click adds a point of class 0, a shift-click one of class 1
    n = int(_number(drv, "n-train"))
    plane = drv.find_element("id", "plane")
    ActionChains(drv).move_to_element_with_offset(plane, -100, -150).click().perform()
    _wait(drv, lambda: int(_number(drv, "n-train")) == n + 1, "the clicked point")
    ActionChains(drv).move_to_element_with_offset(plane, 120, 150).key_down(Keys.SHIFT).click() \
        .key_up(Keys.SHIFT).perform()
    _wait(drv, lambda: int(_number(drv, "n-train")) == n + 2, "the shift-clicked point")
    sess = _only_session(server)
    assert sess.t_train[-2:].tolist() == [0, 1]
    x0, y0 = sess.x_train[-2]
    assert x0 < 0 < y0  # left of and above the centre, where it was clicked

    # switch the activation: a new network on the same data, and the URL follows
    Select(drv.find_element("id", "activation")).select_by_value("relu")
    _wait(drv, lambda: "activation=relu" in drv.current_url and "relu" in _text(drv, "neuron-title"),
          "the switch to relu")
    assert sess.settings.activation == "relu" and int(_number(drv, "n-train")) == n + 2
    drv.find_element("id", "play").click()
    _wait(drv, lambda: _number(drv, "test-loss") < TEST_LOSS_BELOW and _number(drv, "step-count") > 100,
          f"test loss < {TEST_LOSS_BELOW} with relu")
    drv.find_element("id", "unit-1-2").click()  # a neuron of the second layer, closer
    _wait(drv, lambda: "layer 2, unit 3" in _text(drv, "neuron-title"), "the chosen neuron")
    _wait(drv, lambda: _text(drv, "neuron-grad-a") not in ("", "\u2013"), "its gradient")
    time.sleep(1.0)  # let the picture settle for the screenshot
    drv.find_element("id", "play").click()
    _wait(drv, lambda: _text(drv, "status").startswith("paused"), "pause")

    # the README's picture: the whole page, written whole or not at all
    w, h = drv.execute_script("return [document.documentElement.scrollWidth, "
                              "document.documentElement.scrollHeight]")
    shot = drv.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}})
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=SCREENSHOT.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        os.replace(tmp, SCREENSHOT)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

    # the page loaded nothing from elsewhere, and logged no error
    origins = drv.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {server.url}, origins
    errors = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    # a reload starts a new session and ends the old one's thread
    old = sess
    drv.refresh()
    _wait(drv, lambda: _text(drv, "status").startswith(("paused", "training")), "the reloaded page")
    _wait(drv, lambda: not old.alive and len(server.sessions) == 1, "the old session to end")
    assert old.id not in server.sessions
