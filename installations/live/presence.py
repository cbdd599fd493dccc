"""Who is in the room, live: people counted a few times a second on a thread of their own.

`score_av.presence.PeopleCounter` takes about 125 ms a frame, far too long for the capture, the
engine or the audio thread. So the capture thread only offers frames (`offer`): at most `hz` times a
second one is shrunk to the width the counter looks at and put in a slot of one, replacing any frame
still waiting there (older frames are dropped, never queued), and a daemon worker thread counts the
latest frame in the slot. Each time the count changes, `on_change(count, before)` is told on the
worker thread (OSC out, the engine). The counts made are kept as now / mean / max for `--stats`.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import cv2
import numpy as np

log = logging.getLogger("score_av.live.presence")

REPORT_FAILURES = 3   # a counter that fails is logged this many times, then every 100th time


def make_people_counter():
    """The counter the live runner uses (score_av.presence.PeopleCounter), or None, said once, when
    this OpenCV cannot make one (no HOG people detector or Haar cascades). OpenCV is kept to one
    thread (process-wide): with its default, HOG took both cores in bursts, and the engine and the
    audio waited (bench/live_latency.py, 120 s, one run before and two after: CPU 59% -> 52-57% of two
    cores, at-once answers p95 180 -> 111-177 ms, expression p95 64 -> 55-59 ms; the runs vary)."""
    try:
        import cv2

        from score_av.presence import PeopleCounter

        cv2.setNumThreads(1)
        return PeopleCounter()
    except Exception as exc:  # noqa: BLE001 - an installation plays on without presence
        log.warning("presence is off (people are not counted): %s", exc)
        return None


class Presence:
    """Counts people in the latest frame offered, at most `hz` times a second, on a daemon thread.

    `counter`: an object with `count(rgb_frame) -> People` (score_av.presence), kept between calls
    (its background is learned frame by frame). `width`: frames are shrunk to this many pixels
    across on the thread that offers them (the counter shrinks to its own width anyway; a camera's
    large frame is then freed by the thread that allocated it)."""

    def __init__(self, counter, hz: float, on_change: Callable[[int, int | None], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, width: int | None = None):
        if hz <= 0:
            raise ValueError(f"presence needs a rate above 0 a second, got {hz}")
        self.counter, self.interval, self.on_change, self.clock = counter, 1.0 / hz, on_change, clock
        self.width = width if width is not None else getattr(counter, "width", None)
        self._slot: np.ndarray | None = None
        self._wake = threading.Condition()
        self._due = -float("inf")        # when the next frame may be taken
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.now: int | None = None      # the last count (None before the first)
        self.counted = 0                 # frames counted
        self.total = 0                   # the sum of the counts (the mean's numerator)
        self.most: int | None = None
        self.dropped = 0                 # frames put in the slot and replaced before they were counted
        self.failures = 0
        self.count_ms: list[float] = []  # the last 100 counts' times

    # --- from the capture thread --------------------------------------------------------------
    def offer(self, frame: np.ndarray) -> None:
        """The latest frame: kept (shrunk) when a count is due, else left alone. Never blocks for long."""
        if self.clock() < self._due:
            return
        if self.width and frame.shape[1] > self.width:
            h, w = frame.shape[:2]
            frame = cv2.resize(frame, (self.width, max(1, round(h * self.width / w))), interpolation=cv2.INTER_AREA)
        else:
            frame = frame.copy()  # the capture may reuse its buffer
        with self._wake:
            if self._slot is not None:
                self.dropped += 1
            self._slot = frame
            self._wake.notify()

    # --- the worker ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-presence", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                while self._slot is None and not self._stop.is_set():
                    self._wake.wait(0.5)
                frame, self._slot = self._slot, None
                self._due = self.clock() + self.interval
            if frame is None:
                continue
            started = time.perf_counter()
            try:
                count = int(self.counter.count(frame).count)
            except Exception:  # noqa: BLE001 - the music plays on; the count stays what it was
                self.failures += 1
                if self.failures <= REPORT_FAILURES or self.failures % 100 == 0:
                    log.exception("counting people failed (%d so far); playing on", self.failures)
                continue
            self.count_ms = (self.count_ms + [(time.perf_counter() - started) * 1000])[-100:]
            self.note(count)

    def note(self, count: int) -> None:
        """A count made (the worker's; a test may call it): the figures, and `on_change` when it changed."""
        before, self.now = self.now, count
        self.counted += 1
        self.total += count
        self.most = count if self.most is None else max(self.most, count)
        if count != before and self.on_change is not None:
            try:
                self.on_change(count, before)
            except Exception:  # noqa: BLE001
                log.exception("passing on the people count failed")

    def figures(self) -> dict:
        """`--stats`' people: the count now, its mean and its maximum over the run (None before a count)."""
        return {"now": self.now, "mean": round(self.total / self.counted, 3) if self.counted else None,
                "max": self.most}


NO_PEOPLE = {"now": None, "mean": None, "max": None}
