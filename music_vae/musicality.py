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
Structure is counted over 8-bar phrases from the first bar ("Structure of a melody"): bars identical
to the bar before, the longest run of identical bars, distinct bars per phrase, bar k+4 repeating
bar k; a loop repeats bar after bar, a tune at a distance.
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


# --------------------------------------------------------------------------------------------
# structure: does a melody repeat at a distance, as tunes do, or bar after bar, as a loop does?
# --------------------------------------------------------------------------------------------

PHRASE_BARS = 8             # bars per phrase: a tune's 8-bar strain, and the conductor's phrase
SELF_SIMILARITY_LAGS = (1, 2, 4)  # bar k against k-1 (a loop), k-2, and k-4 (bar 5 answering bar 1)


def cut_phrases(bars, length: int = PHRASE_BARS) -> np.ndarray:
    """Non-overlapping phrases (k, length, 16) of consecutive bars from the first; a short tail is
    dropped (a phrase counted from the first bar, as a tune's strains and the conductor count them)."""
    bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
    k = len(bars) // length
    return bars[:k * length].reshape(k, length, STEPS_PER_BAR)


def same_as_before(phrase) -> np.ndarray:
    """For bars 2.. of a phrase, whether each is the bar before note for note (every token equal)."""
    phrase = np.asarray(phrase).reshape(-1, STEPS_PER_BAR)
    return (phrase[1:] == phrase[:-1]).all(axis=1)


def longest_identical_run(phrase) -> int:
    """The most bars in a row that are one bar played again (1: no bar repeats the one before).
    A listener hears 3 or more as a loop; real tunes almost never hold one."""
    run = longest = 1
    for same in same_as_before(phrase):
        run = run + 1 if same else 1
        longest = max(longest, run)
    return longest


def distinct_bars(phrase) -> int:
    """How many different bars a phrase holds (8 of 8: nothing repeats; real tunes hold about 7,
    since a strain brings a bar or two back)."""
    phrase = np.asarray(phrase).reshape(-1, STEPS_PER_BAR)
    return int(len(np.unique(phrase, axis=0)))


def repeats_four_later(phrase) -> float:
    """Share of bars k of the first half whose bar k+4 is the same bar: the repeat at a distance
    (bar 5 answers bar 1) that tunes use and a loop does not tell from any other repeat."""
    phrase = np.asarray(phrase).reshape(-1, STEPS_PER_BAR)
    half = len(phrase) - 4
    if half <= 0:
        return float("nan")
    return float((phrase[4:] == phrase[:half]).all(axis=1).mean())


def structure(phrases) -> dict:
    """The structure figures over phrases (k, 8, 16), pooled over every phrase: the share of bars that
    are the bar before, the mean and highest of each phrase's longest run of identical bars, the share
    of phrases holding a run of 3 or more, the mean number of distinct bars per phrase and the share of
    bars k (1-4) that bar k+4 repeats. NaN figures when there is no phrase."""
    phrases = np.asarray(phrases).reshape(-1, PHRASE_BARS, STEPS_PER_BAR)
    if not len(phrases):
        nan = float("nan")
        return {"phrases": 0, "same_as_bar_before": nan, "longest_run_mean": nan, "longest_run_max": 0,
                "phrases_with_run_of_3": nan, "distinct_bars_per_phrase": nan, "bar_k_plus_4_repeats_k": nan}
    runs = np.array([longest_identical_run(p) for p in phrases])
    return {"phrases": int(len(phrases)),
            "same_as_bar_before": float(np.mean([same_as_before(p).mean() for p in phrases])),
            "longest_run_mean": float(runs.mean()),
            "longest_run_max": int(runs.max()),
            "phrases_with_run_of_3": float((runs >= 3).mean()),
            "distinct_bars_per_phrase": float(np.mean([distinct_bars(p) for p in phrases])),
            "bar_k_plus_4_repeats_k": float(np.mean([repeats_four_later(p) for p in phrases]))}


def self_similarity(phrase, lags=SELF_SIMILARITY_LAGS) -> np.ndarray:
    """What a phrase repeats, and how far back: for each lag j, over the bars k with a bar k-j in the
    phrase, the means of (the Jaccard overlap of onsets, (step, pitch), with bar k-j's, as `recall`;
    whether the bar is bar k-j note for note; the Jaccard overlap of onset steps alone, the rhythm).
    A loop is 1 at every lag; a tune is higher at lag 4 (bar 5 answers bar 1) than at lag 1. Order
    matters here, where every other feature of the phrase test is a histogram blind to it. Onsets
    rather than tokens, since the holds that fill most of a bar's 16 tokens would make any two bars
    look alike. 3 figures per lag, lag by lag."""
    phrase = np.asarray(phrase).reshape(-1, STEPS_PER_BAR)

    def jaccard(a, b, both):
        union = a.sum(axis=1) + b.sum(axis=1) - both.sum(axis=1)
        return np.where(union > 0, both.sum(axis=1) / np.maximum(union, 1), 1.0)

    out = []
    for j in lags:
        if len(phrase) <= j:
            out += [0.0, 0.0, 0.0]
            continue
        now, then = phrase[j:], phrase[:-j]
        on_now, on_then = now >= FIRST_PITCH_TOKEN, then >= FIRST_PITCH_TOKEN
        notes = jaccard(on_now, on_then, on_now & on_then & (now == then))
        rhythm = jaccard(on_now, on_then, on_now & on_then)
        out += [float(notes.mean()), float((now == then).all(axis=1).mean()), float(rhythm.mean())]
    return np.array(out)
