"""What a listener hears in a melody, as figures: key fit, leaps, pitch-class entropy, recall.

Definitions (docs/architecture.md, "Musical figures"): key fit is, per window of 4 bars, the share
of pitched note onsets inside the best-fitting diatonic scale (the 12 transpositions of the major
scale's pitch classes, which hold every church mode too), averaged over windows; leaps are the
share of intervals between consecutive melody notes over 7 semitones; pitch-class entropy is the
entropy in bits of the histogram of pitch classes over all notes (3.58 = uniform); recall is the
Jaccard overlap of (onset step, pitch) between a bar and the bar it should repeat. Rhythm is
compared bar by bar: the histogram of onset positions (16 steps) and of note durations within the
bar (1 to 16 steps; a note lasts until the next onset, note-off or the bar's end), each as shares,
and two histograms differ by their total variation distance (half the sum of absolute differences).
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


def rhythm_histograms(bars) -> tuple[np.ndarray, np.ndarray]:
    """Shares of note onsets at each of the 16 steps, and of note durations of 1..16 steps, each bar
    on its own (so that bars decoded one at a time and bars cut from tunes are measured alike)."""
    bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
    positions = np.zeros(STEPS_PER_BAR)
    durations = np.zeros(STEPS_PER_BAR)
    is_event = bars != 0  # a note-on or a note-off ends the note before it
    for bar, events in zip(bars, is_event):
        steps = np.flatnonzero(events)
        ends = np.r_[steps[1:], STEPS_PER_BAR]
        for start, end in zip(steps, ends):
            if bar[start] >= FIRST_PITCH_TOKEN:
                positions[start] += 1
                durations[end - start - 1] += 1
    return positions / max(positions.sum(), 1), durations / max(durations.sum(), 1)


def total_variation(p, q) -> float:
    """Half the L1 distance of two histograms of shares: 0 the same, 1 nothing in common."""
    return float(0.5 * np.abs(np.asarray(p, float) - np.asarray(q, float)).sum())


def rhythm_distance(bars, reference) -> dict:
    """Total variation distance of onset positions and of durations between two sets of bars, and
    each set's share of onsets on off-beat sixteenths (odd steps)."""
    (pos, dur), (ref_pos, ref_dur) = rhythm_histograms(bars), rhythm_histograms(reference)
    return {"onset_position_tv": total_variation(pos, ref_pos), "duration_tv": total_variation(dur, ref_dur),
            "offbeat_sixteenths": float(pos[1::2].sum()), "reference_offbeat_sixteenths": float(ref_pos[1::2].sum())}
