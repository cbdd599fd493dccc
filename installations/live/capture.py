"""Frames for `score-av live`: a camera, or a video file played at its own speed, read on a thread
that notices when the picture is lost and gets it back on its own.

The installation runs unattended for weeks, so a source that fails is the normal case, not the
exceptional one: a camera is unplugged and plugged in again, a driver hangs, a picture freezes.
`Capture` turns all of these into one story told through `on_state`: "lost" (once, within
`notice_seconds`), then "live" again as soon as frames flow; in between it retries forever with a
capped backoff and keeps the log short.

    source = CameraSource(0)                  # or FileSource("loop.mp4")
    capture = Capture(source, on_frame=lambda t, rgb: ..., on_state=lambda state, why: ...)
    capture.start()
    ...
    capture.stop()
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

import numpy as np

from score_av.sources import use_decode_threads

LOG = logging.getLogger("score_av.live.capture")

OPEN_TIMEOUT = 5.0    # seconds an open() may take before the attempt counts as failed (USB cameras need ~1 s)
CLOSE_TIMEOUT = 0.5   # seconds close() may take; a hung close is left behind so that stop() stays prompt
STOP_TIMEOUT = 1.0    # seconds stop() waits for the capture thread
MAX_STUCK = 8         # calls into the source left stuck on their threads before Capture stops making new ones
POLL = 0.05           # seconds between looks at stop() while waiting
HISTORY = 1000        # noticed_after / recovered_after keep the latest this many (weeks of flapping stay small)


class SourceLost(Exception):
    """A frame source failed: it cannot be opened, it was unplugged, a read failed, or a stream that
    does not loop has ended. The text says which, in one line."""


class FrameSource(Protocol):
    """Where frames come from. `Capture` calls open(), then read() on a thread of its own, and
    close(); after a failure it calls close() and open() again on the same object, possibly while
    an earlier read() is still stuck on another thread, so open() must start afresh every time."""

    name: str

    def open(self) -> None:
        """Get ready to read; raises SourceLost when the source cannot be opened."""

    def read(self) -> np.ndarray:
        """The next RGB uint8 frame (H x W x 3); blocks until that frame is due; raises SourceLost."""

    def close(self) -> None:
        """Let go of the device or file; safe to call when not open."""


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SourceLost) else f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------

class FileSource:
    """A video file (or URL) played in real time through PyAV, looping by default.

    Frame i is returned no earlier than its presentation time after playback started (the first
    read() after open()); at the end of the file it starts again with the clock running on, so a
    10 s clip read for 60 s plays 6 times. A caller that falls behind gets the frame that is due
    now, not a backlog: frames late by more than one frame interval are decoded and dropped
    (`frames_dropped`). Dropping stops after one second's worth of frames in a single read; past
    that the schedule moves to now instead, so a decoder slower than real time still shows frames.
    """

    def __init__(self, path_or_url: str, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, loop: bool = True,
                 size: tuple[int, int] | None = None):
        self.name = str(path_or_url)
        self.fps = 0.0              # the stream's average rate, known after open()
        self.frames_dropped = 0
        self._clock, self._sleep, self._loop = clock, sleep, loop
        self._width, self._height = size if size is not None else (None, None)
        self._lock = threading.Lock()  # read() and close() may come from different threads
        self._container = None
        self._frames = None            # the decoding iterator of the current pass through the file

    def open(self) -> None:
        container, stream = self._open_container()
        rate = stream.average_rate or stream.guessed_rate
        with self._lock:
            old, self._container = self._container, container
            self._frames = container.decode(stream)
            self.fps = float(rate) if rate else 0.0
            self._interval = 1.0 / self.fps if self.fps > 0 else 1.0 / 25
            self._origin = None        # clock time at which clip time 0 plays; set by the first read
            self._offset = 0.0         # clip seconds played in the loops before this one
            self._first = self._last = None  # timestamps of the file's first frame, the latest frame
            self._in_pass = 0          # frames decoded in this pass through the file
        if old is not None:
            old.close()

    def _open_container(self):
        import av

        if "://" not in self.name and not os.path.isfile(self.name):
            raise SourceLost(f"{self.name}: no such file")
        try:
            # the timeouts only matter for URLs: a network read that hangs fails instead
            container = av.open(self.name, metadata_errors="ignore", timeout=(10.0, 5.0))
        except (av.FFmpegError, OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or exc  # FFmpeg's words, not its error number
            raise SourceLost(f"{self.name}: cannot open it as a video ({why})") from None
        if not container.streams.video:
            container.close()
            raise SourceLost(f"{self.name}: has no video stream")
        stream = container.streams.video[0]
        use_decode_threads(stream)  # FFmpeg's own decoding threads
        return container, stream

    def read(self) -> np.ndarray:
        with self._lock:
            if self._container is None:
                raise SourceLost(f"{self.name}: not open")
            frame, due = self._next_due()
        wait = due - self._clock()
        if wait > 0:
            self._sleep(wait)
        # the frame owns its pixels: converting it outside the lock is safe even after close()
        return frame.to_ndarray(format="rgb24", width=self._width, height=self._height)

    def _next_due(self):
        """The next frame that is not hopelessly late, and the clock time it is due."""
        dropped = 0
        while True:
            frame, clip_t = self._next_frame()
            now = self._clock()
            if self._origin is None:
                self._origin = now - clip_t
            due = self._origin + clip_t
            if now - due <= self._interval:
                return frame, due
            if dropped < max(1, round(self.fps)):
                dropped += 1
                self.frames_dropped += 1
                continue
            self._origin = now - clip_t  # too far behind: slip the schedule rather than decode on and on
            return frame, now

    def _next_frame(self):
        """The next decoded frame and its time in seconds since playback began, across loops."""
        import av

        while True:
            try:
                frame = next(self._frames, None)
            except (av.FFmpegError, OSError) as exc:
                raise SourceLost(f"{self.name}: decoding failed ({exc})") from None
            if frame is not None:
                t = frame.time if frame.time is not None else (self._last or 0.0) + self._interval
                if self._first is None:
                    self._first = t
                self._last = t
                self._in_pass += 1
                return frame, self._offset + t - self._first
            if not self._loop:
                raise SourceLost(f"{self.name}: the video has ended")
            if self._in_pass == 0:
                raise SourceLost(f"{self.name}: no frames to play")
            self._offset += self._last - self._first + self._interval  # the last frame lasts one interval
            self._in_pass = 0
            self._rewind()

    def _rewind(self) -> None:
        import av

        try:
            self._container.seek(0)
            self._frames = self._container.decode(video=0)
        except (av.FFmpegError, OSError, ValueError):  # a stream that cannot seek: open it again
            old = self._container
            self._container, stream = self._open_container()
            self._frames = self._container.decode(stream)
            old.close()

    def close(self) -> None:
        with self._lock:
            container, self._container, self._frames = self._container, None, None
        if container is not None:
            container.close()


def quiet_opencv() -> None:
    """Silence OpenCV's own log ("[ WARN:0@1.0] ... can't open camera by index" on stderr at every
    attempt, once a second while no camera is plugged in): Capture says what matters once, in the
    project's log. The level is the process's; `score-av live` uses OpenCV for nothing else that logs."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV build without the logging utilities reads only the environment
        os.environ["OPENCV_LOG_LEVEL"] = "SILENT"


