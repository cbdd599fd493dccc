"""Every bar that sounds at a phrase end ends on the tonic, whether it is new, held or a theme."""
from __future__ import annotations

import numpy as np

from music_vae.representation import FIRST_PITCH_TOKEN, HOLD
from score_av.conductor import PHRASE, REGISTER, Conducting, cadence, conduct, pitch_of
from score_av.key import Key


def last_pitch_class(bar: np.ndarray) -> int | None:
    onsets = bar[bar >= FIRST_PITCH_TOKEN]
    return int(pitch_of(onsets[-1:])[0]) % 12 if len(onsets) else None


def test_the_bar_sounding_at_a_phrase_end_ends_on_the_tonic_whatever_made_it(models):
    rng = np.random.default_rng(3)
    look = {name: rng.standard_normal(32).astype(np.float32) for name in "ABCDEFGHI"}
    # bar 3 holds bar 2 and bar 7 brings bar 1 back as a theme: both close a phrase
    order = "ABCC" "DEFB" "GHII"
    positions = np.stack([look[name] for name in order])
    key = Key.parse("G")
    done = conduct(models.music, positions, positions, np.zeros(len(order)), Conducting(key=key))

    assert done.held[3] and done.held[11] and done.theme_of[7] == 1  # the origins under test are there
    ends = [k for k in range(len(order)) if k % PHRASE == PHRASE - 1]
    assert [last_pitch_class(done.bars[k]) for k in ends] == [key.tonic] * len(ends)
    # a held bar is the bar before with its phrase closed; a theme is its bar, closed the same way
    assert np.sum(done.bars[3] != done.bars[2]) <= 1 and np.sum(done.bars[7] != done.bars[1]) <= 1

    free = conduct(models.music, positions, positions, np.zeros(len(order)), Conducting(key=key, phrases=False))
    assert np.array_equal(free.bars[3], free.bars[2]) and np.array_equal(free.bars[7], free.bars[1])


def test_a_phrase_closes_by_stepping_to_the_tonic_nearest_the_note_before():
    note = lambda pitch: pitch - 21 + FIRST_PITCH_TOKEN
    bar = np.full(16, HOLD)
    bar[[0, 4, 8, 12]] = [note(67), note(65), note(64), note(69)]  # G4 F4 E4 A4, in C
    closed = cadence(bar, Key.parse("C"), REGISTER)
    assert closed[12] == note(60) and np.array_equal(closed[:12], bar[:12])  # C4, a third below E4 (not C5)
    alone = np.full(16, HOLD)
    alone[0] = note(69)
    assert cadence(alone, Key.parse("C"), REGISTER)[0] == note(72)  # one note: the tonic nearest it
