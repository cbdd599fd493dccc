"""installations/live/window.py and service.py, and the unit and example config beside them.

Fast and without a display, a service manager or a sound card: the window is drawn into arrays,
the notify protocol is checked against a real datagram socket bound in tmp_path.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from installations.live import service, window
from installations.live.player import PERIOD_SIZE, PERIODS
from music_vae.representation import FIRST_PITCH_TOKEN, HOLD, MIN_PITCH, NOTE_OFF
from score_av.models import MUSIC_MODEL

ROOT = Path(__file__).resolve().parents[1]
CONFIG_KEYS = {"camera", "source", "wait_for_source", "model", "style", "bpm", "audio_driver", "wav", "midi_out",
               "osc", "osc_in", "fullscreen", "duration", "stats", "log", "soundfont", "program", "layers", "preset",
               "key", "key_follow_s", "gestures", "development", "seed", "volume", "status", "status_token", "status_show_frames",
               "presence_hz", "audio_periods", "audio_period_size"}


def _frame(h: int = 270, w: int = 480) -> np.ndarray:
    """A picture with structure: a horizontal red ramp and a green square, RGB."""
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    frame[h // 3: 2 * h // 3, w // 3: w // 2, 1] = 200
    return frame


def _bar(pitches: list[int]) -> np.ndarray:
    bar = np.full(16, HOLD, np.int64)
    for i, pitch in enumerate(pitches):
        bar[i * 4] = pitch - MIN_PITCH + FIRST_PITCH_TOKEN
    bar[14] = NOTE_OFF
    return bar


# --- draw ------------------------------------------------------------------------------------


def test_draw_is_a_bgr_image_of_the_picture_with_path_and_roll():
    frame = _frame()
    path = np.cumsum(np.random.default_rng(0).normal(size=(40, 2)), axis=0)
    bars = [_bar([60, 64, 67, 72]), _bar([62, 65]), _bar([67, 71, 74])]
    image = window.draw(frame, path, bars, step=5, status="live 120 bpm  bar 42  camera: live")
    assert image.shape == (window.SIZE[1], window.SIZE[0], 3) and image.dtype == np.uint8

    plain = window.draw(frame, np.zeros((0, 2)), [], step=0, status="")
    expected = np.repeat(np.repeat(frame[:, :, ::-1], 2, axis=0), 2, axis=1)   # RGB -> BGR, 480x270 -> 960x540
    middle = (slice(150, 350), slice(100, 600))                                 # clear of every overlay
    assert np.abs(plain[middle].astype(int) - expected[middle]).mean() < 3      # the picture, in BGR

    side = int(540 * window.PATH_PANEL)
    panel = (slice(window.MARGIN, window.MARGIN + side), slice(960 - side - window.MARGIN, 960 - window.MARGIN))
    strip = slice(540 - int(540 * window.ROLL_HEIGHT), 540)
    assert (image[panel] != plain[panel]).any(axis=2).sum() > 50               # the path was drawn
    assert (image[strip] != plain[strip]).any(axis=2).sum() > 500              # notes, highlight and cursor
    assert (image[:40, :300] != plain[:40, :300]).any()                         # the status line


def test_draw_takes_an_empty_path_no_bars_and_odd_input():
    for frame in (_frame(), _frame(480, 640), None):
        image = window.draw(frame, np.zeros((0, 2)), [], step=0, status="camera: lost")
        assert image.shape == (540, 960, 3)
    one_point = window.draw(_frame(), np.array([[0.5, 0.5]]), [np.zeros(16, int)], step=15, status="x")
    assert one_point.shape == (540, 960, 3)
    nans = window.draw(_frame(), np.array([[np.nan, 1.0], [0.0, 1.0], [2.0, 3.0]]), [_bar([60])] * 9,
                       step=99, status="a\nb", size=(320, 180))
    assert nans.shape == (180, 320, 3)


# --- Window ----------------------------------------------------------------------------------


def test_window_without_a_display_warns_once_and_does_nothing(monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    win = window.Window(fullscreen=True)
    with caplog.at_level(logging.WARNING, logger="score_av.live.window"):
        assert win.open() is False
        win.show(np.zeros((10, 10, 3), np.uint8))
        assert win.poll() is False
        win.close()
    warnings = [r for r in caplog.records if r.name == "score_av.live.window"]
    assert len(warnings) == 1 and "headless" in warnings[0].getMessage()
    assert not win.is_open


def test_window_with_a_display_but_headless_opencv_warns_once(monkeypatch, caplog):
    """$DISPLAY set, but opencv-python-headless has no GUI: namedWindow's cv2.error is caught."""
    monkeypatch.setenv("DISPLAY", ":99")
    win = window.Window()
    with caplog.at_level(logging.WARNING, logger="score_av.live.window"):
        opened = win.open()
        if opened:   # an OpenCV with a GUI and a real display :99: nothing to check here
            win.close()
            pytest.skip("this OpenCV can open windows")
        win.show(np.zeros((10, 10, 3), np.uint8))
        assert win.poll() is False
        win.close()
    assert len([r for r in caplog.records if r.name == "score_av.live.window"]) == 1


