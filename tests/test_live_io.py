"""OSC in and out and MIDI out of `score-av live` (installations/live/osc.py, midi_out.py).

OSC is tested over real UDP sockets on the loopback interface: real pythonosc clients and servers
on both ends, each server on a free port (port 0). `open_midi_out` is tested for what it must do
on a machine without a MIDI system (one warning, None, no exception), and `MidiOut` with a
recording port, a fake of mido's port interface only (`send`, `close`); the messages it records
are real mido messages. The runner's wiring of both, end to end, and MIDI out through a real
virtual port where the machine has an ALSA sequencer: tests/test_live_wiring.py.
"""
from __future__ import annotations

import logging
import queue
import socket

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from installations.live.midi_out import MidiOut, open_midi_out
from installations.live.osc import OscConfigError, OscIn, OscOut, parse_host_port
from modelkit.errors import UserError

WAIT = 2.0  # seconds to wait for one datagram on loopback


class RecordingControls:
    """Controls that record every call; the model "unknown" is refused like a real unknown name,
    and the style "boom" fails like a bug would."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[str, object]] = queue.Queue()

    def set_tempo(self, bpm: float) -> None:
        self.calls.put(("set_tempo", bpm))

    def set_model(self, name: str) -> None:
        if name == "unknown":
            raise ValueError("no model named 'unknown'; known: vae, flat, musae")
        self.calls.put(("set_model", name))

    def set_style(self, name: str | None) -> None:
        if name == "boom":
            raise RuntimeError("boom")
        self.calls.put(("set_style", name))

    def set_volume(self, volume: float) -> None:
        self.calls.put(("set_volume", volume))

    def set_mute(self, muted: bool) -> None:
        self.calls.put(("set_mute", muted))

    def next_call(self) -> tuple[str, object]:
        return self.calls.get(timeout=WAIT)


@pytest.fixture
def osc_in():
    controls = RecordingControls()
    server = OscIn(controls, port=0)
    server.start()
    client = SimpleUDPClient(*server.address)
    yield controls, client, server
    server.stop()
    client.close()


# ---------------------------------------------------------------------------------------------
# OSC in
# ---------------------------------------------------------------------------------------------

GOOD = [
    ("/score-av/tempo", 90.0, ("set_tempo", 90.0)),
    ("/score-av/tempo", 120, ("set_tempo", 120.0)),           # an int is a number too
    ("/score-av/model", "flat", ("set_model", "flat")),
    ("/score-av/style", "bach", ("set_style", "bach")),
    ("/score-av/style", "", ("set_style", None)),
    ("/score-av/style", "none", ("set_style", None)),
    ("/score-av/volume", 0.5, ("set_volume", 0.5)),
    ("/score-av/volume", 0, ("set_volume", 0.0)),
    ("/score-av/mute", 1, ("set_mute", True)),
    ("/score-av/mute", 0, ("set_mute", False)),
    ("/score-av/mute", True, ("set_mute", True)),             # OSC T
    ("/score-av/mute", False, ("set_mute", False)),           # OSC F
]


def test_osc_in_applies_each_control_with_its_parsed_value(osc_in):
    controls, client, _ = osc_in
    for address, value, expected in GOOD:
        client.send_message(address, value)
        method, got = controls.next_call()
        assert (method, got) == expected, address
        assert type(got) is type(expected[1])


BAD = [
    ("/score-av/tempo", "fast"),        # wrong type
    ("/score-av/tempo", 500.0),         # out of range
    ("/score-av/tempo", 10),
    ("/score-av/tempo", [100.0, 2.0]),  # two arguments
    ("/score-av/tempo", []),            # none
    ("/score-av/volume", 1.5),
    ("/score-av/volume", -0.1),
    ("/score-av/volume", "loud"),
    ("/score-av/volume", float("nan")),
    ("/score-av/mute", 2),
    ("/score-av/mute", "yes"),
    ("/score-av/model", 3),
    ("/score-av/model", ""),
    ("/score-av/style", 1.0),
    ("/score-av/nope", 1.0),            # unknown addresses
    ("/other/tempo", 100.0),
]


def test_osc_in_ignores_bad_messages_and_goes_on(osc_in, caplog):
    controls, client, server = osc_in
    caplog.set_level(logging.WARNING, logger="score_av.live.osc")
    for i, (address, value) in enumerate(BAD):
        client.send_message(address, value)
        good = 0.01 * (i + 1)
        client.send_message("/score-av/volume", good)   # the next good message is the next call
        assert controls.next_call() == ("set_volume", pytest.approx(good)), (address, value)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:   # not OSC at all
        raw.sendto(b"\x00garbage", server.address)
    client.send_message("/score-av/tempo", 100.0)
    assert controls.next_call() == ("set_tempo", 100.0)
    assert controls.calls.empty()
    text = caplog.text
    assert "expected one number, 20 to 300 (bpm)" in text
    assert "/score-av/nope ignored: unknown address" in text
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_osc_in_goes_on_when_a_control_raises(osc_in, caplog):
    controls, client, _ = osc_in
    client.send_message("/score-av/model", "unknown")   # ValueError: refused, logged
    client.send_message("/score-av/style", "boom")      # RuntimeError: logged with its traceback
    client.send_message("/score-av/model", "vae")
    assert controls.next_call() == ("set_model", "vae")
    assert controls.calls.empty()
    assert "refused: no model named 'unknown'" in caplog.text
    assert "/score-av/style 'boom' failed" in caplog.text


def test_osc_in_listens_on_loopback_by_default_and_says_when_the_port_is_taken():
    first = OscIn(RecordingControls(), port=0)
    assert first.host == "127.0.0.1"
    with first:
        host, port = first.address
        assert host == "127.0.0.1" and port > 0
        with pytest.raises(OscConfigError, match=f"cannot listen for OSC on 127.0.0.1:{port}") as info:
            OscIn(RecordingControls(), port=port).start()
        assert isinstance(info.value, UserError)
    first.stop()  # a second stop does nothing


# ---------------------------------------------------------------------------------------------
# OSC out
# ---------------------------------------------------------------------------------------------

def test_osc_out_sends_code_note_bar_and_state(receiver):
    (host, port), received = receiver
    out = OscOut(host, port)
    code = np.random.default_rng(0).standard_normal(32).astype(np.float32)
    tokens = np.array([60, 129, 128, 128, 62, 129, 64, 129, 65, 128, 128, 128, 67, 129, 129, 129])
    out.send_code(7, code)
    out.send_note(np.int64(60), 100, 0.375)
    out.send_bar(np.int64(7), tokens)
    out.send_state("live")

    address, args = received.get(timeout=WAIT)
    assert address == "/score-av/code" and args[0] == 7 and len(args) == 33
    np.testing.assert_allclose(np.array(args[1:], dtype=np.float32), code, atol=1e-6)
    assert received.get(timeout=WAIT) == ("/score-av/note", (60, 100, 0.375, "melody"))  # the layer last
    assert received.get(timeout=WAIT) == ("/score-av/bar", (7, *tokens.tolist()))
    assert received.get(timeout=WAIT) == ("/score-av/state", ("live",))
    out.close()


def test_osc_out_never_raises_and_logs_once_per_kind(receiver, caplog):
    (host, port), received = receiver
    out = OscOut(host, port)
    for _ in range(3):
        out.send_note(float("nan"), 100, 0.5)            # cannot be made into a message
    assert len([r for r in caplog.records if "/score-av/note" in r.getMessage()]) == 1
    out.send_state("live")                                 # the next good one still goes
    assert received.get(timeout=WAIT) == ("/score-av/state", ("live",))
    out.close()
    for _ in range(3):
        out.send_state("lost")                             # a closed socket: logged once, dropped
    assert len([r for r in caplog.records if "/score-av/state" in r.getMessage()]) == 1


def test_osc_out_says_when_the_host_is_unknown():
    with pytest.raises(OscConfigError, match="cannot send OSC to no-such-host.invalid:9000"):
        OscOut("no-such-host.invalid", 9000)


# ---------------------------------------------------------------------------------------------
# parse_host_port
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("192.168.1.20:9000", ("192.168.1.20", 9000)),
    ("localhost:57120", ("localhost", 57120)),
    (":9001", ("127.0.0.1", 9001)),
    ("9001", ("127.0.0.1", 9001)),
    (" 9001 ", ("127.0.0.1", 9001)),
    ("[::1]:9000", ("::1", 9000)),
])
def test_parse_host_port(text, expected):
    assert parse_host_port(text) == expected


def test_parse_host_port_default_host():
    assert parse_host_port("9000", default_host="0.0.0.0") == ("0.0.0.0", 9000)


@pytest.mark.parametrize("text, message", [
    ("", "is not a number"),
    ("host:", "is not a number"),
    ("host:port", "'port' is not a number"),
    ("9000:host", "is not a number"),
    ("-1", "is not a number"),
    ("0", "1-65535"),
    ("70000", "1-65535"),
    ("[::1]9000", "expected"),
])
def test_parse_host_port_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_host_port(text)
    assert 'expected "HOST:PORT"' in str(info.value) or "1-65535" in str(info.value)
    assert isinstance(info.value, UserError)


# ---------------------------------------------------------------------------------------------
# MIDI out
# ---------------------------------------------------------------------------------------------

def test_open_midi_out_without_a_midi_system_warns_once_and_returns_none(caplog):
    caplog.set_level(logging.INFO, logger="score_av.live.midi")
    midi = open_midi_out("score-av")
    if midi is not None:  # a machine with a MIDI system: the port opened, which is also right
        midi.close()
        pytest.skip("this machine has a MIDI system")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "going on without MIDI" in warnings[0].getMessage()
    assert "ALSA sequencer" in warnings[0].getMessage()


class RecordingPort:
    """A fake of mido's output port interface (send, close) that records what it is given."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list = []
        self.closed = False

    def send(self, msg) -> None:
        if self.closed:
            raise OSError("port closed")
        self.sent.append(msg)

    def close(self) -> None:
        self.closed = True


