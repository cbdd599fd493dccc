"""The conductor: a key, phrases, themes that return and loudness that follows movement."""
from __future__ import annotations

import colorsys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from music_vae.musicality import figures, onsets, recall
from music_vae.representation import FIRST_PITCH_TOKEN, MIN_PITCH
from score_av.clips import write_clip
from score_av.conductor import CUT, REGISTER, VELOCITY, CodeMemo, Conducting, cadence, conduct, keep_steps, place_octave
from score_av.errors import ScoreAVError
from score_av.key import Key, key_from_colour
from score_av.models import MUSIC_MODEL
from score_av.render import RenderOptions, render_clip
from score_av.sources import clip_frames
from video_vae.scenes import clip_with_cuts, scene

FPS = 20.0


def token(pitch: int) -> int:
    return pitch - MIN_PITCH + FIRST_PITCH_TOKEN


def test_keys_are_read_as_a_musician_writes_them():
    assert Key.parse("D") == Key(2, "major")
    assert Key.parse("E dorian") == Key(4, "dorian")
    assert Key.parse("F# minor") == Key.parse("f#m") == Key(6, "minor")
    assert Key.parse("Bb mixolydian") == Key(10, "mixolydian")
    assert str(Key.parse("Eb")) == "Eb major"
    for bad in ("H", "D phrygian", ""):
        with pytest.raises(ScoreAVError, match="--key"):
            Key.parse(bad)


def test_the_picture_picks_the_key_by_the_documented_rule():
    assert key_from_colour([255, 0, 0]) == Key(0, "major")            # bright red: C major
    assert key_from_colour([40, 0, 0]) == Key(0, "minor")             # dark red: C minor
    assert key_from_colour([255, 255, 0]) == Key(7 * 2 % 12, "major")  # yellow, two steps round: D major
    assert key_from_colour([10, 60, 200]) == Key(1, "major")  # hue 0.62 of the wheel (7.47 steps: 7, C#), bright
    # once round the colour wheel at full brightness: each twelfth of it a fifth up, so every tonic once
    wheel = [key_from_colour(np.array(colorsys.hsv_to_rgb(i / 12, 1.0, 1.0)) * 255) for i in range(12)]
    assert [k.tonic for k in wheel] == [7 * i % 12 for i in range(12)]
    assert {k.mode for k in wheel} == {"major"}
    # one hue (cyan, six fifths round: F#), darker and darker: major, Mixolydian, Dorian, minor
    darker = [key_from_colour(np.array(colorsys.hsv_to_rgb(0.5, 1.0, v)) * 255) for v in (0.9, 0.6, 0.3, 0.1)]
    assert darker == [Key(6, mode) for mode in ("major", "mixolydian", "dorian", "minor")]


def test_bars_are_in_the_key_and_the_register(each_model):
    """Every shipped model."""
    music = each_model.music
    codes = np.random.default_rng(0).standard_normal((48, 32)).astype(np.float32)
    free = conduct(music, codes, codes, np.zeros(48), Conducting(key=None, register=None, phrases=False,
                                                                  leap_penalty=0.0))
    d = conduct(music, codes, codes, np.zeros(48), Conducting(key=Key.parse("D")))
    _, pitch = onsets(d.bars)
    assert Key.parse("D").contains(pitch).mean() >= 0.95
    assert REGISTER[0] <= pitch.min() and pitch.max() <= REGISTER[1]
    assert figures(d.bars)["key_fit"] > figures(free.bars)["key_fit"]
    assert figures(d.bars)["leaps"] < figures(free.bars)["leaps"]


def test_a_look_that_returns_brings_its_bar_back_and_a_held_code_keeps_its_bar(models):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 32)).astype(np.float32) * 2
    codes = np.stack([a, a, b, a + 0.05, b + 0.05])
    done = conduct(models.music, codes, codes, np.zeros(5), Conducting(key=Key.parse("G")))
    assert done.held.tolist() == [False, True, False, False, False]
    assert done.theme_of.tolist() == [-1, -1, -1, 0, 2]
    assert np.array_equal(done.bars[4], done.bars[2])
    assert np.sum(done.bars[3] != done.bars[0]) <= 1  # bar 3 closes a phrase: its last note is the tonic
    off = conduct(models.music, codes, codes, np.zeros(5), Conducting(key=Key.parse("G"), theme_radius=0))
    assert (off.theme_of == -1).all()