class CameraSource:
    """A camera through OpenCV. `width` x `height` is asked for; the camera may pick its nearest mode.

    A missing camera is a SourceLost from open(), and a failed read (unplugged) a SourceLost from
    read(), so that `Capture` can wait for the camera to come back rather than crash.
    """

    def __init__(self, index: int, width: int = 640, height: int = 480):
        self.name = f"camera {index}"
        self.index, self.width, self.height = index, width, height
        self._cap = None

    def open(self) -> None:
        import cv2

        self.close()
        quiet_opencv()
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceLost(f"{self.name}: cannot open it (not connected, or in use)")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._cap = cap

    def read(self) -> np.ndarray:
        import cv2

        cap = self._cap  # a local reference: close() from another thread must not pull it away mid-read
        if cap is None:
            raise SourceLost(f"{self.name}: not open")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise SourceLost(f"{self.name}: read failed (unplugged?)")
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


# ---------------------------------------------------------------------------------------------
# Capture
# ---------------------------------------------------------------------------------------------

@dataclass
class CaptureCounters:
    """What happened so far, for the installation's status page and for tests.

    noticed_after: for each loss, seconds from the last sign of life (the last frame that differed
        from the one before it, or the start of the attempt that failed when nothing was live yet)
        to the moment the loss was noticed. About one frame interval for an error, about
        notice_seconds for a frozen or stalled source.
    recovered_after: for each recovery, seconds from the end of the last failed reconnection
        attempt (or from the moment the loss was noticed, when the first attempt worked) to the
        first frame delivered. When exactly a camera came back cannot be known; it came back after
        that failed attempt, so this is an upper bound of "source back to frames flowing".
    Both lists keep the latest HISTORY values; `losses` and `recoveries` count everything.
    """
    frames_in: int = 0        # frames given to on_frame
    frames_skipped: int = 0   # frames read while on_frame was still busy with an earlier one
    losses: int = 0
    recoveries: int = 0
    noticed_after: list[float] = field(default_factory=list)
    recovered_after: list[float] = field(default_factory=list)


