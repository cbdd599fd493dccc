"""A week that is not one key: with --key auto the key follows the room's light (score_av/key.py,
KeyFollower), a step to a related key when a change of light has lasted key_follow_s, never for a
shorter one; a fixed key stays. Days are run in seconds: the follower and the engine take the clock
they are given, here one that runs hundreds of times faster than the wall's."""
from __future__ import annotations

import colorsys

import numpy as np
import pytest

from installations.live.config import LiveConfigError, read_config
from installations.live.engine import LiveScore, LiveSettings
from music_vae.representation import FIRST_PITCH_TOKEN, MIN_PITCH
from score_av.key import KEY_FOLLOW_S, Key, KeyFollower, key_from_colour, shift_between, step_towards

from test_live_engine import RATE, hand_player

MINUTE = 60.0


def colour_of(hue: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue, 0.6, value)) * 255


def live_a_day(follower: KeyFollower, light, step_s: float = 10.0, hours: float = 24.0) -> list[tuple[float, Key, float]]:
    """Observe `light(t)` every `step_s` seconds for `hours`, moving whenever a move is due (a phrase
    starts every few seconds, so at once here): (time, key moved to, when the light began asking)."""
    moves = []
    for t in np.arange(0.0, hours * 3600, step_s):
        follower.observe(t, light(t))
        if follower.due(t):
            since = follower.since
            moves.append((t, follower.move(), since))
    return moves


def test_a_change_of_light_lasting_under_five_minutes_never_moves_the_key():
    day, flash = colour_of(0.15, 0.9), colour_of(0.65, 0.3)  # a bright yellow room; a dark blue stage light
    assert key_from_colour(day) != key_from_colour(flash)
    follower = KeyFollower(key_from_colour(day), day)
    flashes = lambda t: flash if (t % 3600) < 4 * MINUTE else day  # four minutes of it every hour, all day
    assert live_a_day(follower, flashes) == []


def test_a_change_lasting_twenty_minutes_moves_the_piece_one_related_step_towards_it():
    day, evening = colour_of(0.15, 0.9), colour_of(0.0, 0.45)
    start = key_from_colour(day)
    follower = KeyFollower(start, day)
    light = lambda t: evening if 2 * 3600 <= t < 2 * 3600 + 25 * MINUTE else day
    moves = live_a_day(follower, light, hours=4)
    assert moves, "a 25-minute change of light moved nothing"
    t, first, since = moves[0]
    assert 2 * 3600 + KEY_FOLLOW_S <= t <= 2 * 3600 + KEY_FOLLOW_S + 3 * MINUTE  # about 20 minutes in (the light averages over a minute)
    assert t - since >= KEY_FOLLOW_S and first in start.related()
    for (_, a, _), (_, b, _) in zip(moves, moves[1:]):
        assert b in a.related()  # one step at a time


def test_a_day_of_light_is_heard_and_each_step_is_to_a_related_key():
    """Night (dark blue), dawn, a bright yellow day, an orange dusk: the piece walks with it, a
    related step at a time, each after the light asked for at least twenty minutes."""
    def light(t: float) -> np.ndarray:
        hour = (t / 3600) % 24
        if hour < 6 or hour >= 21:
            return colour_of(0.62, 0.25)
        if hour < 8:
            return colour_of(0.05, 0.55)
        if hour < 18:
            return colour_of(0.15, 0.95)
        return colour_of(0.04, 0.6)

    follower = KeyFollower(key_from_colour(light(0)), light(0))
    moves = live_a_day(follower, light)
    assert len(moves) >= 3
    keys = [key_from_colour(light(0))] + [k for _, k, _ in moves]
    assert all(b in a.related() for a, b in zip(keys, keys[1:]))
    assert all(t - since >= KEY_FOLLOW_S for t, _, since in moves)
    assert len({str(k) for k in keys}) >= 3


def test_music_is_carried_into_the_new_key_by_the_smallest_move():
    c = Key.parse("C")
    assert shift_between(c, Key.parse("A minor")) == 0 and shift_between(c, Key.parse("G")) == -5
    assert shift_between(c, Key.parse("F")) == 5
    assert step_towards(c, Key.parse("G")) == Key.parse("G")
    assert step_towards(c, Key.parse("E major")) in c.related()


def test_the_config_refuses_a_follow_under_five_minutes_and_takes_0_for_never():
    with pytest.raises(LiveConfigError, match="key_follow_s 60"):
        read_config(None, {"key_follow_s": 60.0})
    assert read_config(None, {"key_follow_s": 0.0}).key_follow_s == 0
    assert read_config(None, {}).key_follow_s == KEY_FOLLOW_S


SPEED = 600.0  # simulated seconds per second of audio: twenty minutes in two seconds


def room(rgb, n: int) -> list[np.ndarray]:
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:] = np.asarray(rgb, np.uint8)
    frame[40:80, 60:100] = 255 - frame[40:80, 60:100]  # something in the room
    return [frame] * n


def run_sped(engine: LiveScore, player, frames, fps: float = 10.0) -> None:
    for frame in frames:
        engine._frame(engine.clock(), frame)
        if engine._seconds_to_next_decision() <= 0:
            engine._next_bar()
        player.render(int(RATE / fps))


@pytest.mark.parametrize("key", ["auto", "D major"])
def test_live_with_a_sped_up_clock_the_key_follows_the_light_at_a_phrase_start_and_a_fixed_key_stays(tmp_path, models, key):
    player, _ = hand_player(tmp_path)
    clock = lambda: player.tick() / 1000.0 * SPEED
    keys = []
    engine = LiveScore(models.music, models.video, player, LiveSettings(key=key, gestures=False), clock=clock,
                       on_bar=lambda index, code, tokens: keys.append((index, engine.key, tokens, engine._phrase_start)))
    engine._waited_long = lambda: True
    day, night = colour_of(0.15, 0.9), colour_of(0.62, 0.3)
    run_sped(engine, player, room(day, 40))     # 4 s: 40 minutes of daylight
    first = engine.key
    assert first == (key_from_colour(room(day, 1)[0].reshape(-1, 3).mean(0)) if key == "auto" else Key.parse("D major"))
    themes_before = [bar.copy() for _, bar in engine._memory]
    run_sped(engine, player, room(night, 100))  # 10 s: 100 minutes of night
    player.close()
    if key != "auto":
        assert engine.key == first and engine.counters.key_changes == 0
        return
    assert engine.counters.key_changes >= 1 and engine.key != first and engine.key in first.related() + \
        [k for r in first.related() for k in r.related()]
    moved_at, phrase_start = next((i, p) for i, k, _, p in keys if k != first)
    assert (moved_at - phrase_start) % 4 == 0  # the bar before closed its phrase on the tonic
    after = np.concatenate([t for i, k, t, _ in keys if i > moved_at and k == engine.key])
    pitches = after[after >= FIRST_PITCH_TOKEN] - FIRST_PITCH_TOKEN + MIN_PITCH
    assert engine.key.contains(pitches).mean() >= 0.8  # the music plays in the new key
    if themes_before:  # the themes remembered were carried into it
        moved = [bar for _, bar in engine._memory][:len(themes_before)]
        assert any(not np.array_equal(a, b) for a, b in zip(themes_before, moved)) or \
            shift_between(first, engine.key) == 0