def test_a_near_look_varies_the_bar_before_and_a_cut_starts_afresh(models):
    assert [keep_steps(d) for d in (0.0, 0.7, 1.2, 2.0, 2.9, CUT, 10.0)] == [12, 12, 8, 4, 0, 0, 0]
    rng = np.random.default_rng(2)
    a = rng.standard_normal(32).astype(np.float32)
    step = rng.standard_normal(32).astype(np.float32)
    step /= np.linalg.norm(step)
    codes = np.stack([a, a + 1.2 * step, a + 2.0 * step, a + 2.0 * step + 6 * np.roll(step, 1)])
    how = Conducting(key=Key.parse("G"), theme_radius=0)
    varied = conduct(models.music, codes, codes, np.zeros(4), how)
    whole = conduct(models.music, codes, codes, np.zeros(4), replace(how, variation=False))
    bars = varied.bars
    assert np.array_equal(bars[1][:8], bars[0][:8]) and np.array_equal(bars[2][:4], bars[1][:4])
    assert not np.array_equal(bars[1], bars[0]) and not np.array_equal(bars[2], bars[1])  # the rest is new
    assert np.mean(bars[3] != bars[2]) > np.mean(bars[1] != bars[0])  # the cut is heard more than the walk
    assert np.array_equal(bars[0], whole.bars[0]) and not np.array_equal(bars[1], whole.bars[1])
    _, pitch = onsets(bars)
    assert Key.parse("G").contains(pitch).mean() >= 0.95


def test_a_full_memo_still_gives_every_bar_asked_for_its_own_code(models):
    """A live run of an hour met this: the memo filled, was emptied for the new bars, and lost the
    ones asked for beside them that it had held."""
    music = models.music
    a, b, c = (np.full(16, token(60 + i), np.int64) for i in range(3))
    memo = CodeMemo(music, size=2)
    memo(np.stack([a, b]))
    codes = memo(np.stack([a, c]))
    assert np.allclose(codes, music.encode(np.stack([a, c])), atol=1e-4)


def test_phrases_end_on_the_tonic_and_bars_start_near_the_last_note():
    bar = np.zeros(16, np.int64)
    bar[[0, 4, 8, 12]] = [token(p) for p in (64, 66, 69, 71)]
    ended = cadence(bar, Key.parse("D"), REGISTER)
    assert ended[12] == token(74) and np.array_equal(ended[:12], bar[:12])  # B4 -> the nearest D, D5
    assert place_octave(bar, 76, REGISTER)[0] == token(76)  # E4 after E5: up an octave
    assert place_octave(bar, 62, REGISTER)[0] == token(64)  # already near: left alone


