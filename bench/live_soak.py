"""A soak run of `score-av live`: the source fails and returns every few minutes, for half an hour.

The source is bench/live_latency.py's 640x480 30 fps file, wrapped so that it fails on a schedule,
in turn: unplugged (reads fail and so does opening, until it is back), frozen (the same picture
returned forever), and hung (a read that blocks until it is back). Each outage lasts `--outage`
seconds, one every `--period` seconds. What it shows (JSON): that the run ends on its own at
`--minutes` (no crash), how long after each failure the loss was noticed, how long after the
source came back the frames flowed again (measured by the source itself: from the moment it was
back to the first fresh frame read from it), the memory in the first and second half of the
run, CPU, latency and underruns over the whole run.

    python bench/live_soak.py [--minutes 30] [--period 180] [--outage 10] [--stats FILE] [--wav FILE] [--clip PATH]
                              [--preset NAME] [--presence-hz HZ] [--looks-every SECONDS] [--trace-python]

The looks (`memory_looks`) say where memory grows: every `--looks-every` seconds, resident memory
beside glibc's heaps (taken from the system, in use, free within them, in pages of their own);
with `--trace-python`, also Python's own allocations (tracemalloc) and live objects by type against
the first look. What grows in resident memory and not in Python's is in C: a heap that grows while
its memory in use does not is fragmenting.

It runs as an installation does by default: people counted, the key following the light, gestures
heard; `--preset` adds a band under the melody.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from live_latency import bench_clip
from looped_clips import CACHE, CLIP_HELP, PERSON, clips_to_score
from machine_stalls import MachineStalls

KINDS = ("unplugged", "frozen", "hung")


class FailingSource:
    """A FileSource that fails on a schedule (see the module docstring), and records its recoveries."""

    def __init__(self, inner, period: float, outage: float):
        self.inner, self.period, self.outage = inner, period, outage
        self.name = f"failing {inner.name}"
        self.started = time.monotonic()
        self.outages: list[dict] = []      # kind, start, end (seconds since start), back_after (s)
        self._last = None

    def _now(self) -> float:
        return time.monotonic() - self.started

    def _outage(self) -> tuple[str, float] | None:
        """(kind, end) of the outage under way, or None."""
        t = self._now()
        k, phase = divmod(t, self.period)
        if phase < self.period - self.outage or k < 0:
            return None
        kind = KINDS[int(k) % len(KINDS)]
        start, end = k * self.period + self.period - self.outage, (k + 1) * self.period
        if not self.outages or self.outages[-1]["start"] != round(start, 3):
            self.outages.append({"kind": kind, "start": round(start, 3), "end": round(end, 3), "back_after": None})
        return kind, end

    def open(self) -> None:
        from installations.live.capture import SourceLost

        out = self._outage()
        if out and out[0] == "unplugged":
            raise SourceLost("unplugged (on purpose)")
        self.inner.open()

    def read(self) -> np.ndarray:
        from installations.live.capture import SourceLost

        out = self._outage()
        if out is not None:
            kind, end = out
            if kind == "unplugged":
                raise SourceLost("unplugged (on purpose)")
            if kind == "frozen" and self._last is not None:
                time.sleep(1 / 30)
                return self._last
            if kind == "hung":  # blocks until it is back, then fails, as a hung driver's read does
                time.sleep(max(0.0, end - self._now()))
                raise SourceLost("hung read returned (on purpose)")
        frame = self.inner.read()
        self._last = frame
        last = self.outages[-1] if self.outages else None
        if last is not None and last["back_after"] is None and self._now() >= last["end"]:
            last["back_after"] = round(self._now() - last["end"], 3)
        return frame

    def close(self) -> None:
        self.inner.close()


class MemoryLooks:
    """Every `every` seconds, on a thread of its own: resident memory and what glibc's malloc holds
    (service.malloc_figures); with `python`, also the memory Python's own allocations hold
    (tracemalloc, from the start of the run) and the source lines and object types that grew most
    since the first look (this slows the run a little, and tracemalloc's records take memory)."""

    def __init__(self, every: float, python: bool = False, top: int = 8):
        self.every, self.python, self.top, self.looks = every, python, top, []
        self._first = self._types0 = None
        self._stop = threading.Event()
        if python:
            import tracemalloc

            tracemalloc.start(1)
        self._thread = threading.Thread(target=self._run, name="memory-looks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.look()

    def look(self) -> None:
        import psutil

        from installations.live.service import malloc_figures

        look = {"t_s": round(time.monotonic() - STARTED, 1), "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
                **resident_parts(), "malloc_mb": malloc_figures()}
        if self.python:
            look.update(self._python())
        self.looks.append(look)
        print(json.dumps(look), file=sys.stderr, flush=True)  # as it goes: a long run can be watched

    def _python(self) -> dict:
        import collections
        import gc
        import tracemalloc

        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        types = collections.Counter(type(o).__name__ for o in gc.get_objects())
        if self._first is None:
            self._first, self._types0 = snap, types
        grown = [s for s in snap.compare_to(self._first, "lineno") if s.size_diff > 0][:self.top]
        return {"python_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1),
                "lines_grown_kb": {f"{s.traceback[0].filename.split('site-packages/')[-1]}:{s.traceback[0].lineno}":
                                   round(s.size_diff / 1024, 1) for s in grown},
                "objects_grown": dict((types - self._types0).most_common(self.top))}

    def stop(self) -> list[dict]:
        self._stop.set()
        self.look()
        return self.looks


STARTED = time.monotonic()


def resident_parts() -> dict:
    """Resident memory split as Linux counts it (/proc/self/status): `anon_mb`, what the process
    wrote (heaps, stacks, arrays), and `file_mb`, pages of the libraries and files it has mapped
    (they grow as code is first run, and the system can take them back); and `threads`, the
    process's threads, native ones included (each holds a stack). Empty off Linux."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines) if k in ("RssAnon", "RssFile", "Threads")}
    return {"anon_mb": round(kb["RssAnon"] / 1024, 1), "file_mb": round(kb["RssFile"] / 1024, 1),
            "threads": kb["Threads"]} if len(kb) == 3 else {}


def memory_trend(samples: list[dict]) -> dict:
    """Resident memory over the run: where it started, ended and peaked, and its slope (least
    squares, MB an hour) over each half: flat memory is a second-half slope near zero."""
    t = np.array([s["t"] for s in samples], float)
    rss = np.array([s["rss_mb"] for s in samples], float)
    if len(t) < 4:
        return {}
    half = len(t) // 2

    def slope(a: np.ndarray, b: np.ndarray) -> float:
        return round(float(np.polyfit(a / 3600.0, b, 1)[0]), 1)

    return {"rss_mb_first": rss[0], "rss_mb_last": rss[-1], "rss_mb_max": rss.max(),
            "rss_mb_first_half_mean": round(rss[:half].mean(), 1), "rss_mb_second_half_mean": round(rss[half:].mean(), 1),
            "slope_mb_per_hour_first_half": slope(t[:half], rss[:half]),
            "slope_mb_per_hour_second_half": slope(t[half:], rss[half:])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--clip", type=Path, help="play this clip as it is, looping " +
                    CLIP_HELP.format(default=f"{PERSON.name} then the demo clip at 640x480, 30 fps"))
    ap.add_argument("--period", type=float, default=180.0, help="seconds between failures (default: 180)")
    ap.add_argument("--outage", type=float, default=10.0, help="seconds each failure lasts (default: 10)")
    ap.add_argument("--stats", default=str(CACHE / "live-soak-stats.json"), help="the running stats file")
    ap.add_argument("--wav", default=str(CACHE / "live-soak.wav"), help="what was heard (the file audio driver)")
    ap.add_argument("--preset", help="a band preset, as `score-av live --preset` (default: the melody alone)")
    ap.add_argument("--presence-hz", type=float, help="people counted so many times a second, as `score-av live "
                    "--presence-hz` (0: no counter; default: the live default)")
    ap.add_argument("--looks-every", type=float, default=600.0,
                    help="seconds between looks at resident memory and glibc's heaps (default: 600; 0: none)")
    ap.add_argument("--trace-python", action="store_true",
                    help="the looks also trace Python's own allocations and objects (slower, and takes memory)")
    args = ap.parse_args()
    from installations.live.capture import FileSource
    from installations.live.config import read_config
    from installations.live.runner import LiveRun

    given = clips_to_score("bench/live_soak.py", args.clip and [args.clip], [PERSON])[0]
    clip = given if args.clip else bench_clip(given)
    source = FailingSource(FileSource(str(clip)), args.period, args.outage)
    config = read_config(None, dict(source=str(clip), audio_driver="file", wav=args.wav,
                                    duration=args.minutes * 60, stats=args.stats, osc_in="off",
                                    preset=args.preset, presence_hz=args.presence_hz))
    run = LiveRun(config, source=source)
    looks = MemoryLooks(args.looks_every, args.trace_python) if args.looks_every > 0 else None
    started = time.monotonic()
    with MachineStalls() as stalls:
        figures = run.run(threading.Event())
    machine = stalls.beside(run.player, figures["audio_underruns_at_s"])
    samples = figures.pop("samples")
    figures.pop("hourly", None)
    back = [o["back_after"] for o in source.outages if o["back_after"] is not None]
    ran = time.monotonic() - started
    print(json.dumps({  # a SIGTERM or Ctrl-C ends the run early, with its figures so far
        "minutes": round(ran / 60, 1), "ended_on_its_own": ran >= args.minutes * 60 - 5, "preset": args.preset,
        "outages": source.outages,
        "recovery_after_source_back_s": {"n": len(back), "max": max(back) if back else None,
                                         "all_under_2s": all(b < 2.0 for b in back)},
        **figures,
        "machine_stalls": machine,
        "memory": memory_trend(samples),
        "rss_mb_over_time": [s["rss_mb"] for s in samples][::12],
        **({"memory_looks": looks.stop()} if looks else {})}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
