"""Every render option reaches the result and does what its --help says, on a generated clip, with
the default music model."""
from __future__ import annotations

import wave
from pathlib import Path

import av
import mido
import numpy as np
import pytest

from music_vae.metrics import step_changes
from music_vae.representation import FIRST_PITCH_TOKEN
from score_av.cli import build_parser
from score_av.cli.render import options_from
from score_av.clips import write_clip
from score_av.conductor import PHRASE, REGISTER, pitch_of
from score_av.errors import ScoreAVError
from score_av.render import SAMPLE_RATE, RenderOptions, render_clip
from test_cli import run
from video_vae.scenes import clip_with_cuts

FPS = 15.0
SHOTS = [10.0, 10.0, 12.0]  # seconds: cuts at 10 s and 20 s, the starts of bars 5 and 10 at 120 bpm
CUTS = np.cumsum(SHOTS)[:-1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Three moving shots (32 s, 16 bars at 120 bpm), with a soundtrack of its own."""
    frames, cuts = clip_with_cuts(21, SHOTS, fps=FPS, height=96, width=128)
    assert np.allclose(cuts, CUTS)
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
    """The clip rendered with no options but the extra outputs (which change nothing of the music), the
    melody alone: what each option does to the melody is heard best without the band over it."""
    folder = tmp_path_factory.mktemp("plain")
    options = RenderOptions(preset="none", midi=folder / "plain.mid", wav=folder / "plain.wav")
    return render_clip(clip, folder / "plain.mp4", options, models=models)


def render(models, clip, tmp_path, **options):
    """The clip rendered with these options, the melody alone unless a preset is given."""
    return render_clip(clip, tmp_path / "out.mp4", RenderOptions(**{"preset": "none", **options}), models=models)


def changes(result) -> float:
    """How much of the music changes from bar to bar, on average: what a listener hears as restless."""
    return float(np.mean(step_changes(result.score.bars)))


def pitches(bar: np.ndarray) -> np.ndarray:
    """The MIDI pitches of a bar's note onsets, in order."""
    return pitch_of(bar[bar >= FIRST_PITCH_TOKEN])


def velocities(midi: mido.MidiFile) -> list[int]:
    return [m.velocity for track in midi.tracks for m in track if m.type == "note_on" and m.velocity > 0]


def decoded_audio(path: Path) -> np.ndarray:
    """(n, 2) float samples of the clip's first audio track, decoded by PyAV, from the clip's first sample."""
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
    assert frames[0].time == 0 and {f.sample_rate for f in frames} == {SAMPLE_RATE}
    return np.concatenate([f.to_ndarray().T for f in frames])


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, SAMPLE_RATE)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2) / 32767.0


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


def test_smoothing_makes_the_music_follow_fewer_changes_of_the_picture(models, clip, tmp_path, plain):
    """A change must last before the music follows it: the more smoothing, the fewer bar lines the
    music moves at. (Not the share of notes that change from bar to bar: with the default model, 0.5
    here moves at 8 bar lines of 15 where plain moves at 9, and its notes change a little more, 0.26
    of the steps against 0.25: the move it makes later is to a bar farther from the one it leaves.)"""
    def moves(result) -> int:
        return int(np.any(np.diff(result.score.music_codes, axis=0) != 0, axis=1).sum())

    smoothed = [render(models, clip, tmp_path, smooth=a) for a in (0.5, 0.7)]
    assert moves(plain) >= moves(smoothed[0]) >= moves(smoothed[1])
    assert moves(smoothed[1]) <= moves(plain) - 2, (moves(plain), moves(smoothed[1]))
    raw = {c.tobytes() for c in render(models, clip, tmp_path, steady=0.0).score.music_codes}  # every bar's own
    assert all(c.tobytes() in raw for r in smoothed for c in r.score.music_codes)  # never a code between two looks