# --- Heartbeat -------------------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    # AF_UNIX paths are limited to about 100 bytes; pytest's tmp_path can be longer
    folder = tmp_path if len(str(tmp_path)) < 80 else Path(os.environ.get("TMPDIR", "/tmp"))
    address = folder / f"notify-{os.getpid()}.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(address))
    server.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(address))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield server
    server.close()
    address.unlink(missing_ok=True)


def test_heartbeat_sends_the_notify_datagrams(notify_socket, tmp_path):
    beat_file = tmp_path / "heartbeat"
    heart = service.Heartbeat(path=beat_file)
    assert heart.enabled and heart.due()
    heart.ready()
    heart.beat()
    heart.status("live 120 bpm\nbar 42")
    heart.stopping()
    heart.close()
    got = [notify_socket.recv(4096).decode() for _ in range(4)]
    assert got == ["READY=1", "WATCHDOG=1", "STATUS=live 120 bpm bar 42", "STOPPING=1"]
    stamp = int(beat_file.read_text().split()[0])
    assert abs(stamp - time.time()) < 5


def test_heartbeat_interval_and_due(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert service.Heartbeat().interval == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))      # another process's watchdog
    assert service.Heartbeat().interval == service.DEFAULT_INTERVAL
    heart = service.Heartbeat(interval=0.05)
    assert heart.due()
    heart.beat()
    assert not heart.due()
    time.sleep(0.06)
    assert heart.due()


def test_heartbeat_abstract_socket_address():
    assert service._notify_address("@/org/freedesktop/systemd1/notify") == "\0/org/freedesktop/systemd1/notify"
    assert service._notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert service._notify_address("") is None


def test_heartbeat_without_systemd_does_nothing_and_never_raises(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    heart = service.Heartbeat()
    assert not heart.enabled
    heart.ready(); heart.beat(); heart.status("x"); heart.stopping(); heart.close()

    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    broken = service.Heartbeat(path=tmp_path / "no-such-folder" / "heartbeat")
    with caplog.at_level(logging.WARNING, logger="score_av.live.service"):
        for _ in range(3):
            broken.ready(); broken.beat(); broken.stopping()
    said = [r for r in caplog.records if r.name == "score_av.live.service"]
    assert len(said) == 2   # once for the socket, once for the file


# --- setup_logging ---------------------------------------------------------------------------


def test_setup_logging_rotates_and_is_idempotent(tmp_path):
    logger = logging.getLogger("score_av")
    before = list(logger.handlers), logger.level
    try:
        path = tmp_path / "logs" / "live.log"
        service.setup_logging(path, max_bytes=500, backups=2)
        service.setup_logging(path, max_bytes=500, backups=2)
        ours = [h for h in logger.handlers if getattr(h, "_score_av_service", False)]
        assert len(ours) == 2   # stderr and the file, once each
        child = logging.getLogger("score_av.live.test")
        for i in range(60):
            child.info("line %d of a gallery day", i)
        for handler in ours:
            handler.flush()
        files = sorted(p.name for p in path.parent.iterdir())
        assert files == ["live.log", "live.log.1", "live.log.2"]            # backups, and no more than asked
        assert all(p.stat().st_size <= 500 for p in path.parent.iterdir())
        line = path.read_text().splitlines()[-1]
        assert " INFO score_av.live.test: line 59 of a gallery day" in line
        assert line.count("line 59") == 1 and path.read_text().count("line 59") == 1
    finally:
        for handler in [h for h in logger.handlers if h not in before[0]]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(before[1])


# --- handle_signals --------------------------------------------------------------------------


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_sigterm_sets_the_stop_event(restore_signals):
    stop = threading.Event()
    service.handle_signals(stop)
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.wait(2)


def test_a_second_sigint_force_quits(restore_signals):
    stop = threading.Event()
    service.handle_signals(stop)
    os.kill(os.getpid(), signal.SIGINT)
    assert stop.wait(2)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)   # the handler runs here at the latest
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_handle_signals_outside_the_main_thread_says_so():
    errors = []
    thread = threading.Thread(target=lambda: errors.append(_raises(service.handle_signals, threading.Event())))
    thread.start()
    thread.join()
    assert errors == [RuntimeError]


def _raises(function, *args):
    try:
        function(*args)
    except Exception as error:   # noqa: BLE001
        return type(error)
    return None


# --- the unit and the example config ---------------------------------------------------------


