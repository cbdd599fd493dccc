"""`score-av music arrange`: a musician's melody kept note for note, with the band under it."""
from __future__ import annotations

import wave

import mido
import numpy as np

from conftest import REEL_ABC
from music_vae.melody_file import melody_midi, read_melody
from test_cli import one_line_error, run

ABC_44 = "X:1\nT:t\nL:1/8\nM:4/4\nK:G\n"


def notes_of(track, ticks_per_beat):
    """(step, pitch) of each note-on of a track, in sixteenths."""
    now, out = 0, []
    for m in track:
        now += m.time
        if m.type == "note_on" and m.velocity:
            out.append((now * 4 // ticks_per_beat, m.note))
    return out


def test_the_melody_is_kept_and_the_band_plays_under_its_full_bars(capsys, tmp_path):
    src, out, wav = tmp_path / "reel.abc", tmp_path / "reel.mid", tmp_path / "reel.wav"
    src.write_text(REEL_ABC.replace("K:D", "Q:1/4=100\nK:D"))
    code, stdout, _ = run(capsys, "music", "arrange", src, "-o", out, "--wav", wav)
    assert code == 0 and stdout.startswith("reel.abc arranged: melody, bass, harmony, drums, 5 bars: ")
    midi, melody = mido.MidiFile(out), read_melody(src)
    assert [t.name for t in midi.tracks] == ["melody", "bass", "harmony", "drums"]
    given = melody_midi(melody)
    assert notes_of(midi.tracks[0], midi.ticks_per_beat) == notes_of(given.tracks[0], given.ticks_per_beat)
    tempo = [m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"]
    assert set(tempo) == {mido.bpm2tempo(100)}
    pickup = melody.pickup  # the reel starts with a quaver pick-up: nothing under it
    for track in midi.tracks[1:]:
        steps = [s for s, _ in notes_of(track, midi.ticks_per_beat)]
        assert steps and min(steps) >= pickup and max(steps) < pickup + 5 * 16
    assert [m for m in midi.tracks[0] if m.type == "time_signature"][0].numerator != 4  # the pick-up's short measure
    assert not [m for t in midi.tracks[1:] for m in t if m.type == "time_signature"]
    with wave.open(str(wav)) as w:
        assert w.getnframes() > 0


def test_the_bass_follows_xy(capsys, tmp_path):
    src = tmp_path / "tune.abc"
    src.write_text(ABC_44 + "GABc d2B2|A2G2 G4|GABc d2B2|A2G2 G4|BcdB c2A2|B2G2 A4|GABc d2B2|A2F2 G4|\n")
    figures = {}
    for xy in [("-1", "-1"), ("1", "1")]:
        out = tmp_path / f"{xy[0]}.mid"
        assert run(capsys, "music", "arrange", src, "-o", out, "--layers", "bass", "--xy", *xy)[0] == 0
        midi = mido.MidiFile(out)
        assert [t.name for t in midi.tracks] == ["melody", "bass"]
        notes = notes_of(midi.tracks[1], midi.ticks_per_beat)
        figures[xy[0]] = (len(notes), np.mean([p for _, p in notes]))
    assert figures["1"][0] > 2 * figures["-1"][0]    # more notes a bar
    assert figures["1"][1] > figures["-1"][1] + 3    # higher


def test_bad_arrange_input_is_one_line(capsys, tmp_path):
    src = tmp_path / "tune.abc"
    src.write_text(ABC_44 + "GABc d2B2|A2G2 G4|\n")
    out = tmp_path / "o.mid"
    assert "--xy 2 0: each must be in [-1, 1]" in one_line_error(capsys, "music", "arrange", src, "-o", out, "--xy", "2", "0")
    assert "unknown layer piano" in one_line_error(capsys, "music", "arrange", src, "-o", out, "--layers", "piano")
    assert "--preset jazz: no such preset" in one_line_error(capsys, "music", "arrange", src, "-o", out, "--preset", "jazz")
    chords = tmp_path / "chords.abc"
    chords.write_text(ABC_44 + "GABc d2B2|[GBd]2 A2 G4|\n")
    assert "chord in bar 2" in one_line_error(capsys, "music", "arrange", chords, "-o", out)
    assert not out.exists()
