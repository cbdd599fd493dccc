"""`score-av music inpaint` with the shipped model on real tunes (music_vae/melody_file.py): files in, bars
replaced, the rest of the tune back out note for note, and one line for a file that is not one 4/4 melody."""
from __future__ import annotations

import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from music21 import corpus

from music_vae.corpus.extract import bars_from_music21_source
from music_vae.corpus.sources import split_abc_tunes
from music_vae.inpaint import Inpainter
from music_vae.melody_file import inpaint_melody, read_melody
from music_vae.midi_io import bar_seconds, notes_to_midi, write_midi
from music_vae.representation import FIRST_PITCH_TOKEN, HOLD, NOTE_OFF, Note, pitch_to_token, tokens_to_notes
from score_av.synth import SoundfontNotFound, find_soundfont

from conftest import REEL_ABC
from test_cli import one_line_error, run


def oneills(number: str) -> str:
    """One tune of O'Neill's Music of Ireland, as music21 ships it."""
    root = Path(corpus.__file__).parent / "oneills1850"
    for path in sorted(root.glob("*.abc")):
        tunes = dict((ref.strip(), body) for ref, body in split_abc_tunes(path.read_text(encoding="latin-1")))
        if number in tunes:
            return tunes[number]
    raise LookupError(number)


# Bonnie Kate (O'Neill's 1277): a reel in 2/2 with a pick-up, triplets and a short last bar; a tempo added
KATE = oneills("1277").replace("M:C|", "M:C|\nQ:1/4=96")
SHAMROCK = oneills("48")  # The Shamrock Shore, 4/4 with a pick-up and ties


@pytest.fixture(scope="module")
def inpainter():
    return Inpainter("inpaint", device="cpu")


@pytest.fixture
def kate(tmp_path) -> Path:
    path = tmp_path / "kate.abc"
    path.write_text(KATE)
    return path


def test_kate_is_read_with_its_pickup_bars_and_short_last_bar(kate):
    m = read_melody(kate)
    assert m.pickup == 4                       # (dB): two quavers
    assert m.n_bars == 15                      # 16 written bars, the last 3 beats long
    assert len(m.tokens) == 4 + 15 * 16 + 12
    assert m.bpm == 96 and m.program == 0
    assert m.off_grid == 6                     # two triplets of three
    assert (m.tokens[:4] == [pitch_to_token(74), 0, pitch_to_token(71), 0]).all()


@pytest.mark.parametrize("abc", [REEL_ABC, SHAMROCK], ids=["reel", "shamrock"])
def test_full_bars_are_the_corpus_bars(tmp_path, abc):
    """The corpus tokenises the same tunes for training: a melody file's bars must be those bars."""
    path = tmp_path / "tune.abc"
    path.write_text(abc)
    corpus_bars = bars_from_music21_source(abc, "t", "s", is_text=True)
    assert not corpus_bars.dropped and len(corpus_bars.bars) >= 5
    assert np.array_equal(read_melody(path).bars, corpus_bars.bars)


def test_cli_replaces_the_bars_named_and_keeps_the_rest_note_for_note(capsys, kate, tmp_path, inpainter):
    out = tmp_path / "kate.mid"
    code, stdout, _ = run(capsys, "music", "inpaint", kate, "--bars", "5-8", "-o", out, "--device", "cpu")
    assert code == 0
    assert stdout.splitlines()[-1].startswith(f"bars 5-8 of kate.abc inpainted: {out} (")
    assert "6 notes off the sixteenth grid" in stdout
    src, got = read_melody(kate), read_melody(out)
    assert got.pickup == src.pickup and np.array_equal(got.tokens[:4], src.tokens[:4])     # bar 0
    assert got.n_bars == src.n_bars and len(got.tokens) == len(src.tokens)                 # short last bar too
    kept = np.r_[0:4, 8:15]
    assert np.array_equal(got.bars[kept], src.bars[kept])
    assert np.array_equal(got.tokens[4 + 15 * 16:], src.tokens[4 + 15 * 16:])
    fill = inpainter.replace_bars(src.bars, 4, 4)[4:8]
    assert np.array_equal(got.bars[4:8, 1:], fill[:, 1:]) and not np.array_equal(fill, src.bars[4:8])
    assert (got.bars[4:8] >= FIRST_PITCH_TOKEN).any(axis=1).all()
    assert got.bpm == pytest.approx(96)


