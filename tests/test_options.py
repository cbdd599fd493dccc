"""Every render option reaches the result and does what its --help says, on a generated clip."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from music_vae.metrics import step_changes
from score_av.cli import build_parser
from score_av.cli.render import options_from
from score_av.clips import write_clip
from score_av.errors import ScoreAVError
from score_av.render import RenderOptions, render_clip
from test_cli import run
from video_vae.scenes import clip_with_cuts

FPS = 15.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Three moving shots (32 s, 16 bars at 120 bpm), with a soundtrack of its own."""
    frames, _ = clip_with_cuts(21, [10.0, 10.0, 12.0], fps=FPS, height=96, width=128)
    seconds = len(frames) / FPS
    t = np.arange(int(seconds * 44100)) / 44100
    tone = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    return write_clip(tmp_path_factory.mktemp("options") / "shots.mp4", frames, FPS, audio=np.stack([tone, tone], 1))


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory) -> Path:
    frames, _ = clip_with_cuts(5, [6.0], fps=FPS, height=96, width=128)
    return write_clip(tmp_path_factory.mktemp("silent") / "silent.mp4", frames, FPS)


@pytest.fixture(scope="module")
def plain(models, clip, tmp_path_factory):
    return render_clip(clip, tmp_path_factory.mktemp("plain") / "plain.mp4", RenderOptions(), models=models)


def render(models, clip, tmp_path, **options):
    return render_clip(clip, tmp_path / "out.mp4", RenderOptions(**options), models=models)


def changes(result) -> float:
    """How much of the music changes from bar to bar, on average: what a listener hears as restless."""
    return float(np.mean(step_changes(result.score.bars)))


def test_every_command_line_option_reaches_the_library():
    args = build_parser().parse_args([
        "render", "c.mp4", "--model", "flat", "--video-model", "v.pt", "--device", "cpu", "--style", "irish",
        "--bpm", "90", "--seed", "3", "--program", "40", "--soundfont", "f.sf2", "--smooth", "0.5", "--steady", "2",
        "--analysis-fps", "4", "--fit", "--fit-seconds", "7", "--keep-audio", "--midi", "m.mid", "--wav", "w.wav",
        "--report", "r.png", "--density", "0.5", "--key", "E dorian", "--modulate", "--no-phrases", "--no-variation", "--themes", "2",
        "--no-dynamics"])
    assert options_from(args) == RenderOptions(
        model="flat", video_model="v.pt", device="cpu", style="irish", bpm=90.0, seed=3, program=40,
        soundfont=Path("f.sf2"), smooth=0.5, steady=2.0, analysis_fps=4.0, fit_seconds=7.0, keep_audio=True,
        midi=Path("m.mid"), wav=Path("w.wav"), report=Path("r.png"), density=0.5, key="E dorian", modulate=True,
        phrases=False, variation=False, themes=2.0, dynamics=False)
    assert options_from(build_parser().parse_args(["render", "c.mp4"])) == RenderOptions()


def test_smoothing_makes_the_music_change_less_from_bar_to_bar(models, clip, tmp_path, plain):
    smoothed = [render(models, clip, tmp_path, smooth=a) for a in (0.5, 0.7)]
    assert changes(plain) >= changes(smoothed[0]) >= changes(smoothed[1])
    assert changes(smoothed[1]) < 0.85 * changes(plain)
    raw = {c.tobytes() for c in render(models, clip, tmp_path, steady=0.0).score.music_codes}  # every bar's own
    assert all(c.tobytes() in raw for r in smoothed for c in r.score.music_codes)  # never a code between two looks


def test_steady_holds_the_music_and_zero_lets_every_change_through(models, clip, tmp_path, plain):
    every = render(models, clip, tmp_path, steady=0.0)
    held = render(models, clip, tmp_path, steady=100.0)
    assert changes(every) > changes(plain)
    assert len({b.tobytes() for b in held.score.bars}) == 1


def test_analysis_fps_is_the_rate_the_video_model_sees(models, clip, tmp_path, plain):
    def rate(result) -> float:
        times = result.score.frame_times
        return (len(times) - 1) / (times[-1] - times[0])

    assert rate(plain) == pytest.approx(8.0, rel=0.1)
    assert rate(render(models, clip, tmp_path, analysis_fps=3.0)) == pytest.approx(3.0, rel=0.1)
    assert rate(render(models, clip, tmp_path, analysis_fps=0.0)) == pytest.approx(FPS, rel=0.01)


def test_a_seed_and_the_bpm_give_other_music(models, clip, tmp_path, plain):
    assert not np.array_equal(render(models, clip, tmp_path, seed=1).score.bars, plain.score.bars)
    slow = render(models, clip, tmp_path, bpm=60.0)
    assert len(slow.score.bars) == 8 and len(plain.score.bars) == 16


def test_program_names_the_instrument_in_the_midi(models, clip, tmp_path):
    result = render(models, clip, tmp_path, program=40, midi=tmp_path / "m.mid")
    import mido

    programs = [m.program for track in mido.MidiFile(tmp_path / "m.mid").tracks for m in track
                if m.type == "program_change"]
    assert programs == [40] and result.written[1] == tmp_path / "m.mid"


def test_the_music_model_and_its_style_are_used(models, clip, tmp_path, plain):
    flat = render(None, clip, tmp_path, model="flat", device="cpu")
    assert not np.array_equal(flat.score.bars, plain.score.bars)
    styled = {s: render(None, clip, tmp_path, model="musae", style=s, device="cpu").score for s in ("bach", "irish")}
    assert not np.array_equal(styled["bach"].bars, styled["irish"].bars)
    assert not np.allclose(styled["bach"].music_codes.mean(0), styled["irish"].music_codes.mean(0), atol=1.0)


def test_the_video_model_is_used(clip, tmp_path, plain):
    """Another video checkpoint, named by path, gives other codes: the shipped one with its code layer's bias moved."""
    import torch

    from video_vae.checkpoint import load_model, save_checkpoint

    model, config, ckpt = load_model("media/models/video.pt")
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if n.endswith("bias")).add_(0.5)
    save_checkpoint(tmp_path / "other.pt", model, config, ckpt["step"])
    changed = render(None, clip, tmp_path, video_model=str(tmp_path / "other.pt"), device="cpu")
    assert not np.allclose(changed.score.frame_codes, plain.score.frame_codes)


def test_keep_audio_keeps_the_clips_sound_and_says_when_there_is_none(capsys, models, clip, silent_clip, tmp_path):
    kept = render(models, clip, tmp_path, keep_audio=True)
    with av.open(str(kept.clip)) as c:
        assert len(c.streams.audio) == 2
    code, stdout, _ = run(capsys, "render", silent_clip, "-o", tmp_path / "s.mp4", "--keep-audio", "--quiet",
                          "--device", "cpu")
    assert code == 0 and "no sound of its own" in stdout and len(stdout.strip().splitlines()) == 2
    with av.open(str(tmp_path / "s.mp4")) as c:
        assert len(c.streams.audio) == 1


def test_options_out_of_range_are_one_clear_error(models, clip, tmp_path):
    for bad, word in [({"bpm": 0}, "--bpm"), ({"smooth": 1.0}, "--smooth"), ({"steady": -1}, "--steady"),
                      ({"analysis_fps": -2}, "--analysis-fps"), ({"program": 128}, "--program")]:
        with pytest.raises(ScoreAVError, match=word):
            render(models, clip, tmp_path, **bad)
    assert list(tmp_path.iterdir()) == []
