"""What a live run measured, as the issue and a gallery technician want it: `--stats FILE.json`.

Frames in and encoded, bars played, the layers that play (their levels, notes played, and the time
making each bar's layers took on the engine's thread), every change in the picture and how it ended (answered,
deferred, merged, withdrawn: engine.py), the latency from each change answered to the first
changed note heard (n, median, p95 and max) and from each change to the expression change heard,
the jitter of every note (how far from the tick it was scheduled for the sequencer played it), the
answers struck off the grid on purpose, audio underruns, the camera's losses and recoveries, the
people counted (now, mean and max over the run: presence.py; null when off), and CPU and memory over time. CPU is this process's CPU time over wall time as a share of all the
machine's cores (0.5 = half of them), sampled with psutil. The file is rewritten atomically every
`every` seconds, so a monitor can read it while the installation runs.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np
import psutil

from modelkit import atomic_write_json

SAMPLE_EVERY = 5.0   # seconds between CPU and memory samples
RECENT = 1440        # samples kept at full rate: the last two hours
HOURLY = 24 * 60     # and one an hour for the last 60 days


def spread(values) -> dict:
    """n, median, p95 and max of a list of figures (None when empty)."""
    v = np.asarray(list(values), dtype=np.float64)
    if not len(v):
        return {"n": 0, "median": None, "p95": None, "max": None}
    return {"n": int(len(v)), "median": round(float(np.median(v)), 2), "p95": round(float(np.percentile(v, 95)), 2),
            "max": round(float(v.max()), 2)}


class Recent:
    """The latest `size` figures of one kind (a latency, a note's jitter), in an array whose memory is
    taken whole at start. A deque of them grows by about 32 bytes a figure until it is full, hours
    or days into a run, which a soak reads as a leak; this one stays the size it started at.
    Appending is one store, safe beside readers on other threads (they see the figures in order,
    oldest first, through iteration or np.asarray)."""

    def __init__(self, size: int, dtype=np.float64):
        self._values = np.ones(size, dtype)  # written now: its pages are resident from the start
        self._count = 0

    def append(self, value) -> None:
        self._values[self._count % len(self._values)] = value
        self._count += 1

    def __len__(self) -> int:
        return min(self._count, len(self._values))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        count, size = self._count, len(self._values)
        values = self._values[:count].copy() if count <= size else np.roll(self._values, -(count % size))
        return values if dtype is None else values.astype(dtype)

    def __iter__(self):
        return iter(np.asarray(self).tolist())

    def __getitem__(self, i):
        return np.asarray(self)[i].tolist()


class LiveStats:
    """Samples CPU and memory, and writes the run's figures (from `figures()`, a callable) to `path`."""

    def __init__(self, path: Path | None, figures: Callable[[], dict], clock: Callable[[], float] = time.monotonic,
                 every: float = 10.0):
        self.path, self.figures, self.clock, self.every = path, figures, clock, every
        self.process = psutil.Process(os.getpid())
        self.cores = psutil.cpu_count() or 1
        self.started = clock()
        self._cpu0 = self._cpu_seconds()
        self._threads0 = self._thread_seconds()  # start-up's own (the main thread loaded the models)
        self._threads_seen: dict[int, tuple[str, float]] = {}  # native id -> (name, CPU seconds when last seen)
        self._last_sample = (self.started, self._cpu0)
        self._last_write = self.started
        self.samples: deque[dict] = deque(maxlen=RECENT)
        self.hourly: deque[dict] = deque(maxlen=HOURLY)

    def _cpu_seconds(self) -> float:
        t = self.process.cpu_times()
        return t.user + t.system

    def _thread_seconds(self) -> dict[int, float]:
        """CPU seconds of each of the process's threads so far, by native thread id."""
        return {t.id: t.user_time + t.system_time for t in self.process.threads()}

    def _note_threads(self) -> None:
        """Note each live thread's name and CPU seconds: a thread that has ended is no longer
        listed, and a run's threads end before its summary is taken."""
        names = {t.native_id: t.name for t in threading.enumerate()}
        for tid, seconds in self._thread_seconds().items():
            if tid in names:
                name = re.sub(r"[_-]\d+$", "", names[tid].split(" ")[0])
            else:  # not Python's, or Python's and ending (joined, but still listed by the system)
                name = self._threads_seen.get(tid, ("native",))[0]
            self._threads_seen[tid] = (name, seconds)

    def cpu_by_thread(self, wall: float) -> dict[str, float]:
        """Where the CPU went since the start, as a share of all cores, by thread: the engine, the
        people counter, the capture, the audio... (a name's path and number left out); threads not
        made by Python (FluidSynth's, FFmpeg's, torch's own) together as `native`. A thread that
        ended counts as it was at the last sample (SAMPLE_EVERY) it was alive for."""
        self._note_threads()
        shares: dict[str, float] = {}
        for tid, (name, seconds) in self._threads_seen.items():
            shares[name] = shares.get(name, 0.0) + seconds - self._threads0.get(tid, 0.0)
        return {name: round(v / wall / self.cores, 3) for name, v in sorted(shares.items(), key=lambda kv: -kv[1])}

    def poll(self) -> None:
        """Take a sample and rewrite the file when due; cheap to call often."""
        now = self.clock()
        if now - self._last_sample[0] >= SAMPLE_EVERY:
            cpu = self._cpu_seconds()
            share = (cpu - self._last_sample[1]) / max(now - self._last_sample[0], 1e-9) / self.cores
            sample = {"t": round(now - self.started, 1), "cpu_share_of_all_cores": round(share, 3),
                      "rss_mb": round(self.process.memory_info().rss / 2 ** 20, 1)}
            if not self.hourly or sample["t"] - self.hourly[-1]["t"] >= 3600:
                self.hourly.append(sample)
            self.samples.append(sample)
            self._last_sample = (now, cpu)
            self._note_threads()
        if self.path is not None and now - self._last_write >= self.every:
            self.write()

    def latest(self) -> dict:
        """CPU (share of all cores) and memory now, for the status page: the last sample's CPU
        (since the start until there is one) and the resident memory now."""
        if self.samples:
            cpu = self.samples[-1]["cpu_share_of_all_cores"]
        else:
            cpu = round((self._cpu_seconds() - self._cpu0) / max(self.clock() - self.started, 1e-9) / self.cores, 3)
        return {"cpu": cpu, "rss_mb": round(self.process.memory_info().rss / 2 ** 20, 1),
                "uptime_s": round(self.clock() - self.started, 1)}

    def summary(self) -> dict:
        now = self.clock()
        wall = max(now - self.started, 1e-9)
        rss = [s["rss_mb"] for s in (self.hourly if len(self.hourly) >= 4 else self.samples)]
        half = len(rss) // 2
        return {"wall_seconds": round(wall, 1), "cores": self.cores,
                "cpu_share_of_all_cores": round((self._cpu_seconds() - self._cpu0) / wall / self.cores, 3),
                "cpu_by_thread": self.cpu_by_thread(wall),
                "rss_mb_now": round(self.process.memory_info().rss / 2 ** 20, 1),
                # memory flat: the mean of the second half of the samples against the first half's
                "rss_mb_first_half_mean": round(float(np.mean(rss[:half])), 1) if half else None,
                "rss_mb_second_half_mean": round(float(np.mean(rss[half:])), 1) if half else None,
                **self.figures(), "samples": list(self.samples), "hourly": list(self.hourly)}

    def write(self) -> dict:
        figures = self.summary()
        if self.path is not None:
            atomic_write_json(self.path, figures)
            self._last_write = self.clock()
        return figures
