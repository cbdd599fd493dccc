"""The live player and engine without a camera or sound card: real FluidSynth, rendered by hand.

The audio clock is the samples rendered (`Player.render`), so a test is its own fake clock: time
moves exactly as far as the test renders, and every figure is deterministic.
"""
from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from installations.live.config import LiveConfigError, read_config
from installations.live.engine import LiveScore, LiveSettings
from installations.live.player import NoteEvent, Player
from music_vae.representation import FIRST_PITCH_TOKEN, STEPS_PER_BAR, token_to_pitch
from score_av.conductor import Conducting

from conftest import moving_frames

RATE = 44100


class AudioClock:
    """Wall time = audio time: the seconds of audio the test has rendered."""

    def __init__(self):
        self.player: Player | None = None

    def __call__(self) -> float:
        return 0.0 if self.player is None else self.player.tick() / 1000.0


def hand_player(tmp_path, **kw) -> tuple[Player, list]:
    clock = AudioClock()
    played: list[tuple[NoteEvent, int]] = []
    player = Player(driver="file", wav=tmp_path / "heard.wav", clock=clock, on_note=lambda e, late: played.append((e, late)), **kw)
    player._started_at = 0.0   # audio tick 0 is heard at time 0 (no device buffer when rendering by hand)
    clock.player = player
    return player, played


def reference(note_at_sample: int, pitch: int, total: int) -> np.ndarray:
    """The same synth and soundfont driven by hand: silence, then the note struck at a sample."""
    import fluidsynth

    from score_av.synth import find_soundfont

    synth = fluidsynth.Synth(gain=0.5, samplerate=float(RATE))
    synth.program_select(0, synth.sfload(str(find_soundfont())), 0, 0)
    head = np.asarray(synth.get_samples(note_at_sample), np.float32)
    synth.noteon(0, pitch, 100)
    tail = np.asarray(synth.get_samples(total - note_at_sample), np.float32)
    synth.delete()
    return np.concatenate([head, tail]).reshape(-1, 2) / 32768.0


