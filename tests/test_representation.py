"""Bars, notes and MIDI files: every conversion round-trips for music on the grid."""
import mido
import numpy as np
import pytest

from music_vae.errors import MusicInputError
from music_vae.midi_io import notes_to_midi, read_midi, write_midi
from music_vae.representation import (NOTE_OFF, VOCAB_SIZE, Note, notes_to_tokens, split_bars,
                                      tokens_to_notes, transpose_tokens)


def random_melody(rng, n_bars=4):
    """A monophonic melody on the grid with rests, long notes and notes across barlines."""
    notes, t = [], int(rng.integers(0, 3))
    while True:
        d = int(rng.choice([1, 2, 3, 4, 6, 8, 12]))
        if t + d > n_bars * 16:
            return notes
        notes.append(Note(int(rng.integers(21, 109)), t, t + d, 90))
        t += d + int(rng.choice([0, 0, 0, 1, 2]))


def test_vocabulary_is_musicvaes():
    assert VOCAB_SIZE == 90
    assert notes_to_tokens([Note(21, 0, 1)], 16)[0] == 2
    assert notes_to_tokens([Note(108, 0, 1)], 16)[0] == 89


@pytest.mark.parametrize("seed", range(20))
def test_notes_tokens_round_trip(seed):
    rng = np.random.default_rng(seed)
    notes = random_melody(rng)
    tokens = notes_to_tokens(notes, 64)
    assert split_bars(tokens).shape == (4, 16)
    assert tokens_to_notes(tokens) == notes


@pytest.mark.parametrize("seed", range(10))
def test_midi_round_trip_is_lossless(tmp_path, seed):
    notes = random_melody(np.random.default_rng(seed))
    path = write_midi(tmp_path / "m.mid", notes, bpm=97)
    melody = read_midi(path)
    assert [(n.pitch, n.start, n.end) for n in melody.notes] == [(n.pitch, n.start, n.end) for n in notes]
    assert melody.off_grid_notes == 0
    assert melody.time_signatures == [(0, 4, 4)]
    assert not list(tmp_path.glob("*.tmp"))


def test_midi_tempo_is_written():
    midi = notes_to_midi([Note(60, 0, 4)], bpm=90)
    tempos = [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(90)]
    assert midi.length == pytest.approx(4 * 60 / 90 / 4)


def test_tied_note_across_barline_is_a_hold():
    tokens = notes_to_tokens([Note(60, 12, 20), Note(62, 20, 24)], 32)
    bars = split_bars(tokens)
    assert bars[1][0] == 0 and bars[1][4] == 62 - 21 + 2 and bars[1][8] == NOTE_OFF


def test_transpose_keeps_range():
    bars = notes_to_tokens([Note(100, 0, 4)], 16)[None]
    assert transpose_tokens(bars, 8)[0, 0] == 108 - 21 + 2
    with pytest.raises(ValueError):
        transpose_tokens(bars, 9)


def test_reading_bad_midi_says_what_is_wrong(tmp_path):
    with pytest.raises(MusicInputError, match="no such file"):
        read_midi(tmp_path / "missing.mid")
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"this is not midi at all")
    with pytest.raises(MusicInputError, match="not a readable MIDI file"):
        read_midi(junk)
    empty = tmp_path / "empty.mid"
    mido.MidiFile(tracks=[mido.MidiTrack()]).save(str(empty))
    with pytest.raises(MusicInputError, match="no notes"):
        read_midi(empty)
