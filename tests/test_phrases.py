"""Phrases: every bar that sounds at a phrase end ends on the tonic, whether it is new, held, developed or a
theme; a phrase starts again after a cut; a held look grows a phrase around its anchor bar."""
from __future__ import annotations

import numpy as np
import pytest

from music_vae.representation import FIRST_PITCH_TOKEN, HOLD
from score_av.conductor import (PHRASE, REGISTER, Conducting, cadence, conduct, decode_keyed, pitch_of, rhythm_bias,
                                same_notes, transpose)
from score_av.errors import ScoreAVError
from score_av.key import Key


def last_pitch_class(bar: np.ndarray) -> int | None:
    onsets = bar[bar >= FIRST_PITCH_TOKEN]
    return int(pitch_of(onsets[-1:])[0]) % 12 if len(onsets) else None


def near_looks(names: str, seed: int = 3) -> dict[str, np.ndarray]:
    """Looks of one shot: each pair about 2 apart (past the theme radius, short of a cut)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(32).astype(np.float32)
    return {name: base + 0.25 * rng.standard_normal(32).astype(np.float32) for name in names}


def test_the_bar_sounding_at_a_phrase_end_ends_on_the_tonic_whatever_made_it(models):
    look = near_looks("ABCDEFGHI")
    # bar 3 holds bar 2 and bar 7 brings bar 1 back as a theme: both close a phrase
    order = "ABCC" "DEFB" "GHII"
    positions = np.stack([look[name] for name in order])
    key = Key.parse("G")
    for development in (True, False):
        done = conduct(models.music, positions, positions, np.zeros(len(order)),
                       Conducting(key=key, development=development))
        assert done.held[3] and done.held[11] and done.theme_of[7] == 1  # the origins under test are there
        assert list(done.phrase_start) == [0] * len(order)  # one shot: one phrase
        ends = [k for k in range(len(order)) if k % PHRASE == PHRASE - 1]
        assert [last_pitch_class(done.bars[k]) for k in ends] == [key.tonic] * len(ends)
        assert np.sum(done.bars[7] != done.bars[1]) <= 1  # a theme is its bar, closed
        # held: the bar before with its phrase closed, or, developed, a bar of its own
        assert (np.sum(done.bars[3] != done.bars[2]) <= 1) != development
        assert list(np.flatnonzero(done.developed)) == ([3, 11] if development else [])

    free = conduct(models.music, positions, positions, np.zeros(len(order)),
                   Conducting(key=key, phrases=False, development=False))
    assert np.array_equal(free.bars[3], free.bars[2]) and np.array_equal(free.bars[7], free.bars[1])


def test_a_phrase_starts_again_on_the_bar_after_a_cut(models):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 32)).astype(np.float32) * 2  # about 11 apart: a cut
    positions = np.stack([a] * 3 + [b] * 9)
    key = Key.parse("D")
    done = conduct(models.music, positions, positions, np.zeros(12), Conducting(key=key))
    assert list(done.phrase_start) == [0] * 3 + [3] * 9
    assert [last_pitch_class(done.bars[k]) for k in (6, 10)] == [key.tonic] * 2  # bars 4 and 8 of the new phrase


def test_a_still_picture_plays_a_phrase_with_its_anchor_at_bars_1_and_5_not_a_loop(models):
    look = np.random.default_rng(7).standard_normal((1, 32)).astype(np.float32)
    positions = np.repeat(look, 16, axis=0)
    done = conduct(models.music, positions, positions, np.zeros(16), Conducting(key=Key.parse("C")))
    bars = done.bars
    anchor = [0, 4, 8, 12]
    assert all(np.sum(bars[k] != bars[0]) <= 1 for k in anchor)  # the anchor returns (bar 4 and 8: phrase ends)
    assert list(np.flatnonzero(done.developed)) == [k for k in range(16) if k not in anchor]
    assert not any(np.array_equal(bars[k], bars[k - 1]) for k in range(1, 16))
    assert not any(same_notes(bars[k], bars[k - 1]) for k in range(1, 16))  # nor the bar before an octave away
    for phrase in (bars[:8], bars[8:]):
        assert len({tuple(bar) for bar in phrase}) >= 6

    loop = conduct(models.music, positions, positions, np.zeros(16), Conducting(key=Key.parse("C"), development=False))
    assert len({tuple(bar) for bar in loop.bars[:8]}) <= 2  # one bar, and its phrase-end form


def rhythm(bar: np.ndarray) -> tuple:
    """Where a bar strikes, holds and rests, whatever its pitches."""
    return tuple(np.where(bar >= FIRST_PITCH_TOKEN, FIRST_PITCH_TOKEN, bar).tolist())


def test_developed_bars_take_the_rhythm_of_real_bars(models):
    """An inpainted code decodes, freely, to a plainer bar than a tune's: a developed bar strikes where
    the real bar nearest its code does (the data prior's anchors: codes of real training bars)."""
    music, how = models.music, Conducting(key=Key.parse("D"))
    real = {rhythm(bar) for bar in decode_keyed(music, music.data_prior.anchors.astype(np.float32), None, how)}
    looks = np.random.default_rng(11).standard_normal((3, 32)).astype(np.float32)
    positions = np.repeat(looks, 8, axis=0)
    done = conduct(music, positions, positions, np.zeros(len(positions)), how)
    developed = done.bars[done.developed]
    assert len(developed) >= 12
    assert np.mean([rhythm(bar) in real for bar in developed]) >= 0.8
    template = rhythm_bias(developed[0])
    struck = music.decode(looks[:1], bias=template[None])[0]
    assert rhythm(struck) == rhythm(developed[0])  # the bias makes any code strike as the template does


def token(pitch: int) -> int:
    return pitch - 21 + FIRST_PITCH_TOKEN


def test_a_bar_an_octave_away_is_heard_as_the_same_bar():
    bar = np.array([token(62), HOLD, token(66), 1, token(69)] + [HOLD] * 11)
    assert same_notes(bar, transpose(bar[None], np.array([-12]))[0])
    assert not same_notes(bar, transpose(bar[None], np.array([-7]))[0])
    other = bar.copy()
    other[2] = token(67)
    assert not same_notes(bar, other)


def test_a_phrase_closes_by_stepping_to_the_tonic_nearest_the_note_before():
    note = lambda pitch: pitch - 21 + FIRST_PITCH_TOKEN
    bar = np.full(16, HOLD)
    bar[[0, 4, 8, 12]] = [note(67), note(65), note(64), note(69)]  # G4 F4 E4 A4, in C
    closed = cadence(bar, Key.parse("C"), REGISTER)
    assert closed[12] == note(60) and np.array_equal(closed[:12], bar[:12])  # C4, a third below E4 (not C5)
    alone = np.full(16, HOLD)
    alone[0] = note(69)
    assert cadence(alone, Key.parse("C"), REGISTER)[0] == note(72)  # one note: the tonic nearest it


def test_bridge_cuts_inpaint_the_last_bar_before_a_cut_towards_the_next_shot(models):
    rng = np.random.default_rng(11)
    a, b, c = rng.standard_normal((3, 32)).astype(np.float32) * 2  # three shots, each far from the others
    key = Key.parse("A minor")

    def conducted(second, bridge=True):
        positions = np.stack([a] * 6 + [second] * 4 + [a])  # cuts into bars 6 and 10; a one-bar shot at the end
        return conduct(models.music, positions, positions, np.zeros(11), Conducting(key=key, bridge_cuts=bridge))

    plain, into_b, into_c = conducted(b, bridge=False), conducted(b), conducted(c)
    assert list(np.flatnonzero(into_b.bridged)) == [5, 9] and not plain.bridged.any()
    changed = np.flatnonzero(np.any(into_b.bars != plain.bars, axis=1))
    assert set(changed) <= {5, 9}  # only the bridges; every cut is heard at its own bar line
    assert not np.array_equal(into_b.bars[5], into_b.bars[4])
    assert not np.array_equal(into_b.bars[5], into_c.bars[5])  # it leans towards the shot after


def test_bridge_cuts_need_an_inpainting_model(models):
    class NoInpainter:
        def __getattr__(self, name):
            if name == "inpainter":
                return lambda: None
            return getattr(models.music, name)

    positions = np.stack([np.zeros(32, np.float32)] * 3 + [np.full(32, 3.0, np.float32)] * 3)
    with pytest.raises(ScoreAVError, match="--bridge-cuts needs an inpainting model"):
        conduct(NoInpainter(), positions, positions, np.zeros(6), Conducting(bridge_cuts=True))