def test_a_note_sounds_in_the_block_of_its_tick_however_the_audio_is_read(tmp_path):
    """Sample for sample what a synth struck by hand at the first 64-sample block after the tick
    gives: the sequencer's timing is the audio's, whatever sizes the audio is read in."""
    player, played = hand_player(tmp_path)
    tick = 370
    player.schedule([NoteEvent(tick, 64, 100, tick)])
    audio = np.concatenate([player.render(n) for n in (1000, 333, 4410, 7, 12000, 20000)])
    total = len(audio)
    assert 0 <= total * 1000 / RATE - player.tick() <= 64 * 1000 / RATE + 1  # the synth renders 64-sample blocks
    block = -(-tick * RATE // 1000 // 64) * 64  # the first block boundary at or after the tick
    offsets = [b for b in (block - 64, block, block + 64) if np.allclose(audio, reference(b, 64, total), atol=2e-4)]
    assert offsets, "the note is not where a block-aligned reference puts it"
    assert abs(offsets[0] * 1000 / RATE - tick) <= 64 * 1000 / RATE + 1
    (event, late), = played
    assert abs(late) <= 1  # milliseconds: the sequencer's resolution
    player.close()


def test_replace_from_takes_back_only_what_has_not_sounded(tmp_path):
    player, played = hand_player(tmp_path)
    old = [NoteEvent(t, 60, 90, t) for t in (200, 400, 600, 800)]
    player.schedule(old)
    player.render(int(0.45 * RATE))  # up to 450 ms: the first two have played
    player.replace_from(500, [NoteEvent(550, 72, 90, 550)])
    player.render(int(0.5 * RATE))
    assert [(e.tick, e.pitch) for e, _ in played if e.velocity] == [(200, 60), (400, 60), (550, 72)]
    player.close()


def test_the_melody_is_one_voice_nothing_hangs_and_nothing_ends_twice(tmp_path):
    """A note whose note-off was taken back ends when the next starts; a note-off for a pitch that
    is not sounding (its note taken back, or ended already) never reaches the synth or MIDI out."""
    player, played = hand_player(tmp_path)
    player.schedule([NoteEvent(100, 60, 90, 100), NoteEvent(399, 60, 0, 399), NoteEvent(400, 62, 90, 400),
                     NoteEvent(599, 62, 0, 599)])
    player.render(int(0.2 * RATE))
    player.replace_from(300, [NoteEvent(300, 67, 90, 300), NoteEvent(399, 64, 0, 399)])  # 60's end taken back
    player.render(int(0.5 * RATE))
    assert [(e.tick, e.pitch, e.velocity > 0) for e, _ in played] == \
        [(100, 60, True), (300, 60, False), (300, 67, True)]  # 60 ended where 67 began; no stray 64 off
    player.close()


def test_a_note_scheduled_too_late_plays_at_once_and_its_lateness_is_counted(tmp_path):
    player, played = hand_player(tmp_path)
    player.render(int(0.3 * RATE))
    player.replace_from(0, [NoteEvent(250, 64, 90, 250)])  # 50 ms in the past
    player.render(player.period_size)
    (event, late), = played
    assert 45 <= late <= 60 and list(player.jitter_ms) == [late]
    player.close()


def test_the_file_driver_keeps_real_time_counts_a_stall_once_and_writes_what_was_heard(tmp_path, caplog):
    """The audio thread really stalls: a note output (on_note, called from inside the rendering) that
    blocks for 0.3 s at the note of tick 200. A sound card would have run dry once there: one
    underrun, at that tick, said in the log; the driver then catches up with the wall clock.
    Other underruns (a loaded machine) may come too, elsewhere: only the one forced is asserted."""
    import time

    stalled = []

    def blocking_output(event, late):
        if not stalled:
            stalled.append(time.monotonic())
            time.sleep(0.3)

    player = Player(driver="file", wav=tmp_path / "heard.wav", on_note=blocking_output)
    player.schedule([NoteEvent(200, 64, 90, 200)])
    with caplog.at_level("WARNING", logger="score_av.live.player"):
        started = time.monotonic()
        player.start()
        time.sleep(1.2)
        ticks, wall = player.tick(), time.monotonic() - started
        wav = player.close()
    assert stalled, "the note never played"
    at_the_stall = [t for t in player.underrun_ticks if 190 <= t <= 260]
    assert len(at_the_stall) == 1, list(player.underrun_ticks)  # one glitch, however many blocks it took to catch up
    assert player.underruns == len(player.underrun_ticks) >= 1
    assert any("audio underrun" in r.message for r in caplog.records)
    assert wall * 1000 - 500 <= ticks <= wall * 1000 + 100  # caught up: the audio clock is the wall clock again
    with wave.open(str(wav)) as w:
        assert w.getframerate() == RATE and abs(w.getnframes() / RATE - ticks / 1000) < 0.05


def frames_of(kind: str, n: int) -> list[np.ndarray]:
    """Two pictures far apart for the video model: a still gradient scene, and a bright busy one."""
    if kind == "calm":
        return [moving_frames(1, 160, 120, seed=0)[0]] * n
    rng = np.random.default_rng(5)
    return [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(n)]


def drive(engine: LiveScore, player: Player, frames: list[np.ndarray], fps: float = 10.0) -> None:
    """Feed frames at `fps` of audio time, deciding bars when due, rendering the audio in between."""
    for frame in frames:
        engine._frame(player.tick() / 1000.0, frame)
        if engine._seconds_to_next_decision() <= 0:
            engine._next_bar()
        player.render(int(RATE / fps))


def test_a_change_in_the_picture_is_answered_by_a_new_note_within_the_bar(tmp_path, models):
    player, played = hand_player(tmp_path)
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="D major"))
    engine._waited_long = lambda: True
    drive(engine, player, frames_of("calm", 40))  # 4 s: two bars decided on the calm picture
    assert engine.counters.bars_played >= 2 and engine.counters.redecodes == 0
    playing = engine._playing()
    planned = {(e.tick, e.pitch) for e in engine._events(playing, 0) if e.velocity}
    change_at = player.tick()
    drive(engine, player, frames_of("busy", 3))
    assert engine.counters.redecodes == 1
    latency, = engine.counters.latency_ms
    assert latency < 150
    after = [(e.tick, e.pitch) for e, _ in played if e.velocity and e.tick >= change_at]
    assert after and after[0] not in planned  # the first note after the change is a new one
    assert after[0][0] <= change_at + 150
    before = [(e.tick, e.pitch) for e, _ in played if e.velocity and playing.tick <= e.tick < change_at]
    assert all(b in planned for b in before)  # what had sounded was the old bar's
    assert max(abs(late) for _, late in played) <= 1
    player.close()


