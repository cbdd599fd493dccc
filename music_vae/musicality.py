"""What a listener hears in a melody, as figures: key fit, leaps, pitch-class entropy, recall.

Definitions (docs/architecture.md, "Musical figures"): key fit is, per window of 4 bars, the share
of pitched note onsets inside the best-fitting diatonic scale (the 12 transpositions of the major
scale's pitch classes, which hold every church mode too), averaged over windows; leaps are the
share of intervals between consecutive melody notes over 7 semitones; pitch-class entropy is the
entropy in bits of the histogram of pitch classes over all notes (3.58 = uniform); recall is the
Jaccard overlap of (onset step, pitch) between a bar and the bar it should repeat.
"""
from __future__ import annotations

import numpy as np

from .representation import FIRST_PITCH_TOKEN, MIN_PITCH, STEPS_PER_BAR

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
SCALES = np.zeros((12, 12), dtype=bool)  # SCALES[t, pc]: pitch class pc is in the major scale on tonic t
for _t in range(12):
    SCALES[_t, (MAJOR + _t) % 12] = True
KEY_WINDOW = 4      # bars per key-fit window
LEAP = 7            # semitones: a larger interval is a leap


def onsets(bars) -> tuple[np.ndarray, np.ndarray]:
    """(bar index, pitch) of every note onset of bars (n, 16), in order."""
    bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
    bar, step = np.nonzero(bars >= FIRST_PITCH_TOKEN)
    return bar, bars[bar, step].astype(int) - FIRST_PITCH_TOKEN + MIN_PITCH


def best_scale(pitches) -> tuple[int, float]:
    """The major-scale transposition (tonic pitch class) holding most of these pitches, and that share."""
    pcs = np.bincount(np.asarray(pitches, dtype=int) % 12, minlength=12)
    inside = SCALES.astype(int) @ pcs
    tonic = int(np.argmax(inside))
    return tonic, float(inside[tonic] / max(pcs.sum(), 1))


def key_fit(bars, window: int = KEY_WINDOW) -> float:
    """Mean over windows of `window` bars (those with notes) of the share of onsets in the best scale."""
    bar, pitch = onsets(bars)
    n = len(np.asarray(bars).reshape(-1, STEPS_PER_BAR))
    shares = [best_scale(pitch[(bar >= w) & (bar < w + window)])[1]
              for w in range(0, n, window) if ((bar >= w) & (bar < w + window)).any()]
    return float(np.mean(shares)) if shares else float("nan")


def leaps(bars) -> float:
    """Share of consecutive-note intervals larger than LEAP semitones."""
    _, pitch = onsets(bars)
    steps = np.abs(np.diff(pitch))
    return float((steps > LEAP).mean()) if len(steps) else float("nan")


def pitch_class_entropy(bars) -> float:
    """Entropy in bits of the pitch-class histogram of all onsets."""
    _, pitch = onsets(bars)
    counts = np.bincount(pitch % 12, minlength=12).astype(float)
    if counts.sum() == 0:
        return float("nan")
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def recall(bars, again) -> float:
    """Mean Jaccard overlap of (onset step, pitch) between bars (n, 16) and the bars (n, 16) that repeat them."""
    def events(bar):
        steps = np.flatnonzero(bar >= FIRST_PITCH_TOKEN)
        return {(int(s), int(bar[s])) for s in steps}

    bars, again = (np.asarray(b).reshape(-1, STEPS_PER_BAR) for b in (bars, again))
    overlaps = []
    for a, b in zip(bars, again):
        ea, eb = events(a), events(b)
        overlaps.append(len(ea & eb) / len(ea | eb) if ea | eb else 1.0)
    return float(np.mean(overlaps)) if overlaps else float("nan")


def figures(bars) -> dict:
    """key fit, leaps and pitch-class entropy of a melody (bars in order)."""
    return {"key_fit": key_fit(bars), "leaps": leaps(bars), "pitch_class_entropy": pitch_class_entropy(bars)}