def test_midi_out_sends_mido_messages_and_close_silences_every_channel_used():
    port = RecordingPort()
    midi = MidiOut(port)
    midi.program(40, channel=1)
    midi.note_on(60, 100)
    midi.note_on(64, 200, channel=1)            # velocity clipped to 127
    midi.control(7, 90)
    midi.note_off(60)
    assert [m.dict() for m in port.sent] == [
        {"type": "program_change", "channel": 1, "program": 40, "time": 0},
        {"type": "note_on", "channel": 0, "note": 60, "velocity": 100, "time": 0},
        {"type": "note_on", "channel": 1, "note": 64, "velocity": 127, "time": 0},
        {"type": "control_change", "channel": 0, "control": 7, "value": 90, "time": 0},
        {"type": "note_off", "channel": 0, "note": 60, "velocity": 0, "time": 0},
    ]
    port.sent.clear()
    midi.close()
    assert [(m.type, m.channel, m.control, m.value) for m in port.sent] == [
        ("control_change", 0, 123, 0), ("control_change", 1, 123, 0)]
    assert port.closed
    midi.note_on(60, 100)                       # after close: nothing, no error
    midi.close()
    assert len(port.sent) == 2


def test_midi_out_never_raises_and_logs_once(caplog):
    port = RecordingPort()
    midi = MidiOut(port)
    midi.note_on(200, 100)                      # no such pitch: dropped
    midi.note_on(float("nan"), 100)
    midi.program(128)
    midi.note_on(60, 100, channel=16)
    assert port.sent == []
    assert len(caplog.records) == 1 and "MIDI out recording" in caplog.text
    port.closed = True                          # the port fails (a device unplugged)
    for _ in range(3):
        midi.note_on(60, 100)
    assert len(caplog.records) == 2 and "OSError" in caplog.records[1].getMessage()