def test_the_bar_answering_keeps_the_notes_already_played_as_its_prefix(tmp_path, models):
    player, _ = hand_player(tmp_path)
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="A minor"))
    engine._waited_long = lambda: True
    drive(engine, player, frames_of("calm", 35))
    old = engine._playing()
    drive(engine, player, frames_of("busy", 1))
    new = next(b for b in engine.bars if b.index == old.index)
    step = int(np.argmax(new.tokens != old.tokens))
    assert 0 < step < STEPS_PER_BAR and np.array_equal(new.tokens[:step], old.tokens[:step])
    assert new.tokens[step] >= FIRST_PITCH_TOKEN  # the answer is a note
    assert token_to_pitch(int(new.tokens[step])) % 12 in {9, 11, 0, 2, 4, 5, 7}  # in A minor (natural)
    player.close()


def test_every_change_of_the_picture_is_counted_and_measured_from_the_frame_that_showed_it(tmp_path, models):
    """A change is the look moving past `change` from the look the music plays. One answered at once;
    one within a beat of that answer, answered when the beat is over and measured from its own
    frame; one withdrawn (the picture goes back before an answer is due); one that the next bar,
    decided before it, already covers (merged). Every change ends in one count, and an answer struck
    off the grid keeps its grid tick: counted on its own, its jitter measured against its own tick."""
    from installations.live.engine import ANSWER_EVERY

    player, played = hand_player(tmp_path)
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="D major"))
    engine._waited_long = lambda: True
    calm, busy = frames_of("calm", 1)[0], frames_of("busy", 1)[0]

    def until(tick):  # render to an audio tick, deciding bars when due
        while player.tick() < tick:
            if engine._seconds_to_next_decision() <= 0:
                engine._next_bar()
            player.render(RATE // 100)

    def show(frame, tick):
        until(tick)
        engine._frame(player.tick() / 1000.0, frame)

    for k in range(45):  # bars at 300 + 2000 k ms: bar 2 (4300-6300) decided from the calm picture
        show(calm, 100 * k)
    c = engine.counters
    assert c.changes == 0 and engine.bars[-1].tick == 4300
    show(busy, 4500)  # answered at once
    assert (c.changes, c.changes_answered, c.changes_deferred) == (1, 1, 0) and c.latency_ms[-1] < 150
    answered_at = player.tick()
    show(calm, 4600)  # a beat has not passed since the last answer: deferred
    beat_left = answered_at + ANSWER_EVERY * 125 - player.tick()
    assert (c.changes, c.changes_answered, c.changes_deferred) == (2, 1, 1)
    for tick in range(4700, 5300, 100):  # the same look: no new change; answered once the beat is over
        show(calm, tick)
    assert (c.changes, c.changes_answered, c.changes_deferred) == (2, 2, 1)
    assert c.latency_ms[-1] >= beat_left  # from the frame that showed it, not from the one answered
    show(busy, 5350)  # within a beat of that answer: deferred,
    show(calm, 5400)  # and the picture is back before it is answered
    assert (c.changes, c.changes_deferred, c.changes_withdrawn, len(c.latency_ms)) == (3, 2, 1, 2)
    show(busy, 5700)  # answered at once, off the grid (the next sixteenth is 75 ms away)
    until(6100)  # bar 3 decided (at 6000) from the frames since 4000: mostly calm
    show(calm, 6100)  # a beat has not passed: deferred
    show(calm, 6350)  # bar 3, decided before it, plays: it covers the change (or a change from bar 3, answered)
    figures = engine.change_figures()
    assert figures["changes_merged"] == 1 and figures["changes_withdrawn"] == 1 and figures["changes_pending"] == 0
    assert figures["picture_changes"] == (figures["picture_changes_answered"] + figures["changes_merged"]
                                          + figures["changes_withdrawn"] + figures["changes_pending"])
    assert figures["latency_ms_picture_to_first_changed_note"]["n"] == figures["picture_changes_answered"]
    assert figures["latency_ms_picture_to_expression"]["n"] == figures["picture_changes"]
    until(6500)
    onsets = [(e, late) for e, late in played if e.velocity]
    off_grid = [(e, late) for e, late in onsets if e.tick != e.grid_tick]
    assert off_grid and player.off_grid == len(off_grid) and len(player.jitter_ms) == len(onsets)
    for e, late in off_grid:  # struck before the next sixteenth; its grid tick is the sixteenth it belongs to
        assert (e.grid_tick - 300) % 125 == 0 and 0 < e.tick - e.grid_tick < 125
    assert max(abs(late) for _, late in onsets) <= 1  # every note, off the grid or not, at its own tick
    player.close()


def test_a_held_look_grows_a_phrase_live_as_offline_and_no_development_loops(tmp_path, models):
    """The anchor bar at bars 1, 5, 9 of the look; the bars between inpainted, none the bar before."""
    for development in (True, False):
        player, _ = hand_player(tmp_path)
        heard = []
        engine = LiveScore(models.music, models.video, player,  # the bars as decided: the figure is gestures' (test_gesture.py)
                           LiveSettings(key="D major", conducting=Conducting(development=development), gestures=False),
                           on_bar=lambda index, code, tokens: heard.append((index, tokens)))
        drive(engine, player, frames_of("calm", 200))  # 20 s: 10 bars of one picture
        bars = np.array([tokens for _, tokens in heard])
        assert len(bars) >= 10
        if development:  # one look from the first bar on: it is the anchor
            assert not any(np.array_equal(a, b) for a, b in zip(bars[1:], bars[:-1]))
            assert np.array_equal(bars[4], bars[0]) and np.array_equal(bars[8], bars[0])
            assert len({tuple(b) for b in bars[:8]}) >= 5
        else:
            assert len({tuple(b) for b in bars}) <= 2  # one bar, and its phrase-end form
        player.close()


def test_without_a_camera_the_music_drifts_slowly_and_goes_on(tmp_path, models):
    player, _ = hand_player(tmp_path)
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="G major"))
    engine.camera_state("lost", "unplugged")
    looks = []
    for _ in range(24):
        engine._next_bar()
        looks.append(engine.bars[-1].position)
        player.render(int(2.0 * RATE))
    steps = np.linalg.norm(np.diff(looks, axis=0), axis=1)
    assert engine.counters.bars_played == 24 and steps.max() < 1.5  # slow: no bar jumps like a cut
    assert np.linalg.norm(looks[-1] - looks[0]) > 1.0  # but it does move
    player.close()


