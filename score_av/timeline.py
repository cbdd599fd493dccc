"""Bars in time: bar k covers [k·T, (k+1)·T) from the first frame, T = 240 / bpm seconds.

Each bar's latent is the mean of the codes of the frames shown inside it; a bar in which no frame
starts (a long frame in a variable-rate clip, or analysis slower than the bars) takes the frame
that is on screen when the bar begins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from music_vae.midi_io import bar_seconds


@dataclass(frozen=True)
class Timeline:
    bpm: float
    start: float      # seconds of the first frame in the clip's own clock
    duration: float   # seconds of picture, first frame to the end of the last

    @property
    def bar(self) -> float:
        return bar_seconds(self.bpm)

    @property
    def n_bars(self) -> int:
        """Bars needed to cover the picture; the last one may be cut off by the end of the clip."""
        return max(1, math.ceil(self.duration / self.bar - 1e-9))

    def bar_of(self, t: np.ndarray) -> np.ndarray:
        """Index of the bar each clip time (seconds) falls in."""
        k = np.floor((np.asarray(t, dtype=np.float64) - self.start) / self.bar + 1e-9).astype(int)
        return np.clip(k, 0, self.n_bars - 1)

    def bar_codes(self, times: np.ndarray, codes: np.ndarray,
                  reduce: Callable[..., np.ndarray] = np.mean) -> np.ndarray:
        """(n_bars, d): the mean code of the frames in each bar (see the module docstring), or
        another `reduce` over them (np.max: the most people counted in a bar)."""
        times = np.asarray(times, dtype=np.float64)
        codes = np.asarray(codes, dtype=np.float32)
        if len(times) == 0 or len(times) != len(codes):
            raise ValueError(f"need one code per frame time, got {len(codes)} codes and {len(times)} times")
        order = np.argsort(times, kind="stable")
        times, codes = times[order], codes[order]
        which = self.bar_of(times)
        out = np.empty((self.n_bars, codes.shape[1]), dtype=np.float32)
        for k in range(self.n_bars):
            inside = which == k
            if inside.any():
                out[k] = reduce(codes[inside], axis=0)
            else:
                on_screen = np.searchsorted(times, self.start + k * self.bar, side="right") - 1
                out[k] = codes[max(on_screen, 0)]
        return out
