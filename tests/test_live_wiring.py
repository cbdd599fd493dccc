"""The runner's wiring end to end (installations/live/runner.py): a real clip played in real time
by `LiveRun`, and what plays received where an artist's tools would receive it.

OSC out goes to a real pythonosc server on a free loopback UDP port, which decodes every message
the runner sends (/score-av/code, /bar, /note, /state). MIDI out goes to a port handed in through
the runner's seam for it (`LiveRun(..., midi_port=...)`), one that records the real mido messages
it is sent, so the runner's MIDI wiring is tested on every machine; where the machine has an ALSA
sequencer (/dev/snd/seq), the notes also go through a real virtual port to a real input port.

Runs are short (a few seconds at 240 bpm, one bar a second) and the audio goes to the file
driver: nothing here needs a sound card, and nothing asserts a real-time figure.
"""
from __future__ import annotations

import gc
import logging
import os
import queue
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from installations.live.config import LiveConfigError, read_config
from installations.live.runner import LiveRun
from music_vae.representation import MAX_PITCH, MIN_PITCH, STEPS_PER_BAR

from conftest import moving_frames

BPM = 240          # one bar a second: several bars in a short run
SECONDS = 4.0
SEQ = Path("/dev/snd/seq")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from score_av.clips import write_clip

    return write_clip(tmp_path_factory.mktemp("wiring") / "room.mp4", moving_frames(50, 160, 120), 25)


def drain(received: queue.Queue, settle: float = 0.5) -> list[tuple[str, tuple]]:
    """Every message received so far, waiting until none has come for `settle` seconds."""
    got = []
    while True:
        try:
            got.append(received.get(timeout=settle))
        except queue.Empty:
            return got


