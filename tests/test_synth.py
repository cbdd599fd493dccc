"""score_av.synth with the real libfluidsynth and the real soundfont: no sound card needed."""

import os
import subprocess
import sys
import wave

import mido
import numpy as np
import pytest

from score_av import synth

RATE = 44100
TPB = 480  # ticks per beat
ONSET_SLACK = int(0.005 * RATE)  # FluidSynth renders in 64-sample blocks; the sample may start late


@pytest.fixture(scope="module")
def soundfont():
    try:
        return synth.find_soundfont()
    except synth.SoundfontNotFound as exc:
        pytest.skip(f"no General MIDI soundfont on this machine: {exc}")


def _midi(notes, tempos=((0, 500000),), channel=0, conductor_track=False):
    """A MIDI file from (start_tick, end_tick, pitch) notes and (tick, tempo) changes."""
    timed = [(tick, 0, mido.MetaMessage("set_tempo", tempo=tempo)) for tick, tempo in tempos]
    notes_timed = []
    for start, end, pitch in notes:
        notes_timed.append((start, 2, mido.Message("note_on", channel=channel, note=pitch,
                                                   velocity=100)))
        notes_timed.append((end, 1, mido.Message("note_off", channel=channel, note=pitch)))
    groups = [timed, notes_timed] if conductor_track else [timed + notes_timed]
    mid = mido.MidiFile(type=1 if conductor_track else 0, ticks_per_beat=TPB)
    for group in groups:
        track = mido.MidiTrack()
        now = 0
        for tick, _prio, msg in sorted(group, key=lambda item: item[:2]):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    return mid


def _rms(audio, start, stop):
    return float(np.sqrt(np.mean(audio[start:stop].astype(np.float64) ** 2)))


def _onset(audio, start, threshold=1e-4):
    """First sample at or after `start` above `threshold` (a few LSB: the s16 output is dithered)."""
    loud = np.nonzero(np.abs(audio[start:]).max(axis=1) > threshold)[0]
    assert loud.size, "no onset found"
    return start + int(loud[0])


def test_second_note_starts_at_its_sample(soundfont):
    # 500000 us per beat: beat 0 = 0 s, beat 1 = 0.5 s, beat 3 = 1.5 s.
    mid = _midi([(0, TPB, 60), (3 * TPB, 4 * TPB, 64)])
    audio = synth.render(mid, soundfont=soundfont)
    assert audio.dtype == np.float32 and audio.shape[1] == 2
    assert np.abs(audio).max() <= 1.0
    assert _onset(audio, 0) < ONSET_SLACK  # the first note sounds at once
    at = round(1.5 * RATE)
    before = _rms(audio, at - int(0.05 * RATE), at)
    after = _rms(audio, at, at + int(0.05 * RATE))
    assert after > 0.005
    assert after > 100 * before
    floor = np.abs(audio[at - int(0.05 * RATE):at]).max()
    onset = _onset(audio, at - int(0.1 * RATE), threshold=max(1e-4, 4 * floor))
    assert at <= onset <= at + ONSET_SLACK


def test_length_with_duration_and_with_tail(soundfont):
    mid = _midi([(0, TPB, 60), (3 * TPB, 4 * TPB, 64)])  # last event at 2.0 s
    assert synth.render(mid, soundfont=soundfont).shape == (round(3.0 * RATE), 2)
    tail = synth.render(mid, soundfont=soundfont, tail_seconds=0.25)
    assert tail.shape == (round(2.25 * RATE), 2)
    cut = synth.render(mid, soundfont=soundfont, duration=1.2345)
    assert cut.shape == (round(1.2345 * RATE), 2)
    # Events after the end are dropped: the second note (1.5 s) never sounds.
    assert _rms(cut, round(1.1 * RATE), len(cut)) < 1e-3
    mid_cut = synth.render(mid, soundfont=soundfont, duration=1.75)
    assert mid_cut.shape == (round(1.75 * RATE), 2)
    assert _rms(mid_cut, round(1.5 * RATE), len(mid_cut)) > 0.005


