"""The band live: each layer on its own MIDI channel, made bar by bar under the melody, its level over
OSC, its name on every note sent out (installations/live/engine.py, player.py, osc.py, runner.py).

Real FluidSynth (the file driver, rendered by hand as in test_live_engine: the audio rendered is the
clock), real OSC over loopback UDP; nothing of the player is mocked.
"""
from __future__ import annotations

import logging
import time

import numpy as np
from pythonosc.udp_client import SimpleUDPClient

from installations.live.engine import LiveScore, LiveSettings
from installations.live.osc import OscIn, OscOut
from installations.live.player import NoteEvent
from installations.live.runner import Controls
from score_av.arrangement import bass_steering, steer_bar
from score_av.band import CHANNELS, band_for
from score_av.drums import cut_into, cuts, fills, levels, next_level, phrase_fill

from test_live_cli import here, one_line_error  # noqa: F401 - `here` is a fixture
from test_live_engine import RATE, drive, frames_of, hand_player

EVERY = ("melody", "bass", "harmony", "drums")
WAIT = 2.0


def heard_run(tmp_path, models, layers):
    """An engine with `layers` driven by hand through re-decodes: two bars of a calm picture, then a busy
    one, the calm one and the busy one again (each change answered within its bar, or by the bar after
    when it comes at a bar's end); then the audio rendered on past the last bar scheduled, so that
    every note has had its time to end. What reached the synth (player.on_note) and the bars."""
    folder = tmp_path / "+".join(layers)
    folder.mkdir()
    band = band_for(layers=layers)
    player, played = hand_player(folder, band=band)
    bars = []
    engine = LiveScore(models.music, models.video, player, LiveSettings(key="D major", band=band),
                       on_bar=lambda index, code, tokens: bars.append((index, tokens.copy())), prepare=False)
    engine._waited_long = lambda: True
    drive(engine, player, frames_of("calm", 40) + frames_of("busy", 31) + frames_of("calm", 23) + frames_of("busy", 31))
    last = engine.bars[-1]
    player.render(int((last.tick + 16 * last.step_ms - player.tick()) / 1000 * RATE) + RATE // 5)
    return engine, player, played, bars


def test_the_band_plays_on_its_channels_under_the_same_melody_and_nothing_hangs(tmp_path, models):
    alone, p_alone, heard_alone, bars_alone = heard_run(tmp_path, models, ("melody",))
    band, p_band, heard_band, bars_band = heard_run(tmp_path, models, EVERY)
    assert band.counters.redecodes >= 3 and band.counters.redecodes == alone.counters.redecodes
    assert {e.channel for e, _ in heard_band if e.velocity} == {0, 1, 2, 9}  # melody, harmony, bass, drums
    assert {e.channel for e, _ in heard_alone} == {0}

    # the layers never change the melody: the same bars, the same notes at the same ticks
    assert len(bars_band) == len(bars_alone) >= 3
    assert all(i == j and np.array_equal(s, t) for (i, s), (j, t) in zip(bars_band, bars_alone))
    melody = lambda heard: [(e.tick, e.pitch, e.velocity) for e, _ in heard if e.channel == 0]
    assert melody(heard_band) == melody(heard_alone)

    # every note-on ends, on every channel, a re-decode included; no note is struck twice or ended twice
    sounding: set[tuple[int, int]] = set()
    for i, (e, _) in enumerate(heard_band):
        key = (e.channel, e.pitch)
        if e.velocity:
            assert key not in sounding, f"event {i}: {key} struck while sounding"
            sounding.add(key)
        else:
            assert key in sounding, f"event {i}: note-off of {key}, which is not sounding"
            sounding.discard(key)
    assert not sounding, f"still sounding after the last bar: {sorted(sounding)}"
    assert all(not pitches for pitches in p_band._sounding.values())
    assert p_band.notes_played["melody"] == sum(1 for e, _ in heard_band if e.velocity and e.channel == 0)
    assert all(p_band.notes_played[name] > 0 for name in EVERY)
    assert max(abs(late) for _, late in heard_band) <= 1 and p_band.off_grid == p_alone.off_grid

    # the cost on the engine's thread: a few ms a bar (printed for the record, bounded loosely)
    cost = np.asarray(band.counters.layers_ms)
    print(f"layers per bar: median {np.median(cost):.1f} ms, max {cost.max():.1f} ms over {len(cost)} bars")
    assert np.median(cost) < 50
    for engine, player in ((alone, p_alone), (band, p_band)):
        engine.close()
        player.close()


def test_a_replacement_ends_the_chords_and_bass_it_takes_back(tmp_path):
    """Chords (polyphonic) and a bass note (one voice) whose note-offs a replacement takes back end just
    before it, and a chord note that would start then is not struck; the melody's note carries on (its
    note-off comes with the new events)."""
    player, played = hand_player(tmp_path, band=band_for(layers=EVERY))
    harmony, bass = CHANNELS["harmony"], CHANNELS["bass"]
    player.schedule([NoteEvent(100, p, 60, 100, channel=harmony) for p in (50, 54, 57)] +
                    [NoteEvent(899, p, 0, 899, channel=harmony) for p in (50, 54, 57)] +
                    [NoteEvent(100, 38, 80, 100, channel=bass), NoteEvent(899, 38, 0, 899, channel=bass),
                     NoteEvent(100, 62, 90, 100), NoteEvent(899, 62, 0, 899),
                     NoteEvent(499, 45, 60, 499, channel=harmony), NoteEvent(700, 45, 0, 700, channel=harmony)])
    player.render(int(0.3 * RATE))
    player.replace_from(500, [NoteEvent(500, 50, 60, 500, channel=harmony), NoteEvent(699, 50, 0, 699, channel=harmony),
                              NoteEvent(699, 62, 0, 699)])
    player.render(int(0.8 * RATE))
    offs = [(e.tick, e.channel, e.pitch) for e, _ in played if not e.velocity]
    assert sorted(offs) == sorted([(499, bass, 38), (499, harmony, 50), (499, harmony, 54), (499, harmony, 57),
                                   (699, 0, 62), (699, harmony, 50)])
    assert 45 not in {e.pitch for e, _ in played}  # it would have started as the others end: never struck
    assert all(not pitches for pitches in player._sounding.values())
    player.close()


def test_a_layers_level_over_osc_is_its_channels_volume(tmp_path, caplog):
    """/score-av/layer NAME LEVEL through OSC in and the runner's Controls: CC 7 of the layer's channel is
    127 x the level x the master volume; a layer that is unknown or does not play, or a bad level, is a
    warning (bad messages to one address: one warning every 10 s), and the server goes on."""
    player, _ = hand_player(tmp_path, band=band_for(layers=("melody", "bass", "harmony")))

    class Run:  # what Controls reaches: the run's player
        pass

    run = Run()
    run.player = player
    server = OscIn(Controls(run), port=0)
    server.start()
    client = SimpleUDPClient(*server.address)

    def cc7(channel, value):
        deadline = time.monotonic() + WAIT
        while player.synth.get_cc(channel, 7) != value and time.monotonic() < deadline:
            time.sleep(0.01)
        return player.synth.get_cc(channel, 7)

    bass, harmony = CHANNELS["bass"], CHANNELS["harmony"]
    assert cc7(bass, round(127 * 0.8)) == 102 and cc7(harmony, round(127 * 0.6)) == 76  # the band's levels at start
    caplog.set_level(logging.WARNING, logger="score_av.live.osc")
    client.send_message("/score-av/layer", ["bass", 0])
    assert cc7(bass, 0) == 0
    client.send_message("/score-av/layer", ["bass", 0.5])
    assert cc7(bass, 64) == 64 and player.synth.get_cc(harmony, 7) == 76
    for bad in (["piano", 0.5], ["drums", 0.5], ["bass", 1.5], ["bass", "loud"], ["bass"], [3, 0.5]):
        client.send_message("/score-av/layer", bad)
    client.send_message("/score-av/layer", ["harmony", 1.0])
    assert cc7(harmony, 127) == 127 and player.synth.get_cc(bass, 7) == 64  # nothing bad got through
    player.set_volume(0.5)  # the master volume scales every layer
    assert player.synth.get_cc(harmony, 7) == 64 and player.synth.get_cc(bass, 7) == 32
    text = caplog.text
    assert "ignored: got unknown layer 'piano'" in text and "refused: layer 'drums' does not play" in text
    assert not [r for r in caplog.records if r.levelno > logging.WARNING]  # warned about, no error
    server.stop()
    client.close()
    player.close()


def test_the_note_sent_over_osc_names_its_layer(tmp_path, receiver):
    (host, port), received = receiver
    out = OscOut(host, port)
    out.send_note(40, 80, 0.5, NoteEvent(0, 40, 80, 0, 500, CHANNELS["bass"]).layer)
    out.send_note(60, 90, 0.25)
    assert received.get(timeout=WAIT) == ("/score-av/note", (40, 80, 0.5, "bass"))
    assert received.get(timeout=WAIT) == ("/score-av/note", (60, 90, 0.25, "melody"))
    assert NoteEvent(0, 42, 90, 0, channel=9).layer == "drums" and NoteEvent(0, 60, 90, 0).layer == "melody"
    out.close()


def test_the_runner_sends_each_layer_on_its_channel_and_says_which_play(tmp_path, models, receiver):
    """LiveRun with a preset and --layers: every layer's instrument on its channel on MIDI out at the
    start (the drums' kit is channel 10's own), each note on its layer's channel with the layer named
    in /score-av/note, and the stats name the layers that play."""
    from installations.live.config import read_config
    from installations.live.runner import LiveRun
    from score_av.clips import write_clip

    from conftest import moving_frames
    from test_live_wiring import RecordingPort

    (host, port), received = receiver
    clip = write_clip(tmp_path / "room.mp4", moving_frames(10, 160, 120), 25)
    config = read_config(None, dict(source=str(clip), audio_driver="file", wav=tmp_path / "heard.wav", osc_in="off",
                                    osc=f"{host}:{port}", preset="folk", layers="melody,bass,drums"))
    midi = RecordingPort()
    run = LiveRun(config, models=models, midi_port=midi)
    try:
        run._midi_programs()
        for layer in ("melody", "bass", "drums"):
            run._note(NoteEvent(0, 40, 90, 0, 500, CHANNELS[layer]), 0)
        run._note(NoteEvent(500, 40, 0, 500, channel=CHANNELS["bass"]), 0)
        figures = run.figures()
    finally:
        run.player.discard()
        run.osc_out.close()
    assert [(m.type, m.channel, getattr(m, "program", None)) for m in midi.messages] == [
        ("program_change", 0, 40), ("program_change", 2, 32),  # folk's fiddle and acoustic bass
        ("note_on", 0, None), ("note_on", 2, None), ("note_on", 9, None), ("note_off", 2, None)]
    assert [received.get(timeout=WAIT) for _ in range(3)] == [("/score-av/note", (40, 90, 0.5, layer))
                                                              for layer in ("melody", "bass", "drums")]
    assert figures["layers"] == ["melody", "bass", "drums"]
    assert figures["layer_levels"] == {"melody": 1.0, "bass": 0.8, "drums": 0.5}


def test_an_unknown_layer_on_the_command_line_is_one_line(capsys, here):  # noqa: F811 - the fixture
    FILE = ("--audio-driver", "file", "--wav", "heard.wav", "--duration", "2")
    assert "--layers: unknown layer piano; choose from melody, bass, harmony, drums" in \
        one_line_error(capsys, *FILE, "--layers", "piano")
    assert "--layers must include melody" in one_line_error(capsys, *FILE, "--layers", "bass,drums")
    assert "--preset nope: no such preset" in one_line_error(capsys, *FILE, "--preset", "nope")
    config = here / "live.toml"
    config.write_text('layers = ["melody", "tuba"]\n')
    assert "unknown layer tuba" in one_line_error(capsys, "--config", config, *FILE)
    config.write_text('layers = 3\n')
    assert "layers = 3: expected a list of layers" in one_line_error(capsys, "--config", config, *FILE)
    assert sorted(p.name for p in here.iterdir()) == ["bad.toml", "live.toml", "notes.txt"]  # nothing written


def test_the_config_chooses_the_band_as_render_does(tmp_path):
    from installations.live.config import read_config

    path = tmp_path / "live.toml"
    path.write_text('preset = "folk"\nlayers = ["melody", "bass"]\n')
    band = read_config(path).band()
    assert band.layers == ("melody", "bass") and band.part("melody").program == 40  # the preset's fiddle
    assert read_config(path, {"program": 73, "layers": "melody,drums"}).band().layers == ("melody", "drums")
    assert read_config(path, {"program": 73}).band().part("melody").program == 73  # the command line wins
    assert read_config(None).band().layers == ("melody",)  # the melody alone by default


def test_the_per_bar_helpers_are_the_offline_functions_bar_by_bar():
    """Live decides bar by bar what the offline arrangement computes over a whole clip: the same codes,
    levels, fills and crashes."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = 24
        motion, brightness = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
        jumps = rng.uniform(size=n) < 0.25
        jumps[0] = False
        starts = np.maximum.accumulate(np.where(jumps, np.arange(n), 0))
        z, before = [], None
        for k in range(n):
            before = steer_bar(motion[k], brightness[k], before if k and starts[k] == starts[k - 1] else None)
            z.append(before)
        np.testing.assert_allclose(np.array(z), bass_steering(motion, brightness, starts), atol=1e-6)
        level, got = None, []
        for k in range(n):
            level = next_level(motion[k], level)
            got.append(level)
        assert got == levels(motion, 2).tolist()
        assert [cut_into(k, starts[k], starts[k - 1] if k else None) for k in range(n)] == cuts(starts).tolist()
        expected = fills(starts)
        for k in range(n):
            cut_next = k + 1 < n and cut_into(k + 1, starts[k + 1], starts[k])
            assert phrase_fill(k - starts[k], cut_next) == expected[k], (k, starts)
