"""installations/live/capture.py: sources that fail on purpose in each way a gallery camera does
(unplugged, frozen, hung driver, not there yet), a real clip played in real time, and stop().

Timing is real: the bounds are the installation's promises (a loss noticed within 2 s, a
returning camera picked up within 2 s), with a little slack for a busy test machine.
"""
from __future__ import annotations

import logging
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from installations.live.capture import (Capture, CameraSource, FileSource, SourceLost)

NOTICE = 2.0


class FakeCamera:
    """A source whose failures the test switches on and off.

    plugged: cleared, read() raises OSError (not SourceLost: any exception counts) and open() refuses.
    frozen: read() returns the same picture again and again.
    hang: read() blocks until `release` is set (a hung driver); open() clears it, as a reset would,
        unless `hang_forever`.
    refuse: open() fails this many more times before it works.
    """
    name = "fake"

    def __init__(self, fps: float = 50.0, refuse: int = 0):
        self.interval = 1.0 / fps
        self.refuse = refuse
        self.plugged = threading.Event()
        self.plugged.set()
        self.frozen = False
        self.hang = False
        self.hang_forever = False
        self.release = threading.Event()
        self.opens: list[float] = []      # when each open() was tried
        self.closes = 0
        self.n = 0

    def open(self) -> None:
        self.opens.append(time.monotonic())
        if self.refuse > 0:
            self.refuse -= 1
            raise SourceLost("fake: refused")
        if not self.plugged.is_set():
            raise SourceLost("fake: not connected")
        if not self.hang_forever:
            self.hang = False

    def read(self) -> np.ndarray:
        time.sleep(self.interval)
        if self.hang:
            self.release.wait()
            return np.full((8, 8, 3), 255, np.uint8)  # a late frame from an abandoned read
        if not self.plugged.is_set():
            raise OSError("fake: unplugged")
        if not self.frozen:
            self.n += 1
        frame = np.zeros((8, 8, 3), np.uint8)
        frame[..., 0], frame[..., 1] = self.n % 250, self.n // 250 % 250
        return frame

    def close(self) -> None:
        self.closes += 1


