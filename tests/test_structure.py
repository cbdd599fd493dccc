"""Structure figures of a melody's 8-bar phrases (music_vae/musicality.py), on made bars whose figures
are known: a loop (one bar eight times), a tune whose bar 5 is its bar 1, eight distinct bars."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from music_vae.musicality import (cut_phrases, distinct_bars, longest_identical_run, repeats_four_later,
                                  same_as_before, self_similarity, structure)
from music_vae.representation import FIRST_PITCH_TOKEN, MIN_PITCH

ROOT = Path(__file__).resolve().parents[1]


def bar(i: int) -> np.ndarray:
    """A bar of its own for each i: four quarter notes, the first a step i above middle C."""
    out = np.zeros(16, np.int64)
    out[::4] = np.array([60 + i, 64, 67, 72]) - MIN_PITCH + FIRST_PITCH_TOKEN
    return out


def phrase(*which: int) -> np.ndarray:
    return np.stack([bar(i) for i in which])


LOOP = phrase(0, 0, 0, 0, 0, 0, 0, 0)
TUNE = phrase(0, 1, 2, 3, 0, 4, 5, 6)       # bar 5 answers bar 1, nothing else repeats
DISTINCT = phrase(0, 1, 2, 3, 4, 5, 6, 7)
RUN_OF_3 = phrase(0, 1, 2, 2, 2, 3, 4, 5)   # bars 3-5 one bar three times


def test_a_loop_repeats_every_bar():
    assert same_as_before(LOOP).mean() == 1.0
    assert longest_identical_run(LOOP) == 8
    assert distinct_bars(LOOP) == 1
    assert repeats_four_later(LOOP) == 1.0


def test_a_tune_repeats_at_a_distance_not_bar_after_bar():
    assert same_as_before(TUNE).mean() == 0.0
    assert longest_identical_run(TUNE) == 1
    assert distinct_bars(TUNE) == 7
    assert repeats_four_later(TUNE) == pytest.approx(1 / 4)


def test_distinct_bars_repeat_nothing():
    assert same_as_before(DISTINCT).mean() == 0.0
    assert longest_identical_run(DISTINCT) == 1
    assert distinct_bars(DISTINCT) == 8
    assert repeats_four_later(DISTINCT) == 0.0


def test_a_run_in_the_middle_and_a_bar_one_note_away():
    assert same_as_before(RUN_OF_3).tolist() == [False, False, True, True, False, False, False]
    assert longest_identical_run(RUN_OF_3) == 3
    assert distinct_bars(RUN_OF_3) == 6
    almost = LOOP.copy()
    almost[3, 2] = FIRST_PITCH_TOKEN  # one note more in bar 4: not the bar before, note for note
    assert same_as_before(almost).tolist() == [True, True, False, False, True, True, True]
    assert longest_identical_run(almost) == 4 and distinct_bars(almost) == 2


def test_figures_pool_every_phrase_of_a_melody():
    melody = np.concatenate([LOOP, TUNE, RUN_OF_3, DISTINCT[:5]])  # a tail of 5 bars is no phrase
    phrases = cut_phrases(melody)
    assert phrases.shape == (3, 8, 16) and (phrases[1] == TUNE).all()
    f = structure(phrases)
    assert f["phrases"] == 3
    assert f["same_as_bar_before"] == pytest.approx((7 + 0 + 2) / 21)
    assert f["longest_run_mean"] == pytest.approx((8 + 1 + 3) / 3) and f["longest_run_max"] == 8
    assert f["phrases_with_run_of_3"] == pytest.approx(2 / 3)
    assert f["distinct_bars_per_phrase"] == pytest.approx((1 + 7 + 6) / 3)
    assert f["bar_k_plus_4_repeats_k"] == pytest.approx((1 + 1 / 4 + 0) / 3)
    assert structure(cut_phrases(DISTINCT[:7]))["phrases"] == 0


def test_self_similarity_says_how_far_back_a_bar_repeats():
    # per lag 1, 2, 4: onsets' overlap, bars identical, onset steps' overlap
    assert self_similarity(LOOP).tolist() == [1.0] * 9
    tune = self_similarity(TUNE).reshape(3, 3)
    assert tune[:, 1].tolist() == [0.0, 0.0, 0.25]           # only bar 5 repeats, four back
    assert tune[:, 2].tolist() == [1.0, 1.0, 1.0]            # every bar has the same rhythm
    assert tune[0, 0] == pytest.approx(3 / 5)                # the next bar differs in its first note only
    assert tune[2, 0] == pytest.approx((1 + 3 * 3 / 5) / 4)
    rest = np.zeros((2, 16), np.int64)
    rest[:, 0] = 1                                           # two bars of rest: no onsets, alike
    assert self_similarity(rest, lags=(1,)).tolist() == [1.0, 1.0, 1.0]


def test_the_phrase_test_sees_a_loop():
    spec = importlib.util.spec_from_file_location("phrase_test", ROOT / "bench" / "phrase_test.py")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        pt = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(pt)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    cols = pt.group_columns("self_similarity")
    loop, tune = pt.phrase_features(LOOP), pt.phrase_features(TUNE)
    assert len(loop) == sum(size for _, size in pt.FEATURE_GROUPS)
    assert (loop[cols] == 1.0).all() and tune[cols][1] == 0.0   # bar k against k-1: identical in the loop only