def test_steady_holds_the_music_and_zero_lets_every_change_through(models, clip, tmp_path):
    """Without development, a held look is its bar again; with it (the default), a phrase around that bar."""
    every, plain, held = (render(models, clip, tmp_path, steady=s, development=False) for s in (0.0, 1.0, 100.0))
    assert changes(every) > changes(plain)
    assert held.score.conducted.held[1:].all()
    first = held.score.bars[0]
    last_note = np.flatnonzero(first >= FIRST_PITCH_TOKEN)[-1:]
    for bar in held.score.bars:  # one bar throughout, but for its last note, which phrase ends move to the tonic
        assert set(np.flatnonzero(bar != first)) <= set(last_note)

    grown = render(models, clip, tmp_path, steady=100.0).score
    assert grown.conducted.held[1:].all() and np.array_equal(grown.bars[4], grown.bars[0])  # the anchor at bar 5
    assert not any(np.array_equal(a, b) for a, b in zip(grown.bars[1:], grown.bars[:-1]))


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


def test_program_names_the_melody_instrument_in_the_midi(models, clip, tmp_path):
    import mido

    result = render(models, clip, tmp_path, program=71, preset="folk", midi=tmp_path / "m.mid")
    programs = {t.name: [m.program for m in t if m.type == "program_change"]
                for t in mido.MidiFile(tmp_path / "m.mid").tracks}
    assert programs["melody"] == [71] and result.written[1] == tmp_path / "m.mid"
    assert programs["bass"] == [32] and programs["harmony"] == [24]  # the default band (folk) plays under it
    render(models, clip, tmp_path, program=40, preset="none", midi=tmp_path / "alone.mid")
    alone = mido.MidiFile(tmp_path / "alone.mid")
    assert len(alone.tracks) == 1 and [m.program for m in alone.tracks[0] if m.type == "program_change"] == [40]


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
                      ({"analysis_fps": -2}, "--analysis-fps"), ({"program": 128}, "--program"),
                      ({"seed": -1}, "--seed"), ({"bpm": float("inf")}, "--bpm")]:
        with pytest.raises(ScoreAVError, match=word):
            render(models, clip, tmp_path, **bad)
    assert list(tmp_path.iterdir()) == []


def test_modulate_moves_the_key_at_a_cut_to_a_related_one(models, clip, tmp_path, plain):
    """Without --modulate the piece keeps one key. With it the key moves at each cut in the picture,
    and only there, each time to a key related to the one before (dominant, subdominant, relative),
    and the notes go with it."""
    assert len(set(plain.score.conducted.keys)) == 1
    score = render(models, clip, tmp_path, modulate=True).score
    keys, tl = score.conducted.keys, score.timeline
    assert keys[0] == plain.score.conducted.keys[0]
    moves = [k for k in range(1, len(keys)) if keys[k] != keys[k - 1]]
    assert moves, f"the key never moved from {keys[0]}"
    starts = tl.start + np.array(moves) * tl.bar
    assert all(np.abs(CUTS - t).min() <= tl.bar for t in starts), (moves, CUTS)  # only at a cut
    assert all(np.abs(starts - cut).min() <= tl.bar for cut in CUTS), (moves, CUTS)  # at every cut
    assert len(moves) == len(CUTS), (moves, CUTS)  # once each: a cut inside a bar is not two
    assert all(keys[k] in keys[k - 1].related() for k in moves), [str(k) for k in keys]
    played = [(pitches(bar), key) for bar, key in zip(score.bars, keys)]
    assert np.mean(np.concatenate([key.contains(p) for p, key in played])) >= 0.95  # each bar in its own key
    away = np.concatenate([p for p, key in played if key != keys[0]])
    assert not keys[0].contains(away).all()  # the new keys are heard: notes the first key has not


