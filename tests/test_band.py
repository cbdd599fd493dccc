"""The band: presets, the bass the picture steers, one WAV per layer."""
from __future__ import annotations

import wave

import mido
import numpy as np
import pytest

from music_vae.harmony import read_key
from score_av.arrangement import bass_notes, bass_steering, harmony_spans
from score_av.band import LAYERS, band_for, load_preset, preset_names
from score_av.clips import write_clip
from score_av.errors import ScoreAVError
from score_av.key import Key
from score_av.render import RenderOptions, render_clip
from video_vae.scenes import clip_with_cuts


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """Two moving shots, 6 s each, cut between them."""
    frames, _ = clip_with_cuts(5, [6.0, 6.0], fps=25.0, height=120, width=160)
    return write_clip(tmp_path_factory.mktemp("band") / "cut.mp4", frames, 25.0)


def test_the_shipped_presets_load_and_differ():
    assert preset_names() == ["ambient", "band", "chamber", "folk"]
    bands = {name: load_preset(name) for name in preset_names()}
    assert all(b.layers[0] == "melody" and "bass" in b.layers and "harmony" in b.layers for b in bands.values())
    assert "drums" in bands["band"].layers and "drums" not in bands["chamber"].layers
    assert len({b.part("melody").program for b in bands.values()}) == 4


def test_the_command_line_wins_over_the_preset():
    band = band_for("folk", layers=("melody", "drums"), program=71)
    assert band.layers == ("melody", "drums")
    assert band.part("melody").program == 71 and band.part("drums").level == load_preset("folk").part("drums").level
    assert band_for().layers == ("melody",) and band_for().part("melody").program == 0


@pytest.mark.parametrize("text, message", [
    ("[bass]\nprogram = 200\n", r"\[bass\] program must be a General MIDI program 0-127, not 200"),
    ("[bass]\nlevel = 1.5\n", r"\[bass\] level must be a number from 0 to 1"),
    ("[piano]\non = true\n", "unknown layer piano"),
    ("[bass]\nvolume = 1\n", r"\[bass\] has unknown field volume"),
    ("[harmony]\npattern = 'waltz'\n", "pattern must be one of block, half, beats"),
    ("[melody]\non = false\n", "the melody cannot be off"),
    ("[bass\n", "not a TOML file"),
])
def test_a_bad_preset_file_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ScoreAVError, match=message):
        load_preset(path)


def test_an_unknown_preset_names_the_shipped_ones():
    with pytest.raises(ScoreAVError, match="no such preset; choose one of ambient, band, chamber, folk, none"):
        load_preset("jazz")


def test_the_picture_steers_the_bass_within_a_shot():
    motion = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    brightness = np.full(7, 0.45)
    starts = np.array([0, 0, 0, 0, 0, 5, 5])
    z = bass_steering(motion, brightness, starts)
    assert np.all(np.diff(z[:5, 1]) >= 0) and z[4, 1] > z[1, 1] + 1.5  # moves towards busy, smoothed
    assert z[2, 1] < 1.0                                                  # not at once
    assert z[5, 1] == pytest.approx(1.0)                                  # a cut starts afresh
    dark, bright = bass_steering(motion, np.full(7, 0.1), starts), bass_steering(motion, np.full(7, 0.9), starts)
    assert np.all(dark[:, 0] == -1.5) and np.all(bright[:, 0] == 1.5)


def test_a_bright_busy_picture_gets_a_higher_busier_bass(models):
    melody = models.music.decode(np.random.default_rng(0).standard_normal((16, models.music.latent_dim)).astype(np.float32))
    spans = harmony_spans(melody, [Key(*read_key(melody))] * 16)
    still_dark = bass_notes(melody, spans, bass_steering(np.zeros(16), np.full(16, 0.15), None))
    busy_bright = bass_notes(melody, spans, bass_steering(np.ones(16), np.full(16, 0.75), None))
    mean_pitch = lambda notes: np.mean([n.pitch for n in notes])
    assert mean_pitch(busy_bright) > mean_pitch(still_dark) + 3
    assert len(busy_bright) > 1.5 * len(still_dark)
    assert all(28 <= n.pitch <= 64 for n in still_dark + busy_bright)


def test_a_preset_render_writes_every_layer_and_a_stem_each(models, cut_clip, tmp_path):
    alone = render_clip(cut_clip, tmp_path / "alone.mp4", RenderOptions(), models=models)
    result = render_clip(cut_clip, tmp_path / "band.mp4",
                         RenderOptions(preset="folk", layers=LAYERS, midi=tmp_path / "band.mid", stems=tmp_path / "stems"),
                         models=models)
    assert np.array_equal(alone.score.bars, result.score.bars)  # the band never changes the melody
    midi = mido.MidiFile(tmp_path / "band.mid")
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks]
    assert names == ["melody", "bass", "harmony", "drums"]
    channels = [{m.channel for m in t if m.type == "note_on"} for t in midi.tracks]
    assert channels == [{0}, {2}, {1}, {9}]
    programs = {t.name: [m.program for m in t if m.type == "program_change"] for t in midi.tracks}
    assert programs["melody"] == [40] and programs["bass"] == [32] and programs["harmony"] == [24]
    volume = {t.name: [m.value for m in t if m.type == "control_change" and m.control == 7] for t in midi.tracks}
    assert volume["bass"] == [round(127 * 0.8)] and volume["drums"] == [round(127 * 0.5)]
    assert sorted(p.name for p in (tmp_path / "stems").iterdir()) == ["bass.wav", "drums.wav", "harmony.wav", "melody.wav"]
    duration = result.score.timeline.duration
    for stem in (tmp_path / "stems").iterdir():
        with wave.open(str(stem)) as w:
            assert abs(w.getnframes() / w.getframerate() - duration) < 0.01
            audio = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        assert np.abs(audio).max() > 500, f"{stem.name} is silent"
    assert all(p in result.written for p in (tmp_path / "stems").iterdir())


def test_stems_into_a_file_is_one_clear_error(models, cut_clip, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ScoreAVError, match="exists and is not a folder"):
        render_clip(cut_clip, tmp_path / "o.mp4", RenderOptions(stems=tmp_path / "taken"), models=models)
