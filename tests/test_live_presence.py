"""People counted live (installations/live/presence.py): a real `PeopleCounter` on frames of the shared
person-detection clip, on its own thread, and what the count reaches: OSC out, `--stats` and the music.

The frames are the clip's empty room and the same room with the man in black of a later frame
pasted in (test_presence's `pasted`, which the counter counts as one person). The runs are short
(240 bpm: a bar a second), the audio goes to FluidSynth's file driver, and the engine's test renders
the audio by hand (test_live_engine's `hand_player`), so nothing here needs a sound card.
"""
from __future__ import annotations

import logging
import threading
import time

import av
import numpy as np
import pytest

from installations.live.config import LiveConfigError, read_config
from installations.live.engine import LiveScore, LiveSettings
from installations.live.presence import Presence
from installations.live.runner import LiveRun
from score_av.presence import PRESENCE_HZ

from test_live_engine import drive, frames_of, hand_player
from test_live_wiring import drain, play
from test_presence import CLIP, pasted

BPM = 240  # a bar a second


@pytest.fixture(scope="module")
def room() -> dict[str, list[np.ndarray]]:
    """The empty room and the room with one visitor, each as a few frames that differ by a grey level
    here and there (the capture takes the very same bytes over and over for a frozen camera)."""
    if not CLIP.exists():
        pytest.skip(f"{CLIP} is not here (the shared clips sit beside the checkout)")
    frames: dict[int, np.ndarray] = {}
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            second = int(float(frame.pts * frame.time_base))
            if second > 30:
                break
            frames.setdefault(second, frame.to_ndarray(format="rgb24"))
    empty = frames[2]
    visitor = pasted(empty, frames, [(30, empty.shape[1] // 5)])  # the man in black
    rng = np.random.default_rng(0)
    jitter = lambda f: [np.clip(f.astype(np.int16) + rng.integers(0, 2, f.shape), 0, 255).astype(np.uint8)
                        for _ in range(4)]
    return {"empty": jitter(empty), "visitor": jitter(visitor)}


class Visit:
    """A camera on the room: empty for `empty_s` seconds after it opens, then someone there."""
    name = "test room"

    def __init__(self, room: dict, empty_s: float, fps: float = 10.0):
        self.room, self.empty_s, self.interval = room, empty_s, 1.0 / fps
        self.opened, self.n = time.monotonic(), 0

    def open(self) -> None:
        self.opened = time.monotonic() if self.n == 0 else self.opened

    def read(self) -> np.ndarray:
        time.sleep(self.interval)
        self.n += 1
        kind = "empty" if time.monotonic() - self.opened < self.empty_s else "visitor"
        return self.room[kind][self.n % len(self.room[kind])]

    def close(self) -> None:
        pass


def config(tmp_path, **settings):
    return read_config(None, dict(audio_driver="file", wav=tmp_path / "heard.wav", bpm=BPM, osc_in="off",
                                  **settings))


def test_the_count_reaches_osc_out_the_stats_and_the_music(tmp_path, models, room, receiver):
    (host, port), received = receiver
    run = LiveRun(config(tmp_path, duration=5.0, osc=f"{host}:{port}", presence_hz=3), models,
                  source=Visit(room, empty_s=1.5))
    assert run.presence is not None
    figures = play(run, 5.0)
    people = [args for address, args in drain(received) if address == "/score-av/people"]
    # the empty room first (0), then the visitor (1; HOG may see a second body in him now and then):
    # sent each time the count changes, never twice the same
    assert people[:1] == [(0,)] and len(people) >= 2 and all(n >= 1 for n, in people[1:]), people
    assert all(a != b for a, b in zip(people, people[1:])), people
    assert figures["people"]["now"] == people[-1][0] and figures["people"]["max"] >= 1
    assert 0 < figures["people"]["mean"] < figures["people"]["max"]
    assert run.presence.counted >= 6  # about 3 a second over 5 s, on a thread of its own
    # the engine was told: someone came into the empty room, and a bar after it was decided anew
    assert run.engine.counters.entrances >= 1 and run.engine.counters.bars_anew_on_entrance >= 1
    assert not any(t.name == "live-presence" and t.is_alive() for t in threading.enumerate())


def test_someone_entering_makes_the_next_bar_new_not_held(tmp_path, models, room):
    """The same calm picture throughout, so every bar after the first is held (developed). A real
    counter sees the empty room, then someone: the next bar is decided anew, once; then held again."""
    from score_av.presence import PeopleCounter

    player, _ = hand_player(tmp_path)
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="D major"))
    engine._waited_long = lambda: True
    counter = PeopleCounter()
    presence = Presence(counter, 3, on_change=engine.people)
    for frame in room["empty"] * 2:
        presence.note(counter.count(frame).count)
    drive(engine, player, frames_of("calm", 50))  # 5 s at 120 bpm: bars 0-2, held after the first
    assert presence.now == 0 and engine.counters.entrances == 0
    held = engine.bars[-1]
    assert held.index >= 1 and held.position is engine.bars[-2].position  # the look held
    presence.note(counter.count(room["visitor"][0]).count)  # someone comes in
    assert presence.now >= 1 and engine.counters.entrances == 1
    seen = len(engine.bars) and engine.bars[-1].index
    while engine.bars[-1].index == seen:
        drive(engine, player, frames_of("calm", 1))
    new, before = engine.bars[-1], engine.bars[-2]
    assert new.position is not before.position and engine.counters.bars_anew_on_entrance == 1  # not held
    assert engine._phrase_start == new.index  # as after a cut: a phrase starts with it
    while engine.bars[-1].index == new.index:
        drive(engine, player, frames_of("calm", 1))
    assert engine.bars[-1].position is new.position  # once: the bar after is held again
    presence.note(counter.count(room["visitor"][1]).count)  # still there: nothing new
    assert engine.counters.entrances == 1
    engine.close()
    player.close()


class Grey:
    """A source of plain frames whose grey changes ten times a second (no one to count)."""
    name = "grey"

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        time.sleep(0.1)
        return np.full((120, 160, 3), int(time.monotonic() * 10) % 255, np.uint8)

    def close(self) -> None:
        pass


def test_presence_hz_0_means_no_worker_and_people_null(tmp_path, models):
    run = LiveRun(config(tmp_path, duration=1.5, presence_hz=0, status="127.0.0.1:0"), models, source=Grey())
    assert run.presence is None
    figures = play(run, 1.5)
    assert figures["people"] == {"now": None, "mean": None, "max": None}
    assert run.status()["people"] is None and figures["bars_played"] >= 1


def test_an_opencv_without_hog_is_said_once_and_plays_on(tmp_path, models, monkeypatch, caplog):
    import score_av.presence

    def no_hog(*args, **kwargs):
        raise RuntimeError("this OpenCV has no HOG people detector or Haar cascades")

    monkeypatch.setattr(score_av.presence, "PeopleCounter", no_hog)
    with caplog.at_level(logging.WARNING, logger="score_av.live"):
        run = LiveRun(config(tmp_path, duration=0.5), models, source=Grey())
    warned = [r for r in caplog.records if "presence is off" in r.getMessage()]
    assert len(warned) == 1 and "HOG" in warned[0].getMessage()
    assert run.presence is None and play(run, 0.5)["people"]["now"] is None


def test_presence_hz_is_checked():
    assert read_config(None).presence_hz == PRESENCE_HZ == 3 and read_config(None, {"presence_hz": 0}).presence_hz == 0
    for bad in (-1, 11, float("nan")):
        with pytest.raises(LiveConfigError, match="presence_hz"):
            read_config(None, {"presence_hz": bad})