def test_no_phrases_neither_ends_phrases_on_the_tonic_nor_places_bars_by_octaves(models, clip, tmp_path):
    """By default every fourth bar ends on the tonic, and a bar decoded afresh is moved by octaves to
    begin nearest the note before it (within the register); --no-phrases does neither. Both with
    --no-variation, so that every new bar is decoded afresh."""
    def ends_on_tonic(score) -> list[bool]:
        key, start = score.conducted.keys[0], score.conducted.phrase_start
        return [pitches(score.bars[k])[-1] % 12 == key.tonic for k in range(len(score.bars))
                if (k - start[k]) % PHRASE == PHRASE - 1]

    def nearer_an_octave_away(score) -> int:
        """New bars whose first note an octave up or down would have brought nearer the note before."""
        count = 0
        for k in np.flatnonzero(~score.conducted.held & (score.conducted.theme_of < 0))[1:]:
            before, notes = pitches(score.bars[k - 1]), pitches(score.bars[k])
            count += any(abs(notes[0] + o - before[-1]) < abs(notes[0] - before[-1]) for o in (-12, 12)
                         if REGISTER[0] <= notes.min() + o and notes.max() + o <= REGISTER[1])
        return count

    on, off = (render(models, clip, tmp_path, variation=False, phrases=p).score for p in (True, False))
    assert all(ends_on_tonic(on)) and not all(ends_on_tonic(off)), (ends_on_tonic(on), ends_on_tonic(off))
    assert nearer_an_octave_away(on) == 0 and nearer_an_octave_away(off) > 0


def ranks(values) -> np.ndarray:
    """Ranks, ties given their mean rank (for a rank correlation)."""
    values = np.asarray(values)
    out = np.empty(len(values))
    out[values.argsort(kind="stable")] = np.arange(len(values))
    for v in np.unique(values):
        out[values == v] = out[values == v].mean()
    return out


def test_no_dynamics_plays_every_note_at_one_loudness(models, clip, tmp_path, plain):
    """By default the picture's motion sets each bar's loudness (the notes' MIDI velocity), in what
    FluidSynth plays and in the MIDI file; --no-dynamics gives every note one velocity, the same
    notes. Heard: the same notes, so each bar of the default's track is louder than the same bar
    played at one velocity by as much as its velocity says (ranked alike)."""
    moving = velocities(plain.score.midi)
    assert velocities(mido.MidiFile(plain.written[1])) == moving
    assert max(moving) - min(moving) >= 20
    steady = render(models, clip, tmp_path, dynamics=False, midi=tmp_path / "steady.mid")
    assert np.array_equal(steady.score.bars, plain.score.bars)
    for midi in (steady.score.midi, mido.MidiFile(tmp_path / "steady.mid")):
        played = velocities(midi)
        assert len(played) == len(moving) and len(set(played)) == 1, sorted(set(played))

    bar = int(round(plain.score.timeline.bar * SAMPLE_RATE))
    bar_velocity = plain.score.conducted.velocities
    level = {name: np.array([np.sqrt(np.mean(audio[k * bar:(k + 1) * bar] ** 2)) for k in range(len(bar_velocity))])
             for name, audio in (("moving", decoded_audio(plain.clip)), ("steady", decoded_audio(steady.clip)))}
    louder = level["moving"] / level["steady"]
    assert np.corrcoef(ranks(bar_velocity), ranks(louder))[0, 1] >= 0.9, (bar_velocity, louder.round(2))


def test_wav_holds_the_samples_of_the_clips_music_track(plain):
    """--wav writes the soundtrack muxed into the clip: as long as the picture, and the same samples
    as PyAV decodes from the clip's AAC track, to within the AAC coding (well under 2% of the
    music's level here; a shift by one sample is ~10%)."""
    wav, muxed = read_wav(plain.written[2]), decoded_audio(plain.clip)
    assert plain.written[2].suffix == ".wav"
    assert len(wav) == round(plain.score.timeline.duration * SAMPLE_RATE)
    assert 0 <= len(muxed) - len(wav) < 1024  # the AAC track is padded to a whole frame of 1024 samples
    level = np.sqrt(np.mean(wav ** 2))
    assert level > 0.005  # music, not silence
    assert np.sqrt(np.mean((muxed[:len(wav)] - wav) ** 2)) < 0.02 * level


def test_bridge_cuts_bridge_each_cut_of_a_render_and_the_report_draws_them(models, clip, tmp_path, plain):
    bridged = render(models, clip, tmp_path, bridge_cuts=True, report=tmp_path / "report.png")
    marks = bridged.score.conducted.bridged
    cuts = np.flatnonzero(np.diff(plain.score.conducted.phrase_start) > 0) + 1
    assert marks.any() and set(np.flatnonzero(marks)) <= set(cuts - 1) and not plain.score.conducted.bridged.any()
    assert (tmp_path / "report.png").stat().st_size > 10_000