def test_config_file_and_options(tmp_path):
    path = tmp_path / "live.toml"
    path.write_text('bpm = 90\nsource = "clip.mp4"\nstyle = ""\naudio_driver = "file"\n')
    config = read_config(path, {"bpm": 100, "volume": None})
    assert config.bpm == 100 and config.source == "clip.mp4" and config.style is None and config.wav is not None
    path.write_text("development = false\n")
    assert read_config(path).development is False and read_config(None).development is True
    path.write_text("tempo = 90\n")
    with pytest.raises(LiveConfigError, match="unknown setting tempo"):
        read_config(path)
    path.write_text('bpm = "fast"\n')
    with pytest.raises(LiveConfigError, match="bpm"):
        read_config(path)
    with pytest.raises(LiveConfigError, match="audio_driver"):
        read_config(None, {"audio_driver": "speakers"})
    path.write_text("bpm = 90\n[audio]\nperiods = 3\nperiod_size = 128\n")
    config = read_config(path, {"audio_period_size": 512})
    assert (config.bpm, config.audio_periods, config.audio_period_size) == (90, 3, 512)
    path.write_text("[audio]\nperiod = 3\n")
    with pytest.raises(LiveConfigError, match="audio.period; known in \\[audio\\]: periods, period_size"):
        read_config(path)
    for bad, match in (({"audio_periods": 1}, "2 to 64 periods"), ({"audio_period_size": 32}, "64 to 8192")):
        with pytest.raises(LiveConfigError, match=match):
            read_config(None, bad)


