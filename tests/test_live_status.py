"""The status page of `score-av live` (installations/live/status.py), over a real `LiveRun`.

One runner plays for the whole module (the shipped models, the file audio driver, 240 bpm: a bar a
second) on a source the tests unplug and plug in again, or freeze, and its page is read as a script and a
technician would: /status.json and /healthz with urllib, the page itself in headless Chromium
(Playwright driving the system's /usr/bin/chromium; skipped with the reason where either is missing).
What the runner refuses (a port in use, a public address without a token) goes through the CLI: one
line and exit status 2; and `score-av live --status 127.0.0.1:0` runs once in a process of its own.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from installations.live.capture import SourceLost
from installations.live.config import LiveConfigError, read_config
from installations.live.runner import LiveRun
from installations.live.status import StatusServer

from conftest import moving_frames
from test_live_cli import FILE, here, one_line_error, written  # noqa: F401 - here is a fixture

KEYS = {"camera", "people", "key", "bar", "bpm", "latency_ms", "underruns", "cpu", "rss_mb", "uptime_s", "errors",
        "layers", "last_bars"}
CHROMIUM = Path("/usr/bin/chromium")
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "status-page.png"


class PluggableSource:
    """A camera the test unplugs (`plugged.clear()`: reads fail, opens are refused) and plugs in again,
    or freezes (`frozen.set()`: reads go on, each a new copy of the very same picture, as a hung
    driver gives) and thaws."""
    name = "test camera"

    def __init__(self, fps: float = 25.0):
        self.frames = moving_frames(50, 160, 120)
        self.interval, self.n = 1.0 / fps, 0
        self.plugged = threading.Event()
        self.plugged.set()
        self.frozen = threading.Event()

    def open(self) -> None:
        if not self.plugged.is_set():
            raise SourceLost("test camera: not connected")

    def read(self) -> np.ndarray:
        time.sleep(self.interval)
        if not self.plugged.is_set():
            raise OSError("test camera: unplugged")
        if self.frozen.is_set():
            return self.frames[self.n % len(self.frames)].copy()
        self.n += 1
        return self.frames[self.n % len(self.frames)]

    def close(self) -> None:
        pass


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def status(url: str) -> dict:
    code, body = get(url + "status.json")
    assert code == 200, body
    return json.loads(body)


def wait_for(what, timeout: float, step: float = 0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = what()
        if value:
            return value
        time.sleep(step)
    return what()


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def browser():
    """Headless Chromium (the system's, driven by Playwright), closed after the test; skipped with the
    reason where either is missing."""
    if not CHROMIUM.exists():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium; make test does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, models):
    """A LiveRun with its status page on a free port, playing until the module is done: (run, source, url)."""
    folder = tmp_path_factory.mktemp("status")
    logger, lines = logging.getLogger("score_av.live"), Lines()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # INFO kept here: not to handlers an earlier test left on "score_av"
    logger.addHandler(lines)
    config = read_config(None, dict(audio_driver="file", wav=folder / "heard.wav", bpm=240, osc_in="off",
                                    status="127.0.0.1:0"))
    source = PluggableSource()
    run = LiveRun(config, models, source=source)
    stop = threading.Event()
    worker = threading.Thread(target=run.run, args=(stop,), daemon=True)
    worker.start()
    try:
        printed = wait_for(lambda: [s for s in lines.lines if s.startswith("status page: ")], 10)
        assert printed, lines.lines
        url = printed[0].removeprefix("status page: ")
        yield run, source, url
    finally:
        stop.set()
        worker.join(timeout=15)
        logger.removeHandler(lines)
        logger.setLevel(level)
        logger.propagate = propagate
    assert not worker.is_alive()


def playing(url: str, source: PluggableSource) -> dict:
    """Plugged in, not frozen, frames flowing and a bar played: the status then."""
    source.frozen.clear()
    source.plugged.set()
    now = wait_for(lambda: (s := status(url))["camera"] == "live" and s["bar"] is not None and s["last_bars"] and s,
                   20, 0.1)
    assert now, status(url)
    return now


def test_score_av_live_prints_the_status_url_which_serves_the_figures_while_it_runs(tmp_path):
    """`score-av live --status 127.0.0.1:0` in a process of its own, as a technician starts it: the URL
    it logs at start answers /status.json (the camera live once frames flow) and /healthz; at the
    end of --duration it exits 0 and the page is gone. (First in the module: it runs before the
    module's runner starts, so that the two do not share the two cores.)"""
    from score_av.clips import write_clip

    clip = write_clip(tmp_path / "room.mp4", moving_frames(50, 160, 120), 25)
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "score_av", "live", "--source", str(clip), "--audio-driver",
                                 "file", "--wav", str(tmp_path / "heard.wav"), "--duration", "4", "--osc-in", "off",
                                 "--status", "127.0.0.1:0"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            printed = wait_for(lambda: re.search(r"status page: (http://127\.0\.0\.1:(\d+)/)$", log.read_text(), re.M)
                               or proc.poll() is not None, 60)
            assert isinstance(printed, re.Match), log.read_text()
            url = printed[1]
            assert printed[2] != "0"
            now = wait_for(lambda: (s := status(url))["camera"] == "live" and s, 4)
            assert now, status(url)
            assert KEYS <= set(now) and now["bpm"] > 0 and now["uptime_s"] >= 0 and isinstance(now["errors"], list)
            assert wait_for(lambda: get(url + "healthz") == (200, b"ok\n"), 3), get(url + "healthz")
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sys.stderr.write(log.read_text())  # its log, shown by pytest when the test fails
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert out.startswith("live: ") and str(tmp_path / "heard.wav") in out
    with pytest.raises(urllib.error.URLError):  # closed with the run
        urllib.request.urlopen(url + "healthz", timeout=2)


def test_port_0_picks_a_free_port_and_the_printed_url_is_it(live):
    run, _, url = live
    port = run.status_server.httpd.server_address[1]
    assert port != 0 and url == f"http://127.0.0.1:{port}/"
    code, page = get(url)
    assert code == 200 and b"<title>score-av live</title>" in page
    assert b"src=\"http" not in page and b"href=\"http" not in page  # no external asset


def test_status_json_has_the_figures_and_the_camera_live_while_frames_flow(live):
    _, source, url = live
    now = playing(url, source)
    assert KEYS <= set(now)
    assert now["camera"] == "live" and now["bpm"] == 240
    people = wait_for(lambda: status(url)["people"] is not None, 5)  # counted a few times a second (presence.py)
    assert people and isinstance(status(url)["people"], int)
    assert isinstance(now["bar"], int) and now["underruns"] >= 0 and now["rss_mb"] > 0 and now["uptime_s"] > 0
    assert [layer["name"] for layer in now["layers"]] == ["melody"]
    assert all(len(bar) == 16 and all(isinstance(t, int) for t in bar) for bar in now["last_bars"])
    assert isinstance(now["errors"], list)
    assert get(url + "healthz") == (200, b"ok\n")
    assert get(url + "frame.jpg")[0] == 404  # show_frames is off: visitors are filmed


def test_healthz_turns_503_with_the_reason_when_the_camera_is_lost_and_back_to_200(live):
    _, source, url = live
    playing(url, source)
    source.plugged.clear()
    try:
        assert wait_for(lambda: get(url + "healthz")[0] == 503, 4), get(url + "healthz")
        code, body = get(url + "healthz")
        assert code == 503 and body.count(b"\n") == 1 and b"no frame for" in body, body
        assert wait_for(lambda: status(url)["camera"] == "lost", 3)
        # the loss was a WARNING from the score_av.live loggers: it is among the errors shown
        assert any("lost" in line for line in status(url)["errors"])
    finally:
        source.plugged.set()
    assert wait_for(lambda: get(url + "healthz")[0] == 200, 8), get(url + "healthz")


def page_showing_live(browser, url: str, width: int, height: int):
    """The status page in a window of that size, once it says the camera is live."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_function("document.getElementById('camera').textContent === 'live'", timeout=5000)
    return page


def test_the_page_in_a_browser_shows_the_camera_updates_after_a_bar_and_shows_it_lost(live, browser, tmp_path):
    _, source, url = live
    playing(url, source)
    try:
        wall = page_showing_live(browser, url, 1920, 1080)
        # a new bar in /status.json is on the page within 2 s
        shown = wall.text_content("#bar")
        bar = wait_for(lambda: (b := status(url)["bar"]) is not None and str(b) != shown and b, 5)
        assert bar, "no new bar in 5 s"
        # (at 240 bpm the next bar may come first: that one, or a later one, is on the page)
        wall.wait_for_function(f"Number(document.getElementById('bar').textContent) >= {bar}", timeout=2000)
        assert wall.locator("#roll rect").count() > 0  # the last bars' notes
        wall.wait_for_function(r"/^\d+$/.test(document.getElementById('people').textContent)", timeout=3000)
        wall.screenshot(path=str(tmp_path / "wall.png"))
        phone = page_showing_live(browser, url, 390, 844)
        phone.wait_for_selector("#roll rect", timeout=3000)
        phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        if os.environ.get("SCORE_AV_UPDATE_SCREENSHOT"):  # the README's picture, remade on request only
            shutil.copyfile(tmp_path / "wall.png", DOCS_PNG)
        # the camera lost: on the page, and /healthz says 503
        source.plugged.clear()
        wall.wait_for_function("document.getElementById('camera').textContent === 'lost'", timeout=5000)
        assert wait_for(lambda: get(url + "healthz")[0] == 503, 3)
        wall.screenshot(path=str(tmp_path / "wall-lost.png"))
    finally:
        source.plugged.set()
    assert (tmp_path / "phone.png").stat().st_size > 0


def test_a_frozen_picture_is_camera_frozen_in_status_json_and_healthz_503_until_it_moves_again(live):
    """The same picture over and over is noticed as frozen by the capture (within its notice time,
    NOTICE_SECONDS in runner.py); /status.json says "frozen" with why, /healthz 503 once no fresh
    frame has come for FRAME_HEALTHY; both are well again when the picture moves."""
    _, source, url = live
    playing(url, source)
    source.frozen.set()
    try:
        assert wait_for(lambda: status(url)["camera"] == "frozen", 4), status(url)
        assert status(url)["camera_why"].startswith("frozen: the same picture for")
        assert wait_for(lambda: get(url + "healthz")[0] == 503, 4), get(url + "healthz")
        code, body = get(url + "healthz")
        assert code == 503 and body.count(b"\n") == 1 and b"no frame for" in body and b"frozen" in body, body
        assert status(url)["camera"] == "frozen"  # reconnecting to the same frozen picture is no recovery
        assert any("frozen" in line for line in status(url)["errors"])
    finally:
        source.frozen.clear()
    assert wait_for(lambda: status(url)["camera"] == "live", 4), status(url)
    assert wait_for(lambda: get(url + "healthz")[0] == 200, 4), get(url + "healthz")


def test_the_page_in_a_browser_shows_the_camera_frozen(live, browser, tmp_path):
    """A frozen picture is "frozen" on the page, in its own colour and with why, not "live" nor "lost"."""
    _, source, url = live
    playing(url, source)
    try:
        wall = page_showing_live(browser, url, 1920, 1080)
        source.frozen.set()
        wall.wait_for_function("document.getElementById('camera').textContent === 'frozen'", timeout=5000)
        assert wall.get_attribute("#camera", "class") == "frozen"  # its own colour, not lost's
        assert wall.text_content("#why").startswith("frozen: the same picture for")
        assert wait_for(lambda: get(url + "healthz")[0] == 503, 4)
        wall.screenshot(path=str(tmp_path / "wall-frozen.png"))
        source.frozen.clear()
        wall.wait_for_function("document.getElementById('camera').textContent === 'live'", timeout=5000)
    finally:
        source.frozen.clear()
    assert (tmp_path / "wall-frozen.png").stat().st_size > 0


def test_bound_beyond_this_machine_it_needs_a_token(capsys, here):
    err = one_line_error(capsys, *FILE, "--status", "0.0.0.0:0")
    assert "status 0.0.0.0:0: bound beyond this machine the status page needs a token (--status-token" in err
    assert written(here) == []
    with pytest.raises(LiveConfigError, match="needs a token"):
        read_config(None, dict(status="[::]:8080"))
    config = here / "live.toml"
    config.write_text('bpm = 100\n[status]\naddress = "0.0.0.0:0"\ntoken = "s3cret"\nshow_frames = true\n')
    read = read_config(config)
    assert (read.status, read.status_token, read.status_show_frames) == ("0.0.0.0:0", "s3cret", True)
    config.write_text('[status]\nadress = "127.0.0.1:0"\n')
    assert "unknown setting status.adress" in one_line_error(capsys, "--config", config, *FILE)


def test_with_a_token_every_request_needs_it_else_401():
    frame = np.zeros((48, 64, 3), np.uint8)
    server = StatusServer("0.0.0.0:0", lambda: {"camera": "live"}, lambda: None, lambda: frame, token="s3cret",
                          show_frames=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.httpd.server_address[1]}/"
        for path in ("", "status.json", "healthz", "frame.jpg"):
            assert get(url + path)[0] == 401
            assert get(url + path + "?token=wrong")[0] == 401
            assert get(url + path, {"Authorization": "Bearer wrong"})[0] == 401
        assert get(url + "healthz?token=s3cret") == (200, b"ok\n")
        code, body = get(url + "status.json", {"Authorization": "Bearer s3cret"})
        assert code == 200 and json.loads(body)["camera"] == "live"
        code, jpeg = get(url + "frame.jpg?token=s3cret")  # show_frames on: a JPEG
        assert code == 200 and jpeg[:2] == b"\xff\xd8"
    finally:
        server.close()


def test_a_port_in_use_is_one_line_and_exit_status_2(capsys, here):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = one_line_error(capsys, *FILE, "--status", f"127.0.0.1:{port}")
    assert f"status 127.0.0.1:{port}: cannot serve there (the port is in use)" in err
    assert written(here) == []
    assert "the port must be 0-65535" in one_line_error(capsys, *FILE, "--status", "127.0.0.1:70000")
