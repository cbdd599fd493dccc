"""The pipeline as a library: its stages streamed and composed, the models as types, one call for a render."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import mido
import numpy as np
import pytest

from music_vae.data_prior import GaussianPrior
from music_vae.midi_io import notes_to_midi
from music_vae.representation import Note
from score_av.clips import write_clip
from score_av.mapping import ClipMapping, Mapping, RunningMapping
from score_av.models import MUSIC_MODEL, MusicModel, VideoModel
from score_av.mux import ArrayAudio, ReadAhead
from score_av.render import Progress, RenderOptions, render_clip
from score_av.score import score_clip
from score_av.synth import SynthStream, render
from test_cli import run
from test_synth import soundfont  # noqa: F401  (a fixture)
from video_vae.scenes import clip_with_cuts
from video_vae.trained_model import VideoVAE

RATE = 44100


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    frames, _ = clip_with_cuts(3, [5.0, 5.0], fps=20.0, height=96, width=128)
    return write_clip(tmp_path_factory.mktemp("pipeline") / "two-shots.mp4", frames, 20.0)


def _melody() -> mido.MidiFile:
    notes = [Note(pitch=60 + (i * 5) % 12, start=i * 3, end=i * 3 + 2) for i in range(20)]
    return notes_to_midi(notes, bpm=132, program=0)


@pytest.mark.parametrize("chunk", [1, 1000, 4096, 44100])
def test_the_synth_read_in_chunks_gives_the_same_samples_as_at_once(soundfont, chunk):
    whole = render(_melody(), soundfont, duration=3.3)
    parts = []
    with SynthStream(_melody(), soundfont, duration=3.3) as stream:
        while len(part := stream.read(chunk if chunk > 1 else int(np.random.default_rng(len(parts)).integers(1, 9000)))):
            parts.append(part)
    streamed = np.concatenate(parts)
    assert streamed.shape == whole.shape == (round(3.3 * RATE), 2)
    assert np.abs(whole).max() > 0.01 and np.array_equal(streamed, whole)


def test_read_ahead_hands_on_every_sample_in_order_and_stops_at_the_end():
    audio = np.random.default_rng(0).standard_normal((100_003, 2)).astype(np.float32)
    ahead = ReadAhead(ArrayAudio(audio), chunk=7_000, depth=2)
    got = []
    for n in [1, 1024, 50_000, 1024, 10**6]:
        got.append(ahead.read(n))
    assert len(ahead.read(10)) == 0
    ahead.close()
    assert np.array_equal(np.concatenate(got), audio)


def test_a_failing_source_reaches_the_reader():
    class Broken:
        total = 10_000

        def read(self, n):
            raise RuntimeError("the synth broke")

    ahead = ReadAhead(Broken(), chunk=1000)
    with pytest.raises(RuntimeError, match="the synth broke"):
        ahead.read(100)
    ahead.close()


def test_the_running_fit_follows_the_frames_and_agrees_with_the_clip_fit_on_a_steady_picture():
    rng = np.random.default_rng(0)
    train_std = np.full(8, 1.0, np.float32)
    steady = (rng.standard_normal((4000, 8)) * 2.0 + 3.0).astype(np.float32)
    clip = Mapping.fit(steady, train_std, seed=2)
    running = RunningMapping(train_std, seed=2, window=500)
    for chunk in np.array_split(steady, 40):
        running.observe(chunk)
    assert isinstance(clip, ClipMapping)
    probe = steady[:50]
    assert np.abs(running(probe) - clip(probe)).max() < 0.25 * np.abs(clip(probe)).max()

    moved = (rng.standard_normal((3000, 8)) * 2.0 - 5.0).astype(np.float32)  # the room changes
    running.observe(moved)
    assert np.abs(running(moved).mean(axis=0)).max() < 0.3  # standardised again around the new look
    assert np.abs(clip(moved).mean(axis=0)).max() > 3.0     # the clip's fit still knows only the old one


def test_the_mapping_places_codes_in_the_music_prior():
    rng = np.random.default_rng(1)
    codes = rng.standard_normal((500, 4)).astype(np.float32)
    mean, std = np.array([4, 0, 0, 0], np.float32), np.full(4, 0.5, np.float32)
    music = Mapping.fit(codes, np.ones(4, np.float32), prior=GaussianPrior(mean, std))(codes)
    assert np.allclose(music.mean(axis=0), mean, atol=1e-4) and np.allclose(music.std(axis=0), std, atol=1e-3)


def test_the_shipped_models_are_what_the_pipeline_expects(models):
    assert isinstance(models.video, VideoModel) and isinstance(models.music, MusicModel)
    assert models.music.card["model"] == MUSIC_MODEL  # the tests' models are those a render uses by default


def test_the_frame_size_comes_from_the_video_model(models, clip):
    class Seen:
        """The shipped video model, recording the frame sizes it is given."""

        def __init__(self, video: VideoVAE, size: int):
            self.video, self.image_size, self.sizes = video, size, set()
            self.latent_dim, self.latent_std = video.latent_dim, video.latent_std

        def encode(self, frames):
            self.sizes.add(frames.shape[1:3])
            return self.video.encode(frames)

        def fit(self, frames, seconds, progress=True):
            return {}

    seen = Seen(models.video, 48)
    score_clip(clip, models.music, seen)
    assert seen.sizes == {(48, 48)}


def test_one_library_call_does_what_the_command_does(capsys, models, clip, tmp_path):
    code, _, _ = run(capsys, "render", clip, "-o", tmp_path / "cli.mp4", "--midi", tmp_path / "cli.mid",
                     "--seed", 4, "--bpm", 90, "--device", "cpu", "--quiet")  # the default model, as the fixture's
    assert code == 0
    options = RenderOptions(seed=4, bpm=90, midi=tmp_path / "lib.mid", wav=tmp_path / "lib.wav")
    result = render_clip(clip, tmp_path / "lib.mp4", options, models=models)
    assert result.written == [tmp_path / "lib.mp4", tmp_path / "lib.mid", tmp_path / "lib.wav"]
    assert (tmp_path / "lib.mid").read_bytes() == (tmp_path / "cli.mid").read_bytes()
    assert (tmp_path / "lib.mp4").read_bytes() == (tmp_path / "cli.mp4").read_bytes()
    assert result.score.timeline.n_bars == 4  # 10 s at 2.67 s a bar


def test_a_render_stopped_while_writing_leaves_nothing_behind(models, clip, tmp_path):
    """Stopped halfway through muxing (an interrupt, a full disk): no clip, no WAV, no temporary file."""
    class StopHalfway(Progress):
        @contextmanager
        def stage(self, name, total):
            def advance(done):
                if name == "writing clip" and done > total / 2:
                    raise KeyboardInterrupt
            yield advance

    with pytest.raises(KeyboardInterrupt):
        render_clip(clip, tmp_path / "x.mp4", RenderOptions(wav=tmp_path / "x.wav", midi=tmp_path / "x.mid"),
                    models=models, progress=StopHalfway())
    assert list(tmp_path.iterdir()) == []
