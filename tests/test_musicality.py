"""The musical figures a listener's ear stands for: key fit, leaps, pitch-class entropy, recall."""
import math

import numpy as np
import pytest

from music_vae.musicality import figures, key_fit, leaps, pitch_class_entropy, recall
from music_vae.representation import FIRST_PITCH_TOKEN, MIN_PITCH


def bars_of(pitches, every: int = 2) -> np.ndarray:
    """Notes one every `every` steps, as bars of tokens."""
    steps = np.zeros(int(math.ceil(len(pitches) * every / 16)) * 16, np.int64)
    steps[::every][:len(pitches)] = np.asarray(pitches) - MIN_PITCH + FIRST_PITCH_TOKEN
    return steps.reshape(-1, 16)


def test_a_scale_fits_its_key_and_the_chromatic_scale_does_not():
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    assert key_fit(bars_of(d_major * 4)) == 1.0
    assert key_fit(bars_of(list(range(60, 72)) * 2)) == pytest.approx(7 / 12)


def test_leaps_count_intervals_over_a_fifth():
    assert leaps(bars_of([60, 62, 64, 72, 60])) == pytest.approx(2 / 4)  # 8 and 12 semitones
    assert leaps(bars_of([60, 67, 60])) == 0.0                            # a fifth is not a leap


def test_entropy_of_every_pitch_class_and_of_one():
    assert pitch_class_entropy(bars_of(list(range(60, 72)))) == pytest.approx(math.log2(12))
    assert pitch_class_entropy(bars_of([60, 72, 48])) == 0.0


def test_recall_is_the_overlap_of_onsets_and_pitches():
    a = bars_of([60, 62, 64, 65, 67, 69, 71, 72])
    assert recall(a, a) == 1.0
    b = a.copy()
    b[0, 0] = 0  # one onset gone of eight
    assert recall(a, b) == pytest.approx(7 / 8)
    assert set(figures(a)) == {"key_fit", "leaps", "pitch_class_entropy"}
