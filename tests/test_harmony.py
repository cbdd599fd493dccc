"""Harmony (music_vae/harmony.py): chords that hold the melody, from the shipped chorale prior.

The melodies are written out here (no corpus is parsed in a test): a C major arpeggio, a bar
outlining G7, and two real tunes, Beethoven's "Ode to Joy" and "Twinkle, Twinkle, Little Star".
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from music_vae.errors import MusicInputError
from music_vae.harmony import (Settings, chord_tone_share, chords_of_key, default_prior_path, harmonize,
                               load_prior, read_key, voice)
from music_vae.representation import Note, notes_to_tokens, pitch_to_token

C, D, E, F, G, A, B = 60, 62, 64, 65, 67, 69, 71


def bar(*pitches_and_quarters) -> list[int]:
    """One bar of tokens from (pitch, quarters) pairs."""
    tokens, step = [0] * 16, 0
    for pitch, quarters in pitches_and_quarters:
        tokens[step] = pitch_to_token(pitch)
        step += int(quarters * 4)
    assert step == 16
    return tokens


def melody(spec: str, transpose: int = 0) -> np.ndarray:
    """Bars from 'E E F G | G F E D': note names (C4 octave, ',' an octave down), '.' a dotted
    quarter, '8' an eighth, '2' a half note; bars split by '|'."""
    names = {"C": C, "D": D, "E": E, "F": F, "G": G, "A": A, "B": B}
    notes, step = [], 0
    for word in spec.split():
        if word == "|":
            continue
        pitch = names[word[0]] - (12 if "," in word else 0) + transpose
        length = 6 if "." in word else 2 if "8" in word else 8 if "2" in word else 4
        notes.append(Note(pitch, step, step + length))
        step += length
    return notes_to_tokens(notes).reshape(-1, 16)


ODE = ("E E F G | G F E D | C C D E | E. D8 D2 | E E F G | G F E D | C C D E | D. C8 C2 | "
       "D D E C | D E8 F8 E C | D E8 F8 E D | C D G,2 | E E F G | G F E D | C C D E | D. C8 C2")
TWINKLE = ("C C G G | A A G2 | F F E E | D D C2 | G G F F | E E D2 | G G F F | E E D2 | "
           "C C G G | A A G2 | F F E E | D D C2")


@pytest.fixture(scope="module")
def prior():
    return load_prior()


def test_a_c_major_arpeggio_gets_c(prior):
    spans = harmonize([bar((C, 1), (E, 1), (G, 1), (C + 12, 1))], 0, "major", prior)
    assert [(s.chord.name, s.start, s.end) for s in spans] == [("C", 0, 16)]


def test_a_bar_outlining_g7_in_c_gets_the_dominant(prior):
    arpeggio_c = bar((C, 1), (E, 1), (G, 1), (C + 12, 1))
    outline_g7 = bar((G, 1), (B, 1), (D + 12, 1), (F + 12, 1))
    spans = harmonize([arpeggio_c, outline_g7, arpeggio_c], 0, "major", prior)
    assert [s.chord.numeral for s in spans] in (["I", "V7", "I"], ["I", "V", "I"])
    assert [(s.start, s.end) for s in spans] == [(0, 16), (16, 32), (32, 48)]


def test_the_same_bar_in_a_minor_key_is_read_in_that_key(prior):
    outline_e = bar((64, 1), (68, 1), (71, 1), (74, 1))   # E G# B D: V7 of A minor
    spans = harmonize([outline_e], 9, "minor", prior)
    assert spans[0].chord.degree == 4 and not spans[0].chord.is_minor


@pytest.mark.parametrize("tune, most_changes", [(ODE, 1.25), (TWINKLE, 1.5)])  # as a person harmonises them
def test_real_tunes_strong_beats_are_chord_tones_and_chords_are_kept(prior, tune, most_changes):
    for shift in (0, 2, 7):                           # C, D and G major
        bars = melody(tune, shift)
        assert read_key(bars) == (shift, "major")
        spans = harmonize(bars, shift, "major", prior)
        hits, total = chord_tone_share(bars, spans)
        assert total == 2 * len(bars) and hits / total >= 0.9
        assert len(spans) - 1 <= most_changes * len(bars)
        assert spans[-1].chord.degree == 0            # both tunes end on the tonic


def test_a_chord_is_kept_as_long_as_the_melody_lets_it(prior):
    bars = melody("C E G E | G C E G | E G C E | C2 C2")
    assert [s.chord.name for s in harmonize(bars, 0, "major", prior)] == ["C"]


def test_the_change_cost_sets_how_often_chords_change():
    bars = melody(ODE)
    many = harmonize(bars, 0, "major", settings=Settings(change=0.0, mid_bar=0.0, prior=0.0))
    few = harmonize(bars, 0, "major", settings=Settings(change=20.0))
    assert len(few) == 1 < len(many)
    hits, total = chord_tone_share(bars, few)            # one chord for the whole tune leaves D's out
    assert total == 32 and hits / total < 0.8 < np.divide(*chord_tone_share(bars, many))


def test_previous_chord_carries_into_the_next_bars(prior):
    a_minor_bar = [bar((A, 1), (C + 12, 1), (E + 12, 1), (A, 1))]
    chords = {c.name: c for c in chords_of_key(0, "major")}
    free = harmonize([bar((C + 12, 2), (E + 12, 2))], 0, "major", prior)
    carried = harmonize([bar((C + 12, 2), (E + 12, 2))], 0, "major", prior, previous=chords["Am"])
    assert free[0].chord.name == "C" and carried[0].chord.name == "Am"
    assert harmonize(a_minor_bar, 0, "major", prior)[0].chord.name == "Am"


def test_the_shipped_prior_is_a_proper_distribution_learned_from_the_chorales():
    data = json.loads(default_prior_path().read_text())
    assert "score-av train harmony" in data["made_by"] and data["data"]["split"] == "train"
    assert sum(data["data"]["chorales"].values()) > 300
    for mode in ("major", "minor"):
        m = data["modes"][mode]
        assert math.isclose(sum(math.exp(x) for x in m["start_logp"]), 1.0, abs_tol=1e-3)
        for a, row in enumerate(m["change_logp"]):
            assert row[a] is None and m["change_counts"][a][a] == 0
            assert math.isclose(sum(math.exp(x) for b, x in enumerate(row) if b != a), 1.0, abs_tol=1e-3)
        counts = np.array(m["change_counts"])
        assert counts.min() >= 0 and counts.sum() > 1000
        assert int(np.argmax(counts[4])) == 0        # V goes to I more than anywhere else
        assert int(np.argmax(m["start_logp"])) == 0  # chorales start on the tonic
    loaded = load_prior()
    assert np.isneginf(np.diag(loaded.change["major"])).all()


def test_bad_input_gives_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="16-step bars"):
        harmonize(np.zeros(15, dtype=int), 0)
    with pytest.raises(ValueError, match="0..89"):
        harmonize(np.full((1, 16), 95), 0)
    with pytest.raises(ValueError, match="integer tokens"):
        harmonize(np.zeros((1, 16)), 0)
    with pytest.raises(ValueError, match="mode 'lydian'"):
        harmonize(np.zeros((1, 16), dtype=int), 0, "lydian")
    with pytest.raises(ValueError, match="pitch class"):
        harmonize(np.zeros((1, 16), dtype=int), 12)
    with pytest.raises(ValueError, match="no notes"):
        read_key(np.zeros((2, 16), dtype=int))
    with pytest.raises(MusicInputError, match="score-av train harmony"):
        load_prior(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"modes": {}}')
    with pytest.raises(MusicInputError, match="bad.json"):
        load_prior(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="pattern"):
        voice([], pattern="waltz")
    assert harmonize(np.zeros((0, 16), dtype=int), 0) == []


def test_voicing_is_chord_tones_in_the_middle_register_led_smoothly(prior):
    bars = melody(ODE)
    spans = harmonize(bars, 0, "major", prior)
    for pattern, strikes_per_bar in (("block", 1), ("half", 2), ("beats", 4)):
        notes = voice(spans, pattern)
        assert all(48 <= n.pitch <= 67 and n.end > n.start for n in notes)
        for span in spans:
            inside = [n for n in notes if span.start <= n.start < span.end]
            assert {n.pitch % 12 for n in inside} <= set(span.chord.pitch_classes)
            assert len({n.start for n in inside}) >= (span.end - span.start) // 16 * strikes_per_bar
        if pattern == "beats":
            assert all(n.duration <= 3 for n in notes)
    chords = {}
    for n in voice(spans, "block"):
        chords.setdefault(n.start, []).append(n.pitch)
    means = [np.mean(p) for _, p in sorted(chords.items())]
    assert max(abs(a - b) for a, b in zip(means, means[1:])) <= 4   # the nearest inversion, not root position
