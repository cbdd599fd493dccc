"""Gestures heard: the motion of the last beat sets how busy the melody's figure is (score_av/gesture.py),
offline on made bars and live through the engine, with real models and FluidSynth rendered by hand."""
from __future__ import annotations

import numpy as np
import pytest

from installations.live.engine import LiveScore, LiveSettings
from music_vae.representation import FIRST_PITCH_TOKEN, HOLD, MIN_PITCH, NOTE_OFF, tokens_to_notes
from score_av.gesture import HYSTERESIS, LEVELS, NEUTRAL, figure, level_of, onsets
from score_av.key import Key

from conftest import moving_frames
from test_live_engine import RATE, hand_player


def note(pitch: int) -> int:
    return pitch - MIN_PITCH + FIRST_PITCH_TOKEN


# D4 quarter, F#4 quarter, B4 eighth, A4 eighth, D5 quarter ending on the tonic
BAR = np.array([note(62), HOLD, HOLD, HOLD, note(66), HOLD, HOLD, HOLD,
                note(71), HOLD, note(69), HOLD, note(74), HOLD, HOLD, NOTE_OFF])
D = Key.parse("D major")


def test_busier_levels_strike_more_notes_in_key_and_keep_the_last_note():
    counts = [onsets(figure(BAR, level, D)) for level in range(4)]
    assert counts[NEUTRAL] == onsets(BAR) and counts == sorted(counts) and counts[0] < counts[1] < counts[3]
    assert np.array_equal(figure(BAR, NEUTRAL, D), BAR)
    for level in range(4):
        notes = tokens_to_notes(figure(BAR, level, D))
        assert all(D.contains([n.pitch]).all() for n in notes)
        assert (notes[-1].start, notes[-1].pitch) == (12, 74)  # the phrase still closes where it did
        assert max(abs(a.pitch - b.pitch) for a, b in zip(notes[1:], notes[:-1])) <= 5  # steps, not leaps


def test_figuring_from_a_step_keeps_what_has_sounded_and_a_note_struck_there():
    for level in (0, 2, 3):
        rest = figure(BAR, level, D, from_step=8)
        assert np.array_equal(rest[:9], BAR[:9])
    assert figure(BAR, 0, D, from_step=10)[10] == BAR[10]  # an off-beat note at the step (an answer) stays


def test_the_level_follows_motion_with_a_margin_at_each_threshold():
    assert [level_of(m) for m in (0.0, 0.3, 0.6, 1.0)] == [0, 1, 2, 3]
    edge = LEVELS[1]
    assert level_of(edge + HYSTERESIS / 2, current=1) == 1 and level_of(edge + HYSTERESIS * 1.5, current=1) == 2
    assert level_of(edge - HYSTERESIS / 2, current=2) == 2 and level_of(edge - HYSTERESIS * 1.5, current=2) == 1


def gesture_frames(n: int, seed: int = 1) -> list[np.ndarray]:
    """The still picture with a hand-sized square darting about it: much motion, the same scene."""
    still = moving_frames(1, 160, 120, seed=0)[0]
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        f = still.copy()
        x, y = rng.integers(0, 130), rng.integers(0, 90)
        f[y:y + 30, x:x + 30] = 255
        frames.append(f)
    return frames


def play(engine: LiveScore, player, frames: list[np.ndarray], fps: float = 10.0) -> None:
    for frame in frames:
        engine._frame(player.tick() / 1000.0, frame)
        if engine._seconds_to_next_decision() <= 0:
            engine._next_bar()
        player.render(int(RATE / fps))


@pytest.mark.parametrize("gestures", [True, False])
def test_a_gesture_in_front_of_the_camera_changes_the_notes_within_a_beat(tmp_path, models, gestures):
    player, played = hand_player(tmp_path)
    settings = LiveSettings(key="D major", change=1e9, gestures=gestures)  # no picture change: only the gesture
    engine = LiveScore(models.music, models.video, player, settings)
    engine._waited_long = lambda: True
    still = moving_frames(1, 160, 120, seed=0)
    play(engine, player, still * 60)  # 6 s: three bars of a still room
    started = player.tick()
    planned = {(e.tick, e.pitch) for bar in engine.bars for e in engine._events(bar, 0) if e.velocity}
    play(engine, player, gesture_frames(60))  # 6 s of waving
    play(engine, player, still * 40)
    bars = {index: (motion, count, level) for index, motion, count, _, level, _, _ in engine.counters.bars_heard}
    if not gestures:
        assert engine.counters.gestures_answered == 0 and {lv for _, _, lv in bars.values()} == {NEUTRAL}
        player.close()
        return
    assert engine.counters.gestures_answered >= 1
    answer = next(e.tick for e, _ in played if e.velocity and e.tick > started and (e.tick, e.pitch) not in planned)
    assert answer - started <= 500 + 100  # a note not planned before the gesture, within a beat (120 bpm) and a frame
    busy = [count for motion, count, level in bars.values() if motion is not None and motion > 0.8]
    calm = [count for motion, count, level in bars.values() if motion is not None and motion < 0.1]
    assert busy and calm and np.mean(busy) > np.mean(calm) + 2
    player.close()


def test_while_the_counter_sees_nobody_the_room_settles_and_someone_entering_is_heard(tmp_path, models):
    """The same waving with the room counted empty: no gesture, the quiet end of loudness, the look
    held; then the counter sees someone: the next bar is decided anew and the waving is heard."""
    player, _ = hand_player(tmp_path)
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="D major", change=1e9))
    engine._waited_long = lambda: True
    engine.people(0, None)
    play(engine, player, gesture_frames(80))  # 8 s of light and shadow moving in an empty room
    empty = list(engine.counters.bars_heard)
    assert engine.counters.gestures_answered == 0 and engine._level == 0
    assert {bar.velocity for bar in engine.bars} == {engine.settings.conducting.velocity[0]}
    engine.people(1, 0)
    play(engine, player, gesture_frames(60, seed=2))
    assert engine.counters.entrances == 1 and engine.counters.bars_anew_on_entrance == 1
    assert engine._level >= 2  # the waving is a gesture again
    assert max(count for _, _, count, *_ in engine.counters.bars_heard) > max(count for _, _, count, *_ in empty)
    player.close()
