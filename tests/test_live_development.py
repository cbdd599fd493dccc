"""A held look's next bar developed a bar ahead on the live engine's worker thread: the bars heard are
the ones the engine makes when it develops each bar as it decides it, and what was prepared is taken
only while what it was made from still holds.

The engines are driven by hand as in test_live_engine (the audio rendered is the clock), so two
engines given the same frames decide the same bars at the same ticks.
"""
from __future__ import annotations

import copy

import numpy as np

from installations.live.engine import LiveScore, LiveSettings
from score_av.conductor import develop_bar, inpainter_for

from test_live_engine import drive, frames_of, hand_player


def engines(tmp_path, models):
    """Two engines alike but for where a held bar is developed: prepared on the worker, or inline."""
    made = []
    for prepare in (True, False):
        folder = tmp_path / ("ahead" if prepare else "inline")
        folder.mkdir()
        player, _ = hand_player(folder)
        heard: list[tuple[int, np.ndarray]] = []
        engine = LiveScore(models.music, models.video, player, LiveSettings(key="D major"),
                           on_bar=lambda index, code, tokens, heard=heard: heard.append((index, tokens)),
                           prepare=prepare)
        engine._waited_long = lambda: True
        made.append((engine, player, heard))
    return made


def same_bars(a: list[tuple[int, np.ndarray]], b: list[tuple[int, np.ndarray]]) -> bool:
    return len(a) == len(b) and all(i == j and np.array_equal(s, t) for (i, s), (j, t) in zip(a, b))


def test_a_still_picture_plays_the_bars_developed_inline(tmp_path, models):
    (ahead, p_ahead, heard_ahead), (inline, p_inline, heard_inline) = engines(tmp_path, models)
    assert inpainter_for(models.music, ahead.settings.conducting) is not None  # the default model develops
    calm = frames_of("calm", 120)  # 12 s: six bars of one look
    for engine, player in ((ahead, p_ahead), (inline, p_inline)):
        drive(engine, player, calm)
    assert len(heard_ahead) >= 6 and same_bars(heard_ahead, heard_inline)
    assert ahead.counters.developed_prepared >= 3 and ahead.counters.developed_inline == 0
    assert inline.counters.developed_inline == ahead.counters.developed_prepared and \
        inline.counters.developed_prepared == 0
    bars = [tokens for _, tokens in heard_ahead]
    assert not any(np.array_equal(a, b) for a, b in zip(bars[1:], bars[:-1]))  # developed, not held as is
    for engine, player in ((ahead, p_ahead), (inline, p_inline)):
        engine.close()
        player.close()


def test_after_a_change_the_new_look_develops_from_its_own_anchor(tmp_path, models):
    """The picture changes: the bar playing is re-decoded (a new anchor), and the look held after it
    develops from that anchor, prepared again after the re-decode, as the inline engine does."""
    (ahead, p_ahead, heard_ahead), (inline, p_inline, heard_inline) = engines(tmp_path, models)
    calm, busy = frames_of("calm", 40), [frames_of("busy", 1)[0]] * 80
    for engine, player in ((ahead, p_ahead), (inline, p_inline)):
        drive(engine, player, calm)
    before = ahead._prepared  # bar k+1 of the calm look, made from its anchor
    assert before is not None and ahead.counters.redecodes == 0
    developed = ahead.counters.developed_prepared
    drive(ahead, p_ahead, busy[:3])
    assert ahead.counters.redecodes == 1
    now, _ = ahead._prepared
    assert now.first == ahead._anchor[0] != before[0].first  # prepared again, from the re-decoded bar
    assert np.array_equal(now.future[0], ahead._anchor[1])
    drive(ahead, p_ahead, busy[3:])
    drive(inline, p_inline, busy)
    assert inline.counters.redecodes == ahead.counters.redecodes and same_bars(heard_ahead, heard_inline)
    assert ahead.counters.developed_prepared - developed >= 2  # the new look's bars, prepared
    for engine, player in ((ahead, p_ahead), (inline, p_inline)):
        engine.close()
        player.close()


def test_a_prepared_bar_is_not_taken_once_what_it_was_made_from_changed(tmp_path, models):
    """A bar prepared from one anchor, then the anchor replaced (as a re-decode does) or the model
    switched: the bar decided is developed there and then, from what holds now."""
    player, _ = hand_player(tmp_path)
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="D major"))
    engine._waited_long = lambda: True
    calm = frames_of("calm", 1)[0]
    while engine.counters.bars_played < 3 or engine._prepared is None:
        drive(engine, player, [calm])
    previous = engine.bars[-1]
    index = previous.index + 1
    job, future = engine._prepared
    stale = future.result()
    first, anchor = engine._anchor
    how = engine.settings.conducting
    rng = np.random.default_rng(0)
    for _ in range(20):  # another anchor, one that develops the bar otherwise
        other = engine.music.decode(rng.standard_normal((1, engine.music.latent_dim)).astype(np.float32))[0]
        expected = develop_bar(inpainter_for(engine.music, how), engine.music, job.past, other[None], job.missing,
                               engine.key, how, engine._last_pitch, played=job.played)
        if not np.array_equal(expected, stale):
            break
    engine._anchor = (first, other)
    got = engine._held(index, previous)
    assert np.array_equal(got, expected) and not np.array_equal(got, stale)
    assert engine.counters.developed_inline == 1 and engine._prepared is None

    engine._anchor = (first, anchor)  # as it was: prepared again, and taken
    engine._prepare_next()
    assert np.array_equal(engine._held(index, previous), stale)
    assert engine.counters.developed_inline == 1

    engine._prepare_next()
    engine.set_music(copy.copy(engine.music))  # another model object (the same weights): not the one it used
    assert np.array_equal(engine._held(index, previous), stale)  # the same weights make the same bar,
    assert engine.counters.developed_inline == 2  # but there and then
    engine.close()
    player.close()
