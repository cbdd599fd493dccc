"""The band under the melody: --layers adds a harmony and a drum track without touching the melody."""
from __future__ import annotations

import av
import mido
import numpy as np
import pytest

from music_vae.harmony import chord_tone_share, harmonize, load_prior
from score_av.arrangement import harmony_notes
from score_av.band import parse_layers
from score_av.errors import ScoreAVError
from score_av.clips import write_clip
from score_av.render import RenderOptions, render_clip
from video_vae.scenes import clip_with_cuts


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """Two moving shots, 8 s each, cut between them."""
    frames, _ = clip_with_cuts(11, [8.0, 8.0], fps=25.0, height=120, width=160)
    return write_clip(tmp_path_factory.mktemp("band") / "cut.mp4", frames, 25.0)


def test_layers_are_checked_and_the_melody_always_plays():
    assert parse_layers("drums, melody,harmony") == ("melody", "harmony", "drums")
    assert parse_layers(None) == ("melody",)
    assert parse_layers("bass,melody") == ("melody", "bass")
    with pytest.raises(ScoreAVError, match="unknown layer piano; choose from melody, bass, harmony, drums"):
        parse_layers("melody,piano")
    with pytest.raises(ScoreAVError, match="must include melody"):
        parse_layers("drums")


def test_a_band_render_writes_one_named_track_per_layer_and_keeps_the_melody(models, cut_clip, tmp_path):
    alone = render_clip(cut_clip, tmp_path / "alone.mp4", RenderOptions(preset="none", midi=tmp_path / "alone.mid"),
                        models=models)
    band = render_clip(cut_clip, tmp_path / "band.mp4",
                       RenderOptions(midi=tmp_path / "band.mid", layers=("melody", "harmony", "drums")), models=models)
    assert np.array_equal(alone.score.bars, band.score.bars)
    midi = mido.MidiFile(tmp_path / "band.mid")
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks]
    assert names == ["melody", "harmony", "drums"]
    channels = [{m.channel for m in t if m.type == "note_on"} for t in midi.tracks]
    assert channels == [{0}, {1}, {9}]
    melody_notes = lambda f: [(m.note, m.time) for m in mido.MidiFile(f).tracks[0] if m.type == "note_on"]
    assert melody_notes(tmp_path / "alone.mid") == melody_notes(tmp_path / "band.mid")
    assert len(mido.MidiFile(tmp_path / "alone.mid").tracks) == 1
    with av.open(str(tmp_path / "band.mp4")) as c:  # the mix is in the clip, as long as the picture
        audio, video = c.streams.audio[0], c.streams.video[0]
        assert abs(float(audio.duration * audio.time_base) - float(video.duration * video.time_base)) < 0.1


def test_the_harmony_holds_the_melody_on_strong_beats(models, cut_clip, tmp_path):
    score = render_clip(cut_clip, tmp_path / "o.mp4", RenderOptions(layers=("melody", "harmony")), models=models).score
    key = score.conducted.keys[0]
    tones, total = chord_tone_share(score.bars, harmonize(score.bars, key.tonic, key.mode, load_prior()))
    assert total > 10 and tones / total >= 0.75  # 16 notes here; 0.96 over the person clip (bench/harmony.py)
    comp = harmony_notes(score.bars, score.conducted.keys)
    assert comp and all(48 <= n.pitch <= 67 for n in comp)