def test_midi_keeps_its_tempo_and_program_and_its_pickup(capsys, tmp_path):
    """A MIDI tune from the project's writer (100 bpm, a violin), its pick-up written as a short first measure."""
    src = read_melody_from_abc(tmp_path, REEL_ABC)
    midi = notes_to_midi(tokens_to_notes(src.tokens), bpm=100, program=40)
    sig = next(m for m in midi.tracks[0] if m.type == "time_signature")
    sig.numerator, sig.denominator = 1, 8
    midi.tracks[0].insert(3, mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    fix_first_bar_line(midi.tracks[0], 2 * 120)
    path, out = tmp_path / "reel.mid", tmp_path / "out.mid"
    midi.save(str(path))
    m = read_melody(path)
    assert m.pickup == 2 and np.array_equal(m.tokens, src.tokens)
    code, _, _ = run(capsys, "music", "inpaint", path, "--bars", "2-3", "-o", out, "--device", "cpu")
    assert code == 0
    written = mido.MidiFile(str(out))
    messages = [msg for track in written.tracks for msg in track]
    assert [m.tempo for m in messages if m.type == "set_tempo"] == [mido.bpm2tempo(100)]
    assert [m.program for m in messages if m.type == "program_change"] == [40]
    assert [(m.numerator, m.denominator) for m in messages if m.type == "time_signature"] == [(1, 8), (4, 4)]
    got = read_melody(out)
    assert got.pickup == 2 and np.array_equal(got.tokens[:2], src.tokens[:2])
    assert np.array_equal(got.bars[[0, 3, 4]], src.bars[[0, 3, 4]])


def read_melody_from_abc(tmp_path, abc):
    path = tmp_path / "from.abc"
    path.write_text(abc)
    return read_melody(path)


def fix_first_bar_line(track, tick):
    """Move the second time signature (inserted at time 0) to `tick`, the end of the pick-up."""
    at, events = 0, []
    for msg in track:
        at += msg.time
        events.append((at, msg))
    sig = [i for i, (_, msg) in enumerate(events) if msg.type == "time_signature"][1]
    events[sig] = (tick, events[sig][1])
    events.sort(key=lambda e: (e[0], not e[1].is_meta))
    now = 0
    track.clear()
    for at, msg in events:
        track.append(msg.copy(time=at - now))
        now = at


def test_a_note_tied_across_the_edges_is_cut_at_the_bar_line(tmp_path, inpainter):
    """REEL_ABC ties its D over the line between bars 4 and 5."""
    src = read_melody_from_abc(tmp_path, REEL_ABC)
    d = pitch_to_token(62)
    assert src.bars[3, -4] == d and src.bars[4, 0] == HOLD
    before = inpaint_melody(src, 4, 4, inpainter)       # replace bar 4: the kept bar 5 starts with its own D
    assert before.bars[4, 0] == d and np.array_equal(before.bars[4, 1:], src.bars[4, 1:])
    assert np.array_equal(before.bars[:3], src.bars[:3])
    after = inpaint_melody(src, 5, 5, HoldingInpainter())  # a fill that begins by holding: the D still ends
    assert after.bars[4, 0] == NOTE_OFF and np.array_equal(after.bars[4, 1:], HoldingInpainter.BAR[1:])
    assert np.array_equal(after.bars[:4], src.bars[:4])
    notes = tokens_to_notes(after.tokens)
    assert max(n.end for n in notes if n.start < after.pickup + 4 * 16) == after.pickup + 4 * 16


class HoldingInpainter:
    """Fills every bar with one that holds for a beat, then plays an E: what the model may write."""
    BAR = np.array([HOLD] * 4 + [pitch_to_token(64)] + [HOLD] * 11)

    class config:
        class model:
            max_missing = 8

    def replace_bars(self, bars, start, missing, temperature=0.0, seed=None):
        out = np.array(bars, copy=True)
        out[start:start + missing] = self.BAR
        return out


def test_samples_differ_and_come_again_with_the_same_seed(capsys, kate, tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name / "k.mid"
        out.parent.mkdir()
        code, stdout, _ = run(capsys, "music", "inpaint", kate, "--bars", "5-8", "-o", out, "--samples", 3,
                              "--seed", 7, "--device", "cpu")
        assert code == 0 and "3 samples (seed 7)" in stdout
        assert not out.exists()
        runs.append([read_melody(out.with_name(f"k-{k}.mid")) for k in (1, 2, 3)])
    src = read_melody(kate)
    for a, b in zip(*runs):
        assert np.array_equal(a.tokens, b.tokens)
    fills = [m.bars[4:8] for m in runs[0]]
    assert all(not np.array_equal(fills[i], fills[j]) for i, j in [(0, 1), (0, 2), (1, 2)])
    for m in runs[0]:
        assert np.array_equal(m.bars[8:], src.bars[8:]) and np.array_equal(m.bars[:4], src.bars[:4])


def test_sampling_in_the_inpainter_is_seeded_and_greedy_at_zero(inpainter, kate):
    bars = read_melody(kate).bars
    greedy = inpainter.replace_bars(bars, 4, 4)
    assert np.array_equal(inpainter.replace_bars(bars, 4, 4, 0.0, 5), greedy)
    drawn = [inpainter.replace_bars(bars, 4, 4, 1.0, s) for s in (1, 1, 2, 3, 4)]
    assert np.array_equal(drawn[0], drawn[1])
    assert any(not np.array_equal(d, greedy) for d in drawn)
    assert all(np.array_equal(d[np.r_[0:4, 8:15]], bars[np.r_[0:4, 8:15]]) for d in drawn)


def test_each_bars_choice_is_drawn_too_and_seeded(inpainter, kate, monkeypatch):
    """With the decoder made greedy, what differs between seeds is the drawn copy-or-own choice of a bar."""
    bars = read_melody(kate).bars
    decode = inpainter.music.decode
    monkeypatch.setattr(inpainter.music, "decode", lambda z, temperature=0.0, seed=None: decode(z))
    drawn = [inpainter.replace_bars(bars, 4, 4, 1.0, s) for s in range(12)]
    assert len({d.tobytes() for d in drawn}) > 1
    assert all(np.array_equal(inpainter.replace_bars(bars, 4, 4, 1.0, s), d) for s, d in enumerate(drawn))


def test_wav_is_rendered_for_the_whole_tune(capsys, kate, tmp_path):
    try:
        find_soundfont()
    except SoundfontNotFound as exc:
        pytest.skip(str(exc))
    mid, wav = tmp_path / "k.mid", tmp_path / "k.wav"
    code, stdout, _ = run(capsys, "music", "inpaint", kate, "--bars", "2", "-o", mid, "--wav", wav, "--device", "cpu")
    assert code == 0 and str(wav) in stdout.splitlines()[-1]
    with wave.open(str(wav)) as w:
        assert w.getnframes() == round(((4 + 15 * 16 + 12) / 16 * bar_seconds(96) + 1.0) * 44100)


def two_voices_midi(path):
    midi = notes_to_midi([Note(67, 4 * i, 4 * i + 4) for i in range(16)])
    midi.tracks.append(notes_to_midi([Note(43, 16 * i + 2, 16 * i + 14) for i in range(4)]).tracks[0])  # off the beat
    midi.save(str(path))


def chord_midi(path):
    write_midi(path, [Note(67, 4 * i, 4 * i + 4) for i in range(16)] + [Note(71, 20, 21)])  # a sixteenth on top


def two_voices_score():
    """Four bars of one staff in two voices, as notation programs write a second voice."""
    from music21 import meter, note, stream

    part = stream.Part()
    for i in range(4):
        bar, upper, lower = stream.Measure(number=i + 1), stream.Voice(), stream.Voice()
        for k in range(4):
            upper.append(note.Note(67 + k, quarterLength=1))
        lower.append(note.Note(55, quarterLength=4))
        if i == 0:
            bar.insert(0, meter.TimeSignature("4/4"))
        bar.insert(0, upper)
        bar.insert(0, lower)
        part.append(bar)
    score = stream.Score()
    score.insert(0, part)
    return score


def waltz_midi(path):
    midi = notes_to_midi([Note(67, 4 * i, 4 * i + 4) for i in range(12)])
    sig = next(m for m in midi.tracks[0] if m.type == "time_signature")
    sig.numerator = 3
    midi.save(str(path))


ABC_HEAD = "X:1\nT:t\nL:1/8\nK:G\n"
ABC_44 = ABC_HEAD.replace("K:", "M:4/4\nK:")
NOT_ONE_MELODY = {
    "chord.abc": (ABC_44 + "GABc d2B2|[GBd]2 A2 G4|GABc d2B2|A2G2 G4|\n", "chord in bar 2"),
    "voices.abc": (ABC_44 + "V:1\nGABc d2B2|A2G2 G4|\nV:2\nB,2D2 G,4|D4 G,4|\n", "2 voices"),
    "overlay.abc": (ABC_44 + "GABc d2B2 & B,4 D4|A2G2 G4|GABc d2B2|A2G2 G4|\n", "second voice"),
    "voices.musicxml": (lambda path: two_voices_score().write("musicxml", fp=str(path)), "several voices"),
    "waltz.abc": (ABC_HEAD.replace("K:", "M:3/4\nK:") + "B2 d2 B2|A2 G2 E2|D2 G2 B2|A4 GA|\n", "in 3/4"),
    "long-bar.abc": (ABC_44 + "GABc d2B2|A2G2 G4 A2|GABc d2B2|A2G2 G4|\n", "bar 3 does not start"),
    "two-tunes.abc": (REEL_ABC + "\n" + REEL_ABC.replace("X:1", "X:2"), "2 tunes in one file"),
    "chord.mid": (chord_midi, "sound together in bar 2"),
    "voices.mid": (two_voices_midi, "sound together in bar 1"),
    "waltz.mid": (waltz_midi, "in 3/4"),
}


@pytest.mark.parametrize("name", NOT_ONE_MELODY)
def test_a_file_that_is_not_one_melody_in_4_4_is_one_line(capsys, tmp_path, name):
    make, says = NOT_ONE_MELODY[name]
    path, out = tmp_path / name, tmp_path / "out.mid"
    path.write_text(make) if isinstance(make, str) else make(path)
    err = one_line_error(capsys, "music", "inpaint", path, "--bars", "2", "-o", out, "--device", "cpu")
    assert says in err
    assert not out.exists()


@pytest.mark.parametrize("bars, says", [("0", "has bars 1-15 (bar 0, its pick-up, is always kept)"),
                                        ("16", "has bars 1-15"), ("14-16", "has bars 1-15"),
                                        ("3-12", "the model fills 1 to 8"), ("8-5", "first bar comes first"),
                                        ("five", "give a bar (5) or a range"), ("1-15", "leave at least one")])
def test_bars_that_cannot_be_replaced_are_one_line(capsys, kate, tmp_path, bars, says):
    out = tmp_path / "out.mid"
    err = one_line_error(capsys, "music", "inpaint", kate, "--bars", bars, "-o", out, "--device", "cpu")
    assert says in err
    assert not out.exists()