class RecordingPort:
    """An output port with mido's interface (send, close) that records each message and when it came."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[float, object]] = []
        self.closed = False

    def send(self, msg) -> None:
        self.sent.append((time.monotonic(), msg))

    def close(self) -> None:
        self.closed = True

    @property
    def messages(self) -> list:
        return [m for _, m in self.sent]


def play(run: LiveRun, seconds: float = SECONDS) -> dict:
    """Run to its configured duration (about `seconds`) on a thread of its own (signals stay pytest's); the figures."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(run.run(threading.Event())))
    worker.start()
    worker.join(timeout=seconds + 30)
    assert not worker.is_alive(), "the run did not stop"
    return result


def live_config(tmp_path, clip, **settings):
    return read_config(None, dict(source=str(clip), audio_driver="file", wav=tmp_path / "heard.wav", bpm=BPM,
                                  duration=SECONDS, osc_in="off", **settings))


def test_what_plays_reaches_osc_out_and_midi_out(tmp_path, models, clip, receiver):
    (host, port), received = receiver
    midi = RecordingPort()
    run = LiveRun(live_config(tmp_path, clip, osc=f"{host}:{port}"), models=models, midi_port=midi)
    figures = play(run)
    messages = drain(received)
    # start-up's objects (torch, OpenCV, the models) are out of the cyclic collector's sight, so a
    # full collection during the run walks only what the run made (it starved the audio thread)
    assert gc.get_freeze_count() > 50_000
    by = {address: [args for a, args in messages if a == address]
          for address in ("/score-av/code", "/score-av/bar", "/score-av/note", "/score-av/state", "/score-av/people")}
    assert {a for a, _ in messages} <= set(by), "only the documented addresses are sent"

    # /state: the camera's (here the file's) story, from the runner's on_state
    states = by["/score-av/state"]
    assert states[:1] == [("live",)] and states[-1:] == [("stopped",)], states

    # /code and /bar: one of each per bar scheduled, in order, the code as long as the model's
    codes, bars = by["/score-av/code"], by["/score-av/bar"]
    assert figures["bars_played"] >= 3
    assert sorted({c[0] for c in codes}) == list(range(figures["bars_played"]))
    assert [c[0] for c in codes] == [b[0] for b in bars]
    for code in codes:
        assert len(code) == 1 + models.music.latent_dim and all(isinstance(v, float) for v in code[1:])
        assert np.isfinite(code[1:]).all() and np.abs(code[1:]).max() > 0
    for bar in bars:
        assert len(bar) == 1 + STEPS_PER_BAR and all(isinstance(t, int) for t in bar)

    # /note and MIDI out: every note that sounded, the same notes in the same order on both
    notes = by["/score-av/note"]
    note_ons = [m for m in midi.messages if m.type == "note_on"]
    assert len(note_ons) >= 3
    assert [(m.note, m.velocity) for m in note_ons] == [(pitch, velocity) for pitch, velocity, _, _ in notes]
    for pitch, velocity, seconds, layer in notes:
        assert MIN_PITCH <= pitch <= MAX_PITCH and 1 <= velocity <= 127 and layer == "melody"
        assert 0 < seconds <= 240 / BPM  # a note lasts at most its bar
    assert all(m.channel == 0 for m in note_ons)

    # each note ends on MIDI as it ends in the music: one melody, so every note is off before the
    # next starts, even when the picture changed and the rest of the bar was taken back and decoded
    # again (nothing hangs on a synth that listens); the note sounding at the stop ends with CC 123
    sounding: set[int] = set()
    for i, m in enumerate(midi.messages):
        if m.type == "note_on":
            assert not sounding, f"message {i}: note {m.note} starts while {sounding} still sound"
            sounding.add(m.note)
        elif m.type == "note_off":
            assert m.note in sounding, f"message {i}: note-off of {m.note}, which is not sounding"
            sounding.discard(m.note)

    # sent as the notes play (from the audio thread, at their ticks), not all at once
    on_times = [t for t, m in midi.sent if m.type == "note_on"]
    assert on_times[-1] - on_times[0] >= 1.0

    # the stop: all notes off on the channel used, then the port closed
    assert midi.messages[-1].dict() == {"type": "control_change", "channel": 0, "control": 123, "value": 0, "time": 0}
    assert midi.closed


def test_a_missing_source_is_an_error_unless_it_is_to_be_waited_for(tmp_path, models, caplog):
    missing = tmp_path / "cam" / "later.mp4"
    config = read_config(None, dict(source=str(missing), audio_driver="file", wav=tmp_path / "heard.wav",
                                    duration=1.5, osc_in="off"))
    with pytest.raises(LiveConfigError, match="later.mp4: no such file; to wait for a source"):
        LiveRun(config, models=models)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary WAV

    caplog.set_level(logging.INFO, logger="score_av")
    run = LiveRun(read_config(None, {**vars(config), "wait_for_source": True}), models=models)
    figures = play(run)
    assert figures["bars_played"] >= 1 and figures["frames_in"] == 0  # the music drifts on its own
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("waiting for it" in w for w in warnings) == 1, warnings
    assert sum("no picture at start-up" in w for w in warnings) == 1, warnings
    assert (tmp_path / "heard.wav").exists()


NO_SEQUENCER = (f"this machine has no ALSA sequencer ({SEQ} is missing; `sudo modprobe snd-seq` where the kernel "
                "has it): MIDI out cannot open a real port here, and the runner's MIDI wiring is tested with a "
                "recording port instead (test_what_plays_reaches_osc_out_and_midi_out)")


@pytest.mark.skipif(not SEQ.exists(), reason=NO_SEQUENCER)
def test_midi_out_reaches_a_real_virtual_port(tmp_path, models, clip, receiver):
    """`--midi-out NAME` with no port of that name: the runner creates a virtual port, and another
    program (here a mido input on the same ALSA sequencer) that connects to it hears every note."""
    import mido

    (host, port), osc = receiver
    backend = mido.Backend("mido.backends.rtmidi", load=True)
    name = f"score-av-test-{os.getpid()}"
    run = LiveRun(live_config(tmp_path, clip, osc=f"{host}:{port}", midi_out=name), models=models)
    assert run.midi is not None, "the machine has an ALSA sequencer, yet MIDI out did not open"
    inputs = [n for n in backend.get_input_names() if name in n]
    assert inputs, f"no port named {name} among {backend.get_input_names()}"
    heard: queue.Queue = queue.Queue()
    with backend.open_input(inputs[0], callback=heard.put):
        play(run)
        got = drain(heard)
    notes = [args for address, args in drain(osc) if address == "/score-av/note"]
    note_ons = [m for m in got if m.type == "note_on" and m.velocity > 0]
    assert len(note_ons) >= 3
    assert [(m.note, m.velocity) for m in note_ons] == [(pitch, velocity) for pitch, velocity, _, _ in notes]
    assert any(m.type == "control_change" and m.control == 123 for m in got)  # all notes off at the stop


@pytest.mark.skipif(not SEQ.exists(), reason=NO_SEQUENCER)
def test_midi_out_opens_an_existing_port_by_part_of_its_name():
    """A port that is already there (a synth's input, an IAC bus) is opened, not shadowed by a virtual one."""
    import mido

    from installations.live.midi_out import open_midi_out

    backend = mido.Backend("mido.backends.rtmidi", load=True)
    name = f"score-av-synth-{os.getpid()}"
    heard: queue.Queue = queue.Queue()
    with backend.open_input(name, virtual=True, callback=heard.put):
        midi = open_midi_out(name.upper())  # any case
        assert midi is not None and name in midi.name
        midi.note_on(60, 100)
        midi.note_off(60)
        midi.close()
        got = drain(heard)
    assert [(m.type, m.note) for m in got if m.type in ("note_on", "note_off")] == [("note_on", 60), ("note_off", 60)]