class _Session:
    """One opening of the source and the thread that reads it.

    The reader keeps only the latest frame, so a slow on_frame sees fresh pictures rather than a
    queue of old ones. A session that Capture gives up on is marked inactive: its reader, if it
    ever comes back from a stuck read(), drops what it read and ends.
    """

    def __init__(self, source: FrameSource, clock: Callable[[], float]):
        self.source, self.clock = source, clock
        self.cond = threading.Condition()
        self.active = True
        self.seq = 0                 # frames read so far
        self.frame: np.ndarray | None = None
        self.t = 0.0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, name=f"read {source.name}", daemon=True)

    def abandon(self) -> None:
        """Whatever the reader reads from now on is dropped, and it ends."""
        with self.cond:
            self.active = False

    def _read(self) -> None:
        while self.active:
            try:
                frame = self.source.read()
                if not isinstance(frame, np.ndarray) or frame.ndim != 3:
                    raise SourceLost(f"{self.source.name}: read() returned no picture ({type(frame).__name__})")
            except BaseException as exc:  # anything a driver throws is a lost source
                with self.cond:
                    self.error = exc
                    self.cond.notify_all()
                return
            t = self.clock()
            with self.cond:
                if not self.active:
                    return
                self.frame, self.t, self.seq = frame, t, self.seq + 1
                self.cond.notify_all()


def _sparse(n: int) -> bool:
    """Whether the n-th repeat of something deserves a log line: the first 3, then 10, 100, 1000..."""
    return n <= 3 or (n >= 10 and str(n).rstrip("0") == "1")


