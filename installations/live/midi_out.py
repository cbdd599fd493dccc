"""MIDI out for `score-av live`: the notes that play, to a synth, a DAW or a lighting desk.

Through mido with the python-rtmidi backend. `open_midi_out("score-av")` opens an existing output
whose name contains "score-av" (an IAC bus, a loopMIDI port, a hardware interface), or else
creates a virtual port of that name for other programs to connect to. MIDI is an extra for the
installation, never a reason to stop: where the machine has no MIDI system it says so once and
the caller goes on without it, and once open, a failing port is logged, never raised.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

import mido

log = logging.getLogger("score_av.live.midi")

BACKEND = "mido.backends.rtmidi"
ALL_NOTES_OFF = 123  # the channel-mode control change that silences a channel's notes
CLIPPED = ("velocity", "value")  # clipped to 0..127; any other value out of range is dropped

NO_MIDI_HELP = ("MIDI out needs python-rtmidi and a MIDI system: on Linux the ALSA sequencer "
                "(/dev/snd/seq; `sudo modprobe snd-seq`, and libasound2), on macOS CoreMIDI, on "
                "Windows a loopMIDI port to open by name (Windows has no virtual ports)")


class Port(Protocol):
    """What MidiOut needs of a port: mido's output port interface."""

    def send(self, msg: mido.Message) -> None: ...

    def close(self) -> None: ...


class MidiOut:
    """An open MIDI output. Every method is safe in the real-time path: a value out of range or
    a port that fails is logged once per kind of error and the message is dropped.

    Velocity and controller values are clipped to 0..127 (a loudness computed from motion may
    overshoot; a clipped note is better than a missing one); a bad pitch, number or channel is
    dropped. The channels used are remembered so that `all_notes_off` reaches every one of them.
    """

    def __init__(self, port: Port) -> None:
        self.port = port
        self.channels: set[int] = set()
        self.closed = False
        self._reported: set[str] = set()

    @property
    def name(self) -> str:
        return str(getattr(self.port, "name", "MIDI out"))

    def note_on(self, pitch: int, velocity: int, channel: int = 0) -> None:
        self._send("note_on", channel, note=pitch, velocity=velocity)

    def note_off(self, pitch: int, channel: int = 0) -> None:
        self._send("note_off", channel, note=pitch, velocity=0)

    def control(self, number: int, value: int, channel: int = 0) -> None:
        self._send("control_change", channel, control=number, value=value)

    def program(self, number: int, channel: int = 0) -> None:
        self._send("program_change", channel, program=number)

    def all_notes_off(self) -> None:
        """CC 123 on every channel used, so that nothing hangs when the music stops or is muted."""
        for channel in sorted(self.channels):
            self._send("control_change", channel, control=ALL_NOTES_OFF, value=0)

    def close(self) -> None:
        """All notes off, then close the port. Later calls do nothing."""
        if self.closed:
            return
        self.all_notes_off()
        self.closed = True
        try:
            self.port.close()
        except Exception as exc:  # noqa: BLE001 - closing must not raise either
            self._report(exc)

    def _send(self, kind: str, channel: int, **values: Any) -> None:
        if self.closed:
            return
        try:
            values = {key: _clip(v) if key in CLIPPED else int(v) for key, v in values.items()}
            msg = mido.Message(kind, channel=int(channel), **values)
            self.port.send(msg)
        except Exception as exc:  # noqa: BLE001 - the real-time path must never see an error
            self._report(exc)
            return
        self.channels.add(msg.channel)

    def _report(self, exc: Exception) -> None:
        kind = type(exc).__name__
        if kind not in self._reported:
            self._reported.add(kind)
            log.warning("MIDI out %s: message dropped (%s: %s); further %s errors are not logged",
                        self.name, kind, exc, kind)


def _clip(value: float) -> int:
    return min(127, max(0, int(value)))


def open_midi_out(name: str) -> MidiOut | None:
    """Open the output whose name contains `name` (any case), or create a virtual port `name`.

    Returns None, after one warning that says what to install or check, where there is no MIDI
    system (no ALSA sequencer, python-rtmidi missing): MIDI is optional for the installation.
    """
    try:
        backend = mido.Backend(BACKEND, load=True)
        existing = [port for port in backend.get_output_names() if name.lower() in port.lower()]
        if existing:
            port = backend.open_output(existing[0])
        else:
            port = backend.open_output(name, virtual=True)
    except (ImportError, OSError, RuntimeError, SystemError) as exc:  # rtmidi's errors are OSErrors
        log.warning("no MIDI out (%s: %s); going on without MIDI. %s",
                    type(exc).__name__, str(exc).strip() or "no detail", NO_MIDI_HELP)
        return None
    log.info("MIDI out on %r%s", port.name, "" if existing else " (a virtual port)")
    return MidiOut(port)
