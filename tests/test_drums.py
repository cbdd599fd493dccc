"""Drums: a GM kit on channel 10 that follows motion, fills before cuts and at phrase ends, and a
steady groove with no picture. Made-up motion and phrases: no clip, no model."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import mido
import numpy as np

from music_vae.midi_io import DRUM_CHANNEL, notes_to_midi, read_midi
from music_vae.representation import STEPS_PER_BAR, Note
from score_av.drums import (CRASH, GROOVES, HIGH_TOM, LOW_TOM, MEDIUM, MID_TOM, bars_of, drum_notes, drum_track,
                            score_drums)

BENCH = Path(__file__).resolve().parents[1] / "bench"


def spearman(a, b) -> float:
    """The benchmark's Spearman (bench/video_response.py), so test and figure measure alike."""
    sys.path.insert(0, str(BENCH))
    try:
        from video_response import spearman as measure
    finally:
        sys.path.remove(str(BENCH))
    return measure(a, b)

TOMS = {LOW_TOM, MID_TOM, HIGH_TOM}
GM_KIT = range(35, 82)   # General MIDI's percussion keys


def bar(notes: list[Note], k: int) -> list[tuple[int, int, int]]:
    """Bar k's strikes as (step in the bar, pitch, velocity)."""
    return sorted((n.start - k * STEPS_PER_BAR, n.pitch, n.velocity) for n in notes if n.start // STEPS_PER_BAR == k)


def last_beats(notes: list[Note], k: int, beats: int) -> set[int]:
    return {p for step, p, _ in bar(notes, k) if step >= STEPS_PER_BAR - 4 * beats}


def test_the_drums_are_a_track_named_drums_on_channel_10_with_gm_keys():
    notes = drum_notes(np.linspace(0, 1, 12))
    track = drum_track(notes, bpm=100)
    played = [m for m in track if m.type in ("note_on", "note_off")]
    assert track.name == "drums"
    assert played and {m.channel for m in played} == {DRUM_CHANNEL}
    assert {m.note for m in played} <= set(GM_KIT)
    assert sum(m.type == "note_on" for m in played) == len(notes)
    assert any(m.type == "set_tempo" and m.tempo == mido.bpm2tempo(100) for m in track)


def test_a_still_room_plays_fewer_and_softer_notes_than_a_busy_one():
    still, busy = drum_notes(np.full(8, 0.05)), drum_notes(np.full(8, 0.95))
    assert len(still) < len(busy) / 4
    assert sum(n.velocity for n in still) < sum(n.velocity for n in busy) / 4
    assert np.mean([n.velocity for n in drum_notes(np.full(8, 0.3))]) < np.mean([n.velocity for n in busy])
    calmer, livelier = drum_notes(np.full(8, 0.58)), drum_notes(np.full(8, 0.7))  # one level, less motion: softer
    assert [(n.start, n.pitch) for n in calmer] == [(n.start, n.pitch) for n in livelier]
    assert all(a.velocity < b.velocity for a, b in zip(calmer, livelier))
    motion = np.random.default_rng(0).uniform(0, 1, 40)  # more motion, more notes, fills and all
    assert spearman(motion, bars_of(drum_notes(motion), 40)) >= 0.85


def test_after_a_burst_of_movement_the_drums_ease_off_bar_by_bar():
    motion = np.array([0.95, 0.04, 0.04, 0.04, 0.04, 0.04])
    notes = drum_notes(motion)
    per_bar = bars_of(notes, 6)
    assert per_bar[0] > per_bar[1] > per_bar[2] > 0 and per_bar[-1] == 0
    assert np.mean([v for _, _, v in bar(notes, 1)]) < np.mean([v for _, _, v in bar(notes, 0)]) - 15  # and softer
    assert bars_of(drum_notes(motion, release=None), 6)[1:].sum() == 0   # each bar its own level: a blip


def test_a_fill_comes_in_the_bar_before_a_cut_and_a_crash_on_it():
    motion = np.full(10, 0.7)
    cut = np.r_[[0] * 6, [6] * 4]          # a cut into bar 6: bar 5 is bar 6 of its phrase, no phrase end
    notes, uncut = drum_notes(motion, cut), drum_notes(motion, np.zeros(10, int))
    assert last_beats(notes, 5, 2) & TOMS
    assert not last_beats(uncut, 5, 2) & TOMS
    assert bar(notes, 4) == bar(uncut, 4)
    assert (0, CRASH) in {(s, p) for s, p, _ in bar(notes, 6)}
    assert CRASH not in {p for _, p, _ in bar(uncut, 6)}
    twice = drum_notes(motion, np.r_[[0] * 6, 6, [7] * 3])  # a cut inside bar 6: two jumps, one fill
    assert last_beats(twice, 5, 2) & TOMS and not last_beats(twice, 6, 2) & TOMS


def test_every_fourth_bar_of_a_phrase_ends_with_a_fill_a_longer_one_on_the_eighth():
    notes = drum_notes(np.full(16, 0.6))
    plain = bar(notes, 0)
    for k in range(16):
        if k % 8 == 7:
            assert last_beats(notes, k, 2) & TOMS, k
        elif k % 4 == 3:
            assert bar(notes, k) != plain and not last_beats(notes, k, 2) & TOMS, k
        else:
            assert bar(notes, k) == plain, k


def test_without_a_picture_the_groove_is_medium_and_steady():
    notes = drum_notes(None, n_bars=16)
    assert bar(notes, 0) == bar(notes, 1) == bar(notes, 9) == bar(notes, 14)
    assert len(bar(notes, 0)) == sum(len(line) - line.count(".") for line in GROOVES[MEDIUM].values())
    assert 0 < MEDIUM < len(GROOVES) - 1
    assert last_beats(notes, 7, 2) & TOMS and bar(notes, 3) != bar(notes, 0)
    assert len(drum_notes(None, n_bars=16)) == len(notes)  # the same every time


def test_a_score_gets_its_drums_from_its_motion_and_phrases():
    score = SimpleNamespace(motion=np.full(10, 0.7), conducted=SimpleNamespace(phrase_start=np.r_[[0] * 6, [6] * 4]))
    assert score_drums(score) == drum_notes(score.motion, score.conducted.phrase_start)


def test_the_drum_track_beside_the_melody_survives_a_midi_file(tmp_path):
    melody = [Note(60 + i % 7, 4 * i, 4 * i + 3, 80) for i in range(32)]
    drums = drum_notes(np.linspace(0.1, 1, 8))
    midi = notes_to_midi(melody, bpm=90)
    midi.tracks.append(drum_track(drums, bpm=90))
    path = tmp_path / "band.mid"
    midi.save(str(path))
    back = mido.MidiFile(str(path))
    assert [t.name for t in back.tracks][1] == "drums"
    struck = [m for t in back.tracks for m in t if m.type == "note_on" and m.velocity > 0 and m.channel == DRUM_CHANNEL]
    assert len(struck) == len(drums)
    assert sorted(m.note for m in struck) == sorted(n.pitch for n in drums)
    tick, sounding = 0, {}
    for m in back.tracks[1]:  # every strike is let go after it sounds, none hangs on
        tick += m.time
        if m.type == "note_on" and m.velocity > 0:
            assert m.note not in sounding
            sounding[m.note] = tick
        elif m.type in ("note_on", "note_off"):
            assert tick > sounding.pop(m.note)
    assert not sounding
    assert read_midi(path).notes == [Note(n.pitch, n.start, n.end) for n in melody]  # the melody reads back alone