ARENAS_AFTER_EIGHT_THREADS = """
import ctypes, sys, tempfile, threading
from installations.live.service import tune_malloc
if sys.argv[1] == "limited":
    assert tune_malloc(2)
together = threading.Barrier(9)
def allocate_and_wait():
    [bytearray(1000) for _ in range(100)]
    together.wait()
threads = [threading.Thread(target=allocate_and_wait) for _ in range(8)]
[t.start() for t in threads]; together.wait(); [t.join() for t in threads]
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile("r", suffix=".xml") as info:
    fp = ctypes.c_void_p(libc.fopen(info.name.encode(), b"w"))
    libc.malloc_info(0, fp); libc.fclose(fp)
    print(info.read().count("<heap nr="))
"""


def malloc_snippet(code: str, mode: str) -> float:
    """What `code` prints, run with `mode` as its argument in a fresh Python without glibc's MALLOC_
    settings in the environment (they would win over tune_malloc)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code, mode], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_malloc_arenas_are_limited_for_the_threads_that_come_after():
    """Eight threads alive at once get heaps of their own, unless tune_malloc came first."""
    assert malloc_snippet(ARENAS_AFTER_EIGHT_THREADS, "free") > 4
    assert malloc_snippet(ARENAS_AFTER_EIGHT_THREADS, "limited") == 2


LARGE_BLOCK_AFTER_ONE_FREED = """
import sys
from installations.live.service import malloc_figures, tune_malloc
if sys.argv[1] == "tuned":
    assert tune_malloc()
first = bytearray(4_000_000)
del first                      # glibc's own rule now carves blocks up to 4 MB from the heap
before = malloc_figures()["own_pages"]
frame = bytearray(1_000_000)   # a frame's worth
print(malloc_figures()["own_pages"] - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_large_blocks_keep_pages_of_their_own_after_one_is_freed():
    """After a large block is freed, glibc carves the next ones from its heap (where their gaps stay
    resident between smaller objects) unless tune_malloc fixed the threshold: then a frame-sized block
    still gets pages of its own, which go back to the system when it is freed."""
    assert malloc_snippet(LARGE_BLOCK_AFTER_ONE_FREED, "untuned") < 0.1
    assert malloc_snippet(LARGE_BLOCK_AFTER_ONE_FREED, "tuned") >= 0.9


FREED_BETWEEN_BLOCKS = """
import psutil
from installations.live.service import release_free_memory
rss = lambda: psutil.Process().memory_info().rss / 1e6
blocks = [bytearray(16_000) for _ in range(5000)]  # 80 MB inside glibc's heap
del blocks[::2]                                     # every other one freed: 40 MB of gaps, still resident
before = rss()
assert release_free_memory()
print(before - rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_free_memory_between_blocks_in_use_goes_back_to_the_system():
    done = subprocess.run([sys.executable, "-c", FREED_BETWEEN_BLOCKS], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) > 20.0  # MB of the 40 freed


def test_example_config_parses_with_exactly_the_options():
    """The example config names every setting, each the name of a command line option (dashes as
    underscores), and it reads back as a valid config."""
    from dataclasses import fields

    from installations.live.config import LiveConfig, _flatten_tables, read_config
    from score_av.cli import build_parser

    path = ROOT / "installations" / "live.example.toml"
    config = _flatten_tables(path, tomllib.loads(path.read_text(encoding="utf-8")))  # [status] address: status, ...
    assert set(config) == CONFIG_KEYS == {f.name for f in fields(LiveConfig)}
    live = build_parser()._subparsers._group_actions[0].choices["live"]
    options = {a.dest for a in live._actions} - {"help", "config"}
    assert options == CONFIG_KEYS
    assert config["wait_for_source"] is False  # a missing source is an error unless asked to wait
    assert read_config(path).bpm == 120
    assert config["bpm"] == 120 and config["model"] == MUSIC_MODEL and config["osc_in"] == "127.0.0.1:9001"
    assert config["audio_driver"] in {"alsa", "pulseaudio", "jack", "coreaudio", "file"}
    assert 0 <= config["volume"] <= 1 and config["program"] == ""  # "": the preset's melody program, else piano
    assert read_config(path).band().layers == ("melody",)  # the melody alone, as before layers
    assert (config["audio_periods"], config["audio_period_size"]) == (PERIODS, PERIOD_SIZE)  # [audio], the defaults


def test_unit_file_is_a_notify_service_with_a_watchdog():
    unit = (ROOT / "installations" / "score-av-live.service").read_text(encoding="utf-8")
    lines = {line.strip() for line in unit.splitlines() if not line.lstrip().startswith("#")}
    for expected in ("Type=notify", "WatchdogSec=30", "Restart=always", "RestartSec=5",
                     "After=sound.target network-online.target"):
        assert expected in lines
    assert any(line.startswith("ExecStart=") and "live --config /etc/score-av/live.toml" in line for line in lines)
