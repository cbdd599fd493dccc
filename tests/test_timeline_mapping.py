"""Bars in time, and the step from picture codes to music codes."""
from __future__ import annotations

import numpy as np
import pytest

from music_vae.midi_io import bar_seconds, notes_to_midi
from music_vae.representation import Note
from score_av.mapping import Mapping, hold_steady, rotation
from score_av.synth import midi_events
from score_av.timeline import Timeline


def test_a_bar_lasts_as_long_as_in_the_midi_file():
    for bpm in (120, 90, 133.7):
        midi = notes_to_midi([Note(60, 0, 16), Note(62, 16, 32)], bpm=bpm)
        onsets = [t for t, m in midi_events(midi) if m.type == "note_on"]
        assert onsets[1] == pytest.approx(bar_seconds(bpm), abs=1e-9)
    assert bar_seconds(120) == 2.0


def test_bars_cover_the_picture_and_take_the_frames_inside_them():
    tl = Timeline(bpm=120, start=0.5, duration=5.0)  # bars of 2 s: [0.5, 2.5), [2.5, 4.5), [4.5, 5.5)
    assert tl.n_bars == 3
    times = np.array([0.5, 1.0, 2.4, 2.6, 4.4, 5.0])
    codes = np.arange(6, dtype=np.float32)[:, None].repeat(2, 1)
    assert tl.bar_codes(times, codes)[:, 0].tolist() == [1.0, 3.5, 5.0]


def test_a_bar_without_a_frame_of_its_own_takes_the_frame_on_screen():
    tl = Timeline(bpm=240, start=0.0, duration=4.0)  # bars of 1 s; one long frame from 0.5 to 3.2 s
    times = np.array([0.0, 0.5, 3.2])
    codes = np.array([[0.0], [1.0], [2.0]], dtype=np.float32)
    assert tl.bar_codes(times, codes)[:, 0].tolist() == [0.5, 1.0, 1.0, 2.0]


def test_rotation_is_orthogonal_identity_by_default_and_differs_by_seed():
    assert np.array_equal(rotation(32, None), np.eye(32))
    r = rotation(32, 3)
    assert np.allclose(r @ r.T, np.eye(32), atol=1e-5)
    assert np.array_equal(r, rotation(32, 3)) and not np.allclose(r, rotation(32, 4))


def test_standardised_codes_use_the_space_and_a_still_picture_stays_still():
    rng = np.random.default_rng(0)
    train_std = np.r_[np.ones(30), 0.01, 0.01].astype(np.float32)  # the last two dimensions are unused
    moving = rng.normal(5.0, 0.8, (200, 32)).astype(np.float32)
    mapping = Mapping.fit(moving, train_std)
    z = mapping.positions(moving)
    assert np.allclose(z[:, :30].std(0), 1.0, atol=0.01) and np.allclose(z[:, :30].mean(0), 0.0, atol=1e-4)
    assert np.all(z[:, 30:] == 0)  # unused dimensions carry no noise into the music
    assert np.array_equal(mapping(moving), z)  # a model without a data prior: N(0, I), the positions as they are
    still = 5.0 + rng.normal(0, 1e-3, (200, 32)).astype(np.float32)  # compression noise only
    assert np.abs(Mapping.fit(still, train_std)(still)).max() < 0.05
    rotated = Mapping.fit(moving, train_std, seed=1).positions(moving)
    assert np.allclose(np.linalg.norm(rotated, axis=1), np.linalg.norm(z, axis=1), atol=1e-4)


def test_smoothing_asks_a_change_to_last_before_the_music_follows():
    codes = np.zeros((8, 4), dtype=np.float32)
    codes[:, 0] = [0.0, 1.5, 0.1, 0.0, 3.0, 3.1, 2.9, 3.0]  # a one-bar flicker, then a cut to another shot
    assert hold_steady(codes, 1.0)[:, 0].tolist() == pytest.approx([0.0, 1.5, 0.1, 0.1, 3.0, 3.0, 3.0, 3.0])
    smoothed = hold_steady(codes, 1.0, smoothing=0.5)[:, 0]
    assert smoothed.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0])  # the flicker is not heard
    assert set(smoothed.tolist()) <= set(codes[:, 0].tolist())  # never a code between two shots
    assert np.array_equal(hold_steady(codes, 1.0, smoothing=0.0), hold_steady(codes, 1.0))
    with pytest.raises(ValueError):
        hold_steady(codes, 1.0, smoothing=1.0)


def test_small_moves_keep_the_music_but_drift_adds_up():
    codes = np.zeros((6, 4), dtype=np.float32)
    codes[:, 0] = [0.0, 0.3, -0.2, 0.6, 1.1, 1.2]  # flicker, then a slow drift away
    held = hold_steady(codes, 1.0)[:, 0]
    assert held.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 1.1, 1.1])
    assert np.array_equal(hold_steady(codes, 0.0), codes)