class Capture:
    """Reads a FrameSource on its own daemon thread and calls on_frame(t, rgb) for each frame,
    with t = clock() when the frame was read (inject the clock the player schedules by).

    Failures are noticed within notice_seconds: read() raising anything; the same picture for
    `frozen_seconds` (notice_seconds unless given; math.inf turns it off, for a file with long
    still shots); read() blocking for notice_seconds (a hung driver; the stuck reader thread is
    abandoned and the same source object is closed and opened again). Then on_state("lost", why) is
    called once, and reconnection is tried at once and then after waits growing from backoff[0]
    to backoff[1], forever until stop(); "live" comes with the first fresh frame. A source that
    comes back with the frozen picture it was lost with has not come back.

    `sleep` is used for the backoff waits; the default, time.sleep, is replaced by an equivalent
    wait that stop() interrupts. All other waits are real time, so `clock` must run at real speed.
    """

    def __init__(self, source: FrameSource, on_frame: Callable[[float, np.ndarray], None],
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 notice_seconds: float = 2.0, backoff: tuple[float, float] = (0.25, 1.0),
                 on_state: Callable[[str, str], None] | None = None,
                 frozen_seconds: float | None = None):
        self.source = source
        self._on_frame, self._on_state = on_frame, on_state
        self._clock, self._sleep = clock, sleep
        self._notice = notice_seconds
        self._frozen = notice_seconds if frozen_seconds is None else frozen_seconds
        self._backoff = backoff
        self._counters = CaptureCounters()
        self._state = "starting"
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stuck: list[threading.Thread] = []  # threads left inside a source call that never returned
        self._lost_at = 0.0        # when the current loss was noticed, or the last failed attempt ended
        self._stale: bytes | None = None  # the frozen picture a loss was noticed on
        self._callback_errors = 0

    # -- the public side ---------------------------------------------------------------------

    @property
    def state(self) -> str:
        """"starting", "live", "lost" or "stopped"."""
        return self._state

    @property
    def counters(self) -> CaptureCounters:
        """A snapshot of the counters."""
        c = self._counters
        return replace(c, noticed_after=list(c.noticed_after), recovered_after=list(c.recovered_after))

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("Capture.start() was already called")
        self._thread = threading.Thread(target=self._run, name=f"capture {self.source.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop within about a second, whatever the source is doing; the source is closed."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():
                LOG.warning("%s: the capture thread did not stop in time; leaving it behind", self.source.name)
        self._set_state("stopped", "stop() was called")

    # -- the capture thread ------------------------------------------------------------------

    def _run(self) -> None:
        delay, attempts = self._backoff[0], 0
        try:
            while not self._stopping.is_set():
                started = self._clock()
                session, why = self._connect()
                if session is not None:
                    why, alive_at, went_live = self._pump(session)
                    if why is None:  # stopped
                        session.abandon()
                        break
                    if went_live:
                        noticed = self._clock()
                        self._lose(why, noticed - alive_at)
                    self._disconnect(session)
                    if went_live:  # a loss: try again at once, then back off
                        delay, attempts, self._lost_at = self._backoff[0], 0, noticed
                        continue
                if self._stopping.is_set():
                    break
                # a failed attempt: it did not open, or it opened and gave no fresh frame
                self._lost_at = self._clock()
                attempts += 1
                if self._state != "lost":
                    self._lose(why, self._lost_at - started, at_start=self._state == "starting")  # nothing live yet
                elif _sparse(attempts):
                    LOG.info("%s: reconnection attempt %d failed: %s", self.source.name, attempts, why)
                self._pause(delay)
                delay = min(delay * 2, self._backoff[1])
            # once more at the end: an open() that stop() cut short may still have opened the source
            self._call(self.source.close, CLOSE_TIMEOUT, stoppable=False)
        except BaseException as exc:  # a bug here must not end the installation's picture silently
            LOG.exception("%s: the capture thread failed", self.source.name)
            self._set_state("stopped", f"the capture thread failed: {_why(exc)}")
            raise
        finally:
            self._set_state("stopped", "stop() was called")

    def _connect(self) -> tuple[_Session | None, str]:
        """Open the source and start reading it, or say why not."""
        why = self._call(self.source.open, OPEN_TIMEOUT)
        if why is not None:
            return None, why
        session = _Session(self.source, self._clock)
        session.thread.start()
        return session, ""

    def _disconnect(self, session: _Session) -> None:
        session.abandon()
        self._call(self.source.close, CLOSE_TIMEOUT, stoppable=False)
        session.thread.join(POLL)
        if session.thread.is_alive():
            self._stuck.append(session.thread)

    def _pump(self, session: _Session) -> tuple[str | None, float, bool]:
        """Hand the session's frames to on_frame until it fails or stop() is called.

        Returns (why it failed or None when stopped, the last sign of life, whether it went live).
        """
        seen, signature = 0, None
        last_read = alive_at = self._clock()
        went_live = False
        while True:
            with session.cond:
                while (session.seq == seen and session.error is None and not self._stopping.is_set()
                       and self._clock() - last_read < self._notice):
                    session.cond.wait(POLL)
                seq, frame, t, error = session.seq, session.frame, session.t, session.error
            if self._stopping.is_set():
                return None, alive_at, went_live
            if seq == seen:
                if error is not None:
                    return f"read failed: {_why(error)}", alive_at, went_live
                return f"stalled: read() blocked for {self._notice:g} s", alive_at, went_live
            self._counters.frames_skipped += seq - seen - 1
            seen, last_read = seq, t
            # a strided sample is enough: a frozen driver returns the very same bytes
            sample = frame[::4, ::4].tobytes()
            if sample != signature:
                signature, alive_at = sample, t
            elif t - alive_at >= self._frozen:
                self._stale = sample
                return f"frozen: the same picture for {t - alive_at:.1f} s", alive_at, went_live
            if sample == self._stale:
                continue  # the picture the source froze on: it has not come back yet
            self._stale = None
            if not went_live:
                went_live = True
                self._go_live(t)
            self._counters.frames_in += 1
            try:
                self._on_frame(t, frame)
            except Exception:
                self._callback_errors += 1
                if _sparse(self._callback_errors):
                    LOG.exception("%s: on_frame failed (%d times so far)", self.source.name,
                                  self._callback_errors)

    def _go_live(self, t: float) -> None:
        if self._state == "lost":
            waited = t - self._lost_at
            self._counters.recoveries += 1
            self._keep(self._counters.recovered_after, waited)
            LOG.info("%s: live again (recovered after %.2f s)", self.source.name, waited)
            self._set_state("live", f"frames again after {waited:.2f} s")
        else:
            LOG.info("%s: live", self.source.name)
            self._set_state("live", "frames are flowing")

    def _lose(self, why: str, noticed_after: float, at_start: bool = False) -> None:
        self._counters.losses += 1
        self._keep(self._counters.noticed_after, noticed_after)
        if at_start:  # said once; the attempts that follow are logged sparsely, at INFO
            LOG.warning("%s: no picture at start-up (%s); trying again every %g s at most until there is one",
                        self.source.name, why, self._backoff[1])
        else:
            LOG.warning("%s: lost (%s), noticed after %.2f s; reconnecting", self.source.name, why, noticed_after)
        self._set_state("lost", why)

    @staticmethod
    def _keep(values: list[float], value: float) -> None:
        values.append(value)
        del values[:-HISTORY]

    def _set_state(self, state: str, why: str) -> None:
        with self._state_lock:
            if self._state == state or self._state == "stopped":
                return
            self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state, why)
            except Exception:
                LOG.exception("%s: on_state failed", self.source.name)

    def _pause(self, seconds: float) -> None:
        if self._sleep is time.sleep:
            self._stopping.wait(seconds)
        else:
            self._sleep(seconds)

    def _call(self, fn: Callable[[], None], timeout: float, stoppable: bool = True) -> str | None:
        """fn() on a thread of its own, waited for at most `timeout` s (less once stop() is called):
        None when it returned, else why not. A call that does not return is left behind."""
        self._stuck = [thread for thread in self._stuck if thread.is_alive()]
        if len(self._stuck) >= MAX_STUCK:
            return f"{len(self._stuck)} earlier calls into the source are still stuck"
        outcome: list[BaseException | None] = []

        def call() -> None:
            try:
                fn()
            except BaseException as exc:
                outcome.append(exc)
            else:
                outcome.append(None)

        thread = threading.Thread(target=call, name=f"{fn.__name__} {self.source.name}", daemon=True)
        thread.start()
        end = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < end and not (stoppable and self._stopping.is_set()):
            thread.join(min(POLL, max(0.0, end - time.monotonic())))
        if outcome:
            return None if outcome[0] is None else _why(outcome[0])
        self._stuck.append(thread)
        return "stop() was called" if self._stopping.is_set() else f"{fn.__name__}() took over {timeout:g} s"