@pytest.mark.parametrize("periods, period_size", [(4, 128), (16, 256)])
def test_the_file_driver_keeps_the_buffer_asked_ahead_of_the_wall_clock(periods, period_size, tmp_path, caplog):
    """What the audio buffer is: the audio clock runs the buffer ahead of the wall clock (what is
    rendered now is heard a buffer later, as heard_at says), never more than a period beyond it.
    The rendering thread runs under the real-time scheduler where the process may ask for it
    (root here), and says once that it cannot where not."""
    import os
    import time

    player = Player(driver="file", wav=tmp_path / "heard.wav", periods=periods, period_size=period_size)
    buffer_ms, period_ms = 1000 * periods * period_size / RATE, 1000 * period_size / RATE
    assert player.buffer_seconds * 1000 == pytest.approx(buffer_ms)
    with caplog.at_level("INFO", logger="score_av.live.player"):
        player.start()
        leads = []
        for _ in range(100):
            time.sleep(0.007)
            leads.append(player.tick() - 1000 * (time.monotonic() - player.heard_at(0)))
        fifo = os.sched_getscheduler(player._thread.native_id) == os.SCHED_FIFO
        player.close()
    assert buffer_ms - period_ms - 2 <= max(leads) <= buffer_ms + period_ms + 1, leads  # ms ahead, at best
    assert fifo or any("keeps the normal priority" in r.message for r in caplog.records)
    if os.geteuid() == 0:
        assert fifo


