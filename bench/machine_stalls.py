"""The machine's own stalls: the reference for a live run's audio underruns.

A process of its own (its own GIL), under the real-time scheduler where allowed, asks to wake every
millisecond and notes each wake that came more than 5 ms late. Nothing in it waits for the live
process, so a late wake is the machine's: the hypervisor taking the CPU away, the kernel. An
underrun at the moment such a stall outlasted the audio buffer is one no setting of score-av can
prevent on this machine; one with no stall beside it is the live process's own.

    with MachineStalls() as stalls:
        ...                               # the live run
    stalls.beside(run.player, figures["audio_underruns_at_s"])

Run alone (`python bench/machine_stalls.py SECONDS`), it prints the stalls of an idle machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

LATE_MS = 5.0      # a wake later than this is a stall
NEAR_S = 0.5       # an underrun this close to a stall as long as the buffer is put down to it

PROBE = f"""
import os, sys, time
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(70))
except (AttributeError, OSError):
    print("normal", flush=True)
last = time.monotonic()
while True:
    time.sleep(0.001)
    now = time.monotonic()
    late = (now - last - 0.001) * 1000
    if late > {LATE_MS}:
        print(now, round(late, 1), flush=True)
    last = now
"""


class MachineStalls:
    """The probe process, running while the block runs; its stalls are read when it ends."""

    def __enter__(self) -> "MachineStalls":
        self.started = time.monotonic()
        self._probe = subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self.started
        self._probe.terminate()
        out, _ = self._probe.communicate(timeout=5)
        lines = out.split()
        self.realtime = "normal" not in lines
        numbers = [float(x) for x in lines if x != "normal"]
        self.stalls = list(zip(numbers[::2], numbers[1::2]))  # (monotonic time, ms late)

    def beside(self, player, underruns_at_s: list[float]) -> dict:
        """The figures beside a live run's underruns (its player, and the audio seconds they came at)."""
        buffer_s = player.buffer_seconds  # an underrun's audio second, on the wall clock the probe keeps
        return self.figures([player.heard_at(round(s * 1000)) - buffer_s for s in underruns_at_s], 1000 * buffer_s)

    def figures(self, underruns_at: list[float] = (), buffer_ms: float | None = None) -> dict:
        """The stalls counted (longest first), and how many underruns (monotonic times) came with
        a stall at least as long as the audio buffer within NEAR_S seconds."""
        longest = sorted((ms for _, ms in self.stalls), reverse=True)
        long_ones = [t for t, ms in self.stalls if buffer_ms is None or ms >= buffer_ms]
        with_stall = sum(any(abs(u - t) <= NEAR_S for t in long_ones) for u in underruns_at)
        return {"seconds": round(self.seconds, 1), "probe_realtime": self.realtime,
                "stalls_over_5_ms": len(longest), "longest_ms": longest[:5],
                "stalls_as_long_as_the_buffer": len(long_ones) if buffer_ms else None,
                "underruns_beside_such_a_stall": with_stall}


if __name__ == "__main__":
    with MachineStalls() as probe:
        time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
    print(json.dumps(probe.figures(), indent=1))