def test_motion_sets_the_loudness(models):
    codes = np.random.default_rng(2).standard_normal((3, 32)).astype(np.float32)
    loud = conduct(models.music, codes, codes, np.array([0.0, 0.5, 1.0]))
    assert loud.velocities.tolist() == [VELOCITY[0], (VELOCITY[0] + VELOCITY[1]) // 2, VELOCITY[1]]
    flat = conduct(models.music, codes, codes, np.array([0.0, 0.5, 1.0]), Conducting(velocity=None))
    assert flat.velocities.tolist() == [90, 90, 90]


@pytest.fixture(scope="module")
def aba_clip(tmp_path_factory) -> Path:
    """Shot A, shot B, then A again decoded and encoded anew (close to A, not bit-identical): 8 s each."""
    folder = tmp_path_factory.mktemp("aba")
    a, _ = clip_with_cuts(31, [8.0], fps=FPS, height=96, width=128)
    b, _ = clip_with_cuts(32, [8.0], fps=FPS, height=96, width=128)
    again = clip_frames(write_clip(folder / "a.mp4", a, FPS, options={"crf": "18"}))[1]
    return write_clip(folder / "aba.mp4", np.concatenate([a, b, again]), FPS, options={"crf": "28"})


def test_footage_that_returns_gets_its_notes_back(each_model, aba_clip, tmp_path):
    """Every shipped model."""
    score = render_clip(aba_clip, tmp_path / "x.mp4", RenderOptions(), models=each_model).score
    bars = score.bars
    assert len(bars) == 12
    assert recall(bars[0:4], bars[8:12]) >= 0.8
    assert set(score.conducted.theme_of[8:12]) - {-1} <= {0, 1, 2, 3}  # what comes back is shot A's


def test_without_themes_footage_that_returns_is_scored_afresh(models, aba_clip, tmp_path):
    on = render_clip(aba_clip, tmp_path / "x.mp4", RenderOptions(), models=models).score
    off = render_clip(aba_clip, tmp_path / "y.mp4", RenderOptions(themes=0), models=models).score
    returning = on.conducted.theme_of[8:12]
    assert (returning >= 0).any() and set(returning[returning >= 0]) <= set(range(4))  # from the first shot
    assert (off.conducted.theme_of == -1).all()  # decoded again: the same notes only where the decoder gives them


def test_a_still_room_is_quieter_than_people_walking_through_it(models, tmp_path):
    rng = lambda: np.random.default_rng([41, 0])  # noqa: E731  one scene, still then moving
    still = scene(rng(), int(8 * FPS), 96, 128, "walker", "muted", still=True, noise=2.0)
    moving = scene(rng(), int(8 * FPS), 96, 128, "walker", "muted", noise=2.0)
    clip = write_clip(tmp_path / "room.mp4", np.concatenate([still, moving]), FPS)
    score = render_clip(clip, tmp_path / "x.mp4", RenderOptions(), models=models).score
    velocity = score.conducted.velocities
    assert velocity[4:].mean() >= velocity[:4].mean() + 10
    assert {n.velocity for n in score.notes} <= set(velocity.tolist())


def test_the_key_option_reaches_the_notes(models, aba_clip, tmp_path):
    score = render_clip(aba_clip, tmp_path / "x.mp4", RenderOptions(key="E dorian"), models=models).score
    pitches = np.array([n.pitch for n in score.notes])
    assert Key.parse("E dorian").contains(pitches).mean() >= 0.95
    assert set(score.conducted.keys) == {Key.parse("E dorian")}
    assert set(render_clip(aba_clip, tmp_path / "y.mp4", RenderOptions(key=None), models=models).score.conducted.keys) \
        == {None}


def test_the_density_vector_asks_for_more_notes(models, midi_folder, tmp_path, capsys):
    """Measured with the command on real bars, the density vector moves codes towards denser bars."""
    from test_cli import run

    out = tmp_path / f"{MUSIC_MODEL}.attributes.json"
    code, stdout, _ = run(capsys, "music", "attributes", "--model", MUSIC_MODEL, "--device", "cpu", "--data",
                          midi_folder, "-o", out)
    assert code == 0 and str(out) in stdout
    from music_vae.attributes import note_density, read_attributes

    vector = read_attributes(tmp_path / f"{MUSIC_MODEL}.pt")["density"]
    codes = np.random.default_rng(3).standard_normal((64, 32)).astype(np.float32)
    sparse, dense = (models.music.decode(codes + s * vector) for s in (-1.0, 1.0))
    assert note_density(dense).mean() > note_density(sparse).mean()
    busy = type("Busy", (), {"attributes": {"density": 2 * vector}, "decode": models.music.decode,
                             "encode": models.music.encode})()
    still, moving = (conduct(busy, codes, codes, np.full(64, m), Conducting(key=None, phrases=False, density=1.0))
                     for m in (0, 1))
    assert note_density(moving.bars).mean() > note_density(still.bars).mean()