def test_score_av_live_plays_a_file_in_real_time_and_reports(tmp_path):
    """`score-av live` on a file, in real time, stopped dead for 0.8 s midway (SIGSTOP: the
    machine too busy to run it). What holds on any machine, loaded or not: frames flow, bars play,
    the WAV lasts as long as the run, the stats file is written, every change of the picture ends in
    one count, and the stall is counted and reported as an underrun. How fast it answers and how
    steady its notes are on a quiet machine is bench/live_latency.py's."""
    import signal
    import subprocess
    import sys
    import time

    from score_av.clips import write_clip

    clip = write_clip(tmp_path / "room.mp4", moving_frames(50, 160, 120) + frames_of("busy", 25), 25)
    wav, stats, log = tmp_path / "heard.wav", tmp_path / "stats.json", tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "score_av", "live", "--source", str(clip), "--audio-driver",
                                 "file", "--wav", str(wav), "--duration", "6", "--stats", str(stats),
                                 "--osc-in", "127.0.0.1:59311"], stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 60
        while "live:" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # models loading
        time.sleep(2.0)  # the audio plays
        proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(0.8)
        finally:
            proc.send_signal(signal.SIGCONT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, log.read_text()
    assert "live:" in out and str(wav) in out
    figures = json.loads(stats.read_text())
    assert figures["frames_in"] >= 25 and 25 <= figures["frames_encoded"] <= figures["frames_in"]
    assert figures["bars_played"] >= 2 and figures["notes_played"] >= 1
    assert figures["picture_changes"] == (figures["picture_changes_answered"] + figures["changes_merged"]
                                          + figures["changes_withdrawn"] + figures["changes_pending"])
    assert figures["latency_ms_picture_to_first_changed_note"]["n"] == figures["picture_changes_answered"]
    assert f"of {figures['picture_changes']}" in out  # the summary line counts every change, answered or not
    assert figures["audio_underruns"] >= 1 and len(figures["audio_underruns_at_s"]) == figures["audio_underruns"]
    assert "audio underrun" in log.read_text()
    with wave.open(str(wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert seconds >= 6.0 and abs(seconds - figures["wall_seconds"]) <= 0.3  # the run (the stall too), and its fade


def test_osc_controls_reach_a_running_installation(tmp_path, models):
    """Tempo and volume sent over OSC (loopback) while `LiveRun` plays a file in real time."""
    import threading
    import time

    from pythonosc.udp_client import SimpleUDPClient

    from installations.live.runner import LiveRun
    from score_av.clips import write_clip

    clip = write_clip(tmp_path / "room.mp4", moving_frames(50, 160, 120), 25)
    config = read_config(None, dict(source=str(clip), audio_driver="file", wav=tmp_path / "heard.wav", duration=5,
                                    osc_in="127.0.0.1:59312"))
    run = LiveRun(config, models=models)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(run.run(threading.Event())))
    worker.start()
    time.sleep(1.5)
    client = SimpleUDPClient("127.0.0.1", 59312)
    client.send_message("/score-av/tempo", 90.0)
    client.send_message("/score-av/volume", 0.25)
    client.send_message("/score-av/model", "dance")
    client.send_message("/score-av/style", "irish")
    worker.join(timeout=20)
    assert result["bpm"] == 90.0 and run.player._volume == 0.25
    assert run.engine.music.path.stem == "dance" and run.engine.settings.style == "irish"
    assert result["bars_played"] >= 2


def test_sigterm_fades_out_and_exits_cleanly(tmp_path):
    """The installation stopped as systemd stops it: exit 0, the WAV complete, its end faded to nothing."""
    import signal
    import subprocess
    import sys
    import time

    from score_av.clips import write_clip

    clip = write_clip(tmp_path / "room.mp4", moving_frames(50, 160, 120), 25)
    wav = tmp_path / "heard.wav"
    proc = subprocess.Popen([sys.executable, "-m", "score_av", "live", "--source", str(clip), "--audio-driver", "file",
                             "--wav", str(wav), "--osc-in", "127.0.0.1:59313", "--program", "19"],  # an organ: it sustains
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(10)  # start-up (the models load in a few seconds), then some music
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    with wave.open(str(wav)) as w:
        rate, audio = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16)
    assert len(audio) / 2 / rate > 3
    assert np.abs(audio[-int(0.2 * rate) * 2:]).max() < 300  # the last 0.2 s: faded out, not cut
    assert "live:" in out


def test_stats_sample_cpu_and_memory_and_keep_the_file_up_to_date(tmp_path):
    import time

    import psutil

    from installations.live.stats import SAMPLE_EVERY, LiveStats

    cores = psutil.cpu_count()
    now = [0.0]
    stats = LiveStats(tmp_path / "stats.json", lambda: {"bars_played": 7}, clock=lambda: now[0], every=10.0)
    used, block = [], None
    for k in range(12):
        start = time.process_time()
        while time.process_time() - start < 0.1 * (1 + k % 3):  # CPU to measure: 0.1, 0.2 or 0.3 s
            pass
        if k == 4:
            block = np.ones(100 * 2 ** 20 // 8)  # 100 MiB, every page touched, held over four samples
        if k == 8:
            block = None
        used.append(time.process_time() - start)
        now[0] += SAMPLE_EVERY
        stats.poll()
    written = json.loads((tmp_path / "stats.json").read_text())
    samples = written["samples"]
    assert written["bars_played"] == 7 and len(samples) == 12 and written["wall_seconds"] == 60.0
    for sample, cpu in zip(samples, used):  # the process's CPU time over each 5 s, as a share of all cores
        assert abs(sample["cpu_share_of_all_cores"] - cpu / SAMPLE_EVERY / cores) <= 0.003  # /proc's 10 ms ticks
    assert abs(written["cpu_share_of_all_cores"] - sum(used) / 60 / cores) <= 0.003
    rss = np.array([s["rss_mb"] for s in samples])
    held = rss[4:8].mean() - np.r_[rss[:4], rss[8:]].mean()
    assert 98 <= held <= 102.5  # the 100 MiB held, in MiB, and given back
    assert written["rss_mb_first_half_mean"] == round(float(rss[:6].mean()), 1)
    assert written["rss_mb_second_half_mean"] == round(float(rss[6:].mean()), 1)


def test_stats_say_which_thread_the_cpu_went_to(tmp_path):
    """The run's CPU by thread (the people counter, the engine...): a thread that works 0.4 s shows
    under its name without its path or number, even when it has ended before the summary (a run's
    threads stop first), and the main thread's own 0.1 s under MainThread."""
    import threading
    import time

    import psutil

    from installations.live.stats import LiveStats

    def work(seconds):
        start = time.thread_time()
        while time.thread_time() - start < seconds:
            pass

    worked, done = threading.Event(), threading.Event()

    def capture():  # works, stays alive until a sample is taken, then ends
        work(0.4)
        worked.set()
        done.wait(10)

    now = [0.0]
    stats = LiveStats(None, dict, clock=lambda: now[0])
    worker = threading.Thread(target=capture, name="capture /some/clip.mp4")
    worker.start()
    work(0.1)
    worked.wait(10)
    now[0] = 6.0  # past SAMPLE_EVERY: the run's periodic sample notes the threads
    stats.poll()
    done.set()
    worker.join()
    shares = stats.cpu_by_thread(wall=1.0)
    cores = psutil.cpu_count()
    assert abs(shares["capture"] * cores - 0.4) <= 0.05, shares
    assert abs(shares["MainThread"] * cores - 0.1) <= 0.05, shares


def test_a_runs_figures_keep_the_latest_in_order_in_memory_taken_at_start():
    """A week of note jitters must not grow the process: the history takes its memory when made
    (numpy's allocations are traced), and appending far more figures than it keeps neither grows it
    nor loses the order of the latest."""
    import tracemalloc

    from installations.live.stats import Recent

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        recent = Recent(1_000_000, np.int32)  # 4 MB
        taken = tracemalloc.get_traced_memory()[0] - before
        assert taken >= 4_000_000 and len(recent) == 0 and list(recent) == []
        for value in range(1_500_000):
            recent.append(value)
        assert tracemalloc.get_traced_memory()[0] - before < taken + 100_000
    finally:
        tracemalloc.stop()
    assert len(recent) == 1_000_000 and recent[-1] == 1_499_999 and recent[0] == 500_000
    assert np.array_equal(np.asarray(recent), np.arange(500_000, 1_500_000))
    few = Recent(4)
    few.append(2.5)
    assert list(few) == [2.5] and few[-1] == 2.5


def test_without_a_sound_system_it_says_so_once_and_plays_on(caplog):
    """This machine has no sound card: the ALSA driver cannot open, and the music goes on unheard."""
    import time

    player = Player(driver="alsa")
    with caplog.at_level("WARNING", logger="score_av.live.player"):
        player.start()
        time.sleep(0.3)
    if player.synth.audio_driver is not None:
        player.close()
        pytest.skip("this machine has a sound system")
    assert player.tick() >= 200
    assert [r.message for r in caplog.records].count(next(r.message for r in caplog.records if "no sound" in r.message)) == 1
    assert player.close() is None