class Recorder:
    """on_frame and on_state for a Capture, with real-time stamps and waits."""

    def __init__(self):
        self.frames: list[tuple[float, np.ndarray]] = []
        self.states: list[tuple[float, str, str]] = []
        self.changed = threading.Condition()

    def on_frame(self, t: float, frame: np.ndarray) -> None:
        with self.changed:
            self.frames.append((t, frame))
            self.changed.notify_all()

    def on_state(self, state: str, why: str) -> None:
        with self.changed:
            self.states.append((time.monotonic(), state, why))
            self.changed.notify_all()

    def wait_state(self, state: str, count: int = 1, timeout: float = 5.0) -> float:
        """When the count-th `state` came (waiting for it)."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.at(state)) >= count, timeout), \
                f"no {state!r} #{count} within {timeout} s: {self.names()}"
            return self.at(state)[count - 1]

    def wait_frames(self, count: int, timeout: float = 5.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.frames) >= count, timeout), \
                f"{len(self.frames)} frames, wanted {count}"

    def at(self, state: str) -> list[float]:
        return [t for t, s, _ in self.states if s == state]

    def names(self) -> list[str]:
        return [s for _, s, _ in self.states]


@pytest.fixture
def run():
    """Start a Capture on a source; stop it (and release stuck fakes) after the test."""
    started = []

    def start(source, **kwargs):
        rec = Recorder()
        capture = Capture(source, rec.on_frame, on_state=rec.on_state, notice_seconds=NOTICE, **kwargs)
        started.append((capture, source))
        capture.start()
        return capture, rec

    yield start
    for capture, source in started:
        capture.stop()
        if isinstance(source, FakeCamera):
            source.release.set()


def test_an_unplugged_source_is_noticed_and_picked_up_again_within_two_seconds(run):
    cam = FakeCamera()
    capture, rec = run(cam)
    rec.wait_state("live")
    rec.wait_frames(5)
    assert capture.state == "live"

    unplugged = time.monotonic()
    cam.plugged.clear()
    lost = rec.wait_state("lost")
    assert lost - unplugged < 0.5  # an error is noticed at the next read
    assert "unplugged" in rec.states[-1][2]
    assert capture.state == "lost"

    time.sleep(3.0)  # long enough for the backoff to reach its cap
    assert rec.names() == ["live", "lost"]  # one "lost", however many attempts
    replugged = time.monotonic()
    cam.plugged.set()
    live = rec.wait_state("live", 2)
    assert live - replugged < 2.0
    before = len(rec.frames)
    rec.wait_frames(before + 5, timeout=1.0)  # frames flow again

    c = capture.counters
    assert (c.losses, c.recoveries) == (1, 1)
    assert 0 <= c.noticed_after[0] < 0.5
    assert 0 < c.recovered_after[0] < 1.5  # at most the capped wait plus an open and a frame
    assert c.frames_in == len(rec.frames)

    # the waits between failed attempts grew from 0.25 s and stopped at 1 s
    failed = [t for t in cam.opens if unplugged < t < replugged]
    gaps = np.diff(failed)
    assert len(gaps) >= 3
    assert gaps[0] == pytest.approx(0.25, abs=0.15)
    assert gaps[1] == pytest.approx(0.5, abs=0.15)
    assert all(gap == pytest.approx(1.0, abs=0.15) for gap in gaps[2:])


def test_a_frozen_picture_is_a_loss_until_the_picture_moves_again(run):
    cam = FakeCamera()
    capture, rec = run(cam)
    rec.wait_state("live")
    rec.wait_frames(5)

    frozen = time.monotonic()
    cam.frozen = True
    lost = rec.wait_state("lost")
    assert NOTICE - 0.1 < lost - frozen < NOTICE + 0.5
    assert rec.states[-1][2].startswith("frozen")
    assert capture.counters.noticed_after[0] < NOTICE + 0.5

    time.sleep(1.0)  # reopened, it still shows the frozen picture: that is not a recovery
    assert capture.state == "lost" and rec.names() == ["live", "lost"]
    delivered = len(rec.frames)

    moving = time.monotonic()
    cam.frozen = False
    live = rec.wait_state("live", 2)
    assert live - moving < 2.0
    rec.wait_frames(delivered + 5, timeout=1.0)


def test_a_hung_read_is_noticed_and_the_source_is_reopened(run):
    cam = FakeCamera()
    capture, rec = run(cam)
    rec.wait_state("live")
    rec.wait_frames(5)

    hung = time.monotonic()
    cam.hang = True
    lost = rec.wait_state("lost")
    assert NOTICE - 0.1 < lost - hung < NOTICE + 0.5
    assert rec.states[-1][2].startswith("stalled")
    live = rec.wait_state("live", 2)  # closed and opened again (which clears the hang)
    assert live - lost < 1.0
    assert cam.closes >= 1

    before = len(rec.frames)
    rec.wait_frames(before + 5, timeout=1.0)
    cam.release.set()  # the abandoned read comes back late: its frame must not be delivered
    time.sleep(0.2)
    assert not any((frame == 255).all() for _, frame in rec.frames)
    assert capture.state == "live"


def test_stop_is_prompt_while_a_read_is_stuck(run):
    cam = FakeCamera()
    cam.hang = cam.hang_forever = True
    capture, rec = run(cam)
    time.sleep(0.3)
    began = time.monotonic()
    capture.stop()
    assert time.monotonic() - began < 1.2
    assert capture.state == "stopped" and rec.names()[-1] == "stopped"
    assert cam.closes >= 1


def test_stop_is_prompt_while_reconnecting(run):
    cam = FakeCamera(refuse=10**6)
    capture, rec = run(cam)
    rec.wait_state("lost")
    time.sleep(1.5)  # in the middle of the capped waits
    began = time.monotonic()
    capture.stop()
    assert time.monotonic() - began < 1.2
    assert capture.state == "stopped"
    assert rec.names() == ["lost", "stopped"]


def test_backoff_grows_and_is_capped_and_the_log_stays_short(run, caplog):
    waits: list[float] = []
    cam = FakeCamera(refuse=200)
    with caplog.at_level(logging.INFO, logger="score_av.live.capture"):
        capture, rec = run(cam, sleep=waits.append)  # no real waiting: only the waits are recorded
        rec.wait_state("live")
        rec.wait_frames(3)
    assert waits[:5] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert len(waits) == 200 and max(waits) == 1.0
    assert rec.names() == ["lost", "live"]  # not being there at start-up is a loss too
    c = capture.counters
    assert (c.losses, c.recoveries) == (1, 1)
    lines = [r for r in caplog.records if r.name == "score_av.live.capture"]
    assert len(lines) <= 8, [r.getMessage() for r in lines]  # 200 attempts, a handful of lines


def test_a_failing_on_frame_does_not_stop_the_capture():
    cam = FakeCamera()
    rec = Recorder()
    calls = []

    def on_frame(t, frame):
        calls.append(t)
        raise ValueError("a bug downstream")

    capture = Capture(cam, on_frame, on_state=rec.on_state)
    capture.start()
    try:
        time.sleep(0.3)
        assert len(calls) > 5 and capture.state == "live"
        assert all(b > a for a, b in zip(calls, calls[1:]))  # t is the clock when each frame was read
        assert abs(calls[-1] - time.monotonic()) < 0.2
    finally:
        capture.stop()


def test_a_camera_that_is_not_there_is_a_source_lost_not_a_crash(run):
    cam = CameraSource(99)
    with pytest.raises(SourceLost, match="camera 99"):
        cam.open()
    with pytest.raises(SourceLost):
        cam.read()
    cam.close()
    capture, rec = run(CameraSource(99))
    rec.wait_state("lost")
    assert "camera 99" in rec.states[0][2]


def test_no_camera_at_all_is_said_once_in_our_words_and_opencv_keeps_quiet(run, capfd, caplog):
    """OpenCV's own "[ WARN:0@0.04] ... can't open camera by index" reached stderr at every attempt
    (once a second, for as long as no camera is plugged in). Now the project says it once, at
    WARNING in its log; the retries are INFO lines, fewer and fewer."""
    import cv2

    before = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_INFO)  # as a fresh process has it
    caplog.set_level(logging.INFO, logger="score_av.live.capture")
    try:
        capture, rec = run(CameraSource(99), backoff=(0.1, 0.2))
        rec.wait_state("lost")
        time.sleep(1.5)  # several more attempts
        capture.stop()
    finally:
        cv2.utils.logging.setLogLevel(before)
    stderr = capfd.readouterr().err
    assert "[ WARN" not in stderr and "[ERROR" not in stderr and "camera by index" not in stderr, stderr
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["camera 99: no picture at start-up (camera 99: cannot open it (not connected, or in use)); "
                        "trying again every 0.2 s at most until there is one"]
    attempts = [r for r in caplog.records if "reconnection attempt" in r.getMessage()]
    assert 2 <= len(attempts) <= 4  # attempts 2, 3 (and 10): the rest are not logged


# ---------------------------------------------------------------------------------------------
# FileSource on a real clip
# ---------------------------------------------------------------------------------------------

FPS, FRAMES = 20, 20  # a 1 s clip


@pytest.fixture
def clip(tmp_path):
    """1 s of 64x48 MPEG-4 at 20 fps: a gradient moving right, and brighter every frame."""
    import av

    path = tmp_path / "clip.mp4"
    x = np.arange(64)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(FRAMES):
            img = np.zeros((48, 64, 3), np.uint8)
            img[..., 0] = ((x * 4 + i * 12) % 256)[None, :]
            img[..., 1] = i * 12
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


class FakeTime:
    """A clock that only moves when the source sleeps (or the test says so)."""

    def __init__(self):
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_file_plays_in_real_time_and_loops(clip):
    source = FileSource(clip)
    source.open()
    try:
        assert source.fps == pytest.approx(FPS)
        first = source.read()
        began = time.monotonic()
        assert first.shape == (48, 64, 3) and first.dtype == np.uint8
        for _ in range(FRAMES):  # the rest of the clip, then the first frame of the second loop
            source.read()
        assert time.monotonic() - began == pytest.approx(1.0, abs=0.1)
        frames = FRAMES + 1
        while time.monotonic() - began < 1.5:
            source.read()
            frames += 1
        assert frames > FRAMES  # it looped
        assert frames == pytest.approx(1.5 * FPS + 1, abs=2)  # and kept real time across the loop
        assert source.frames_dropped == 0
    finally:
        source.close()


def test_file_timing_is_the_timestamps_across_loops_and_late_frames_are_dropped(clip):
    fake = FakeTime()
    source = FileSource(clip, clock=fake.clock, sleep=fake.sleep, size=(32, 24))
    source.open()
    returned = []
    for _ in range(3 * FRAMES):  # 3 loops of a 1 s clip take 3 s
        frame = source.read()
        returned.append(fake.now - 100.0)
    assert frame.shape == (24, 32, 3)
    assert returned == pytest.approx([i / FPS for i in range(3 * FRAMES)])

    fake.now += 0.52  # the caller was busy for half a second: no backlog, the frame due now
    source.read()
    assert source.frames_dropped == 9  # 3.00 ... 3.40 were late by more than a frame; 3.45 is shown
    assert fake.now - 100.0 == pytest.approx(3.47)  # at once
    source.read()
    assert fake.now - 100.0 == pytest.approx(3.5)  # and the schedule goes on where it was
    source.close()


def test_a_file_that_does_not_loop_ends_with_source_lost(clip):
    fake = FakeTime()
    source = FileSource(clip, clock=fake.clock, sleep=fake.sleep, loop=False)
    source.open()
    frames = [source.read() for _ in range(FRAMES)]
    assert not np.array_equal(frames[0], frames[-1])  # the picture moves
    with pytest.raises(SourceLost, match="ended"):
        source.read()
    source.close()


def test_a_missing_or_unreadable_file_is_source_lost(tmp_path):
    with pytest.raises(SourceLost, match="no such file"):
        FileSource(str(tmp_path / "missing.mp4")).open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceLost, match="cannot open"):
        FileSource(str(junk)).open()
    with pytest.raises(SourceLost, match="not open"):
        FileSource(str(junk)).read()


def test_a_capture_of_a_file_delivers_frames_at_the_clip_rate(clip, run):
    capture, rec = run(FileSource(clip))
    rec.wait_state("live")
    time.sleep(1.0)
    assert len(rec.frames) == pytest.approx(FPS, abs=3)
    assert capture.counters.losses == 0