def test_tempo_change_moves_the_onset(soundfont):
    # 0.5 s for the first beat at 500000, then 1 s per beat: tick 960 is at 1.5 s.
    mid = _midi([(2 * TPB, 3 * TPB, 64)], tempos=((0, 500000), (TPB, 1000000)),
                conductor_track=True)
    times = [t for t, msg in synth.midi_events(mid)]
    assert times == [1.5, 2.5]
    audio = synth.render(mid, soundfont=soundfont)
    at = round(1.5 * RATE)
    assert np.abs(audio[:at]).max() < 1e-4  # silence before the only note
    assert at <= _onset(audio, 0) <= at + ONSET_SLACK


def test_no_drift_over_many_events(soundfont):
    # 120 short notes, 40 ticks = 1837.4 samples apart (tempo 499973 us): adding up rounded gaps
    # would place the last note ~96 samples early. After a rest and a last note: its onset is
    # still where its absolute time says.
    tempo = 499973
    notes = [(i * 80, i * 80 + 40, 60 + i % 12) for i in range(120)]
    last_tick = 120 * 80 + 4 * TPB
    notes.append((last_tick, last_tick + TPB, 72))
    mid = _midi(notes, tempos=((0, tempo),))
    audio = synth.render(mid, soundfont=soundfont, tail_seconds=0.1)
    at = round(mido.tick2second(last_tick, TPB, tempo) * RATE)
    before = _rms(audio, at - int(0.05 * RATE), at)
    assert _rms(audio, at, at + int(0.05 * RATE)) > 100 * before
    floor = np.abs(audio[at - int(0.05 * RATE):at]).max()
    assert at <= _onset(audio, at - 2000, threshold=max(1e-4, 4 * floor)) <= at + ONSET_SLACK


def test_drum_channel_sounds(soundfont):
    mid = _midi([(0, TPB, 38)], channel=9)  # acoustic snare, GM percussion bank 128
    audio = synth.render(mid, soundfont=soundfont, duration=0.5)
    assert _rms(audio, 0, len(audio)) > 0.001


def test_unloadable_soundfont_is_a_synth_error(tmp_path):
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"not a soundfont")
    with pytest.raises(synth.SynthError, match="broken.sf2"):
        synth.render(_midi([(0, TPB, 60)]), soundfont=bad)


def test_find_soundfont_order(tmp_path, monkeypatch):
    explicit = tmp_path / "explicit.sf2"
    from_env = tmp_path / "env.sf2"
    explicit.write_bytes(b"x")
    from_env.write_bytes(b"x")
    monkeypatch.setenv("SCORE_AV_SOUNDFONT", str(from_env))
    assert synth.find_soundfont(explicit) == explicit
    assert synth.find_soundfont(str(explicit)) == explicit
    assert synth.find_soundfont() == from_env
    monkeypatch.setenv("SCORE_AV_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(synth.SoundfontNotFound, match="SCORE_AV_SOUNDFONT"):
        synth.find_soundfont()


def test_missing_explicit_soundfont_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "missing.sf2"
    with pytest.raises(synth.SoundfontNotFound) as err:
        synth.find_soundfont(missing)
    message = str(err.value)
    assert str(missing) in message
    assert "\n" not in message


def test_write_wav_round_trip(tmp_path):
    n = 12345
    t = np.arange(n) / RATE
    audio = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t)], axis=1)
    path = tmp_path / "out.wav"
    synth.write_wav(path, audio.astype(np.float32), sample_rate=RATE)
    with wave.open(str(path), "rb") as wav:
        assert wav.getnframes() == n
        assert wav.getnchannels() == 2
        assert wav.getframerate() == RATE
        assert wav.getsampwidth() == 2
        pcm = np.frombuffer(wav.readframes(n), dtype="<i2").reshape(n, 2)
    assert np.abs(pcm / 32767.0 - audio).max() < 1e-4
    assert os.listdir(tmp_path) == ["out.wav"]  # no temporary file left behind


def test_write_wav_rejects_mono_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        synth.write_wav(tmp_path / "mono.wav", np.zeros(100, dtype=np.float32))
    assert os.listdir(tmp_path) == []


def test_loading_fluidsynth_keeps_stdout_clean_under_ci():
    """pyfluidsynth prints where it found the library when $CI is set (as CI machines set it);
    a command's stdout is its one-line summary, which scripts read, so that line must not reach it."""
    code = "from score_av import synth; synth._load_fluidsynth()"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CI": "1"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
