"""Notes to the loudspeaker at exact times: FluidSynth's sequencer, driven by the audio it renders.

The sequencer runs on the synth's own sample clock (`use_system_timer` off): an event scheduled
for tick t (milliseconds of audio) is played in the 64-sample block that holds t, whatever Python is
doing at that moment. Nothing here sleeps to time a note. The engine schedules each bar as it is
decoded, and it can take back every note not yet played when the picture changes
(`replace_from`). FluidSynth removes events only all at once, so the player keeps a mirror of what
it has scheduled: everything still to come is removed, and what is kept is sent again. An event
whose tick has passed by then is sent at once, and how late it plays is counted as its jitter.

Audio goes out through FluidSynth's own driver (alsa, pulseaudio, jack, coreaudio), with a buffer
of `periods` x `period_size` samples (`--audio-periods`, `--period-size`): what is rendered ahead of
the loudspeaker, so the least time anything new takes to be heard. The `file` driver stands in for
a sound card where there is none, with the same buffer: a thread renders a period at a time, paced
by the wall clock and the buffer ahead of it, and writes what would be heard to a WAV. It counts an
underrun whenever it falls behind and a real device would have run dry, and says so in the log (the
first few, then every 100th).

Each note is one timer event for a sequencer client of ours. At the note's tick the sequencer calls
it, from inside the audio rendering, and it plays the note on the synth right there. It does
what FluidSynth's own synth client would, at the same sample. It then sends the note on (MIDI
out, OSC) and records how late it came against the tick it was scheduled for (`jitter_ms`, the
note jitter the stats report: every note-on, answers off the grid included). A note the engine
strikes off the music's grid on purpose (its tick is not its `grid_tick`: an answer to the
picture that does not wait for the next sixteenth) is also counted on its own (`off_grid_ms`: how
far from its grid tick it was scheduled). With one destination, one removal takes back exactly
what has not sounded yet.

Each layer of the band (score_av/band.py) plays on its own channel (band.CHANNELS: melody 0,
harmony 1, bass 2, drums 9 on the kit's bank 128), on its own program, its level the channel's
volume (CC 7: level x the master volume, 0 when muted or the layer's level is 0); expression
(CC 11) moves every channel in use. The melody and the bass are one voice each (a note ends the
one sounding on its channel); the harmony's chords and the drums are polyphonic and end by their
own note-offs. A replacement (`replace_from`) takes back the layers' note-offs with the rest: the
notes they would have ended are ended just before the replacement's tick, and the engine strikes
again what is to sound on. Only the melody's note sounding then carries on (its note-off comes
with the new bar, whose first notes are the ones already played).
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from score_av.band import CHANNELS, Band
from score_av.synth import SynthError, WavWriter, _load_fluidsynth, find_soundfont

from .stats import Recent

log = logging.getLogger("score_av.live.player")

DRIVERS = ("alsa", "pulseaudio", "jack", "coreaudio", "file")
TICKS_PER_SECOND = 1000     # sequencer time unit: ms. FluidSynth's tick is a uint32: it wraps after 49.7 days,
                            # so an installation restarts within that (the unit file's RuntimeMaxSec)
PERIOD_SIZE = 128           # samples the audio is rendered in at a time, a period (2.9 ms at 44.1 kHz)
PERIODS = 6                 # periods in the device's buffer: what is rendered ahead of the loudspeaker (17.4 ms;
                            # 46 ms before the audio thread ran real-time and the GIL changed hands every 0.5 ms;
                            # at 4, 11.6 ms, the live process's own GIL waits of 12-16 ms still ran it dry)
CHANNEL = CHANNELS["melody"]  # the melody's channel (each layer's: score_av.band.CHANNELS)
ONE_VOICE = frozenset({CHANNELS["melody"], CHANNELS["bass"]})  # a note-on ends the note sounding on these
DRUM_BANK = 128             # the General MIDI kit's bank on the drums' channel (as score_av/synth.py)
HISTORY = 100_000           # figures kept per kind (the latest): weeks of notes must not fill the memory


AUDIO_PRIORITY = 60          # SCHED_FIFO priority of an audio thread, as FluidSynth's own drivers ask (audio.realtime-prio)


def realtime_priority(what: str) -> bool:
    """Put the calling thread under the real-time scheduler (SCHED_FIFO), as FluidSynth does its own
    audio threads: woken at its period, it runs before the engine's, the camera's and the people
    counter's threads, whatever the load. On a busy two-core machine a thread at the normal
    priority woke too late for a buffer under 46 ms to last. Needs the right (root, or LimitRTPRIO in
    the systemd unit); without it, says so once and keeps the normal priority."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(AUDIO_PRIORITY))
        return True
    except (AttributeError, OSError) as exc:  # not Linux, or no right to it
        log.info("%s keeps the normal priority (%s): give the service LimitRTPRIO for fewer underruns",
                 what, exc.strerror if isinstance(exc, OSError) else "no real-time scheduler here")
        return False


@dataclass(frozen=True)
class NoteEvent:
    tick: int           # audio milliseconds when it is scheduled to sound (the jitter is tick played - tick)
    pitch: int
    velocity: int       # 0: note off
    grid_tick: int      # the music's grid tick it belongs to; not `tick` when struck off the grid on purpose
    length_ms: int = 0  # a note-on's planned length (for OSC and the window; the note-off ends it)
    channel: int = CHANNEL  # the layer's MIDI channel (score_av.band.CHANNELS): 0, the melody

    @property
    def layer(self) -> str:
        return LAYER_OF.get(self.channel, "melody")


LAYER_OF = {channel: name for name, channel in CHANNELS.items()}


class _Fluid:
    """The few sequencer calls pyfluidsynth does not wrap, bound on the same library."""

    def __init__(self, fluidsynth):
        lib = fluidsynth._fl
        vp = ctypes.c_void_p
        self.remove_events = _bind(lib, "fluid_sequencer_remove_events", None, vp, ctypes.c_short, ctypes.c_short, ctypes.c_int)
        self.register_client = _bind(lib, "fluid_sequencer_register_client", ctypes.c_short, vp, ctypes.c_char_p, vp, vp)
        self.event_get_data = _bind(lib, "fluid_event_get_data", vp, vp)
        self.callback_type = ctypes.CFUNCTYPE(None, ctypes.c_uint, vp, vp, vp)


def _bind(lib, name, result, *args):
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = result, list(args)
    return fn


class Player:
    """The band's channels on FluidSynth (the melody alone by default), played by sequencer ticks.

    `driver` is one of DRIVERS; `wav` is where the `file` driver writes. `on_note(event, late_ms)`
    is called from the audio thread as each note event plays (MIDI out, OSC); it must be quick.
    `band`: the layers that play, each on its channel and program at its level (None: the melody
    alone); `program`, when given, is the melody's.
    """

    def __init__(self, soundfont=None, driver: str = "file", wav: Path | None = None, sample_rate: int = 44100,
                 program: int | None = None, gain: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 on_note: Callable[[NoteEvent, int], None] | None = None, band: Band | None = None,
                 periods: int = PERIODS, period_size: int = PERIOD_SIZE):
        if driver not in DRIVERS:
            raise ValueError(f"unknown audio driver {driver!r}; choose one of {', '.join(DRIVERS)}")
        if driver == "file" and wav is None:
            raise ValueError("the file audio driver needs a WAV path to write what would be heard")
        fluidsynth = _load_fluidsynth()
        self._fluid = _Fluid(fluidsynth)
        self.driver, self.sample_rate, self.clock, self.on_note = driver, sample_rate, clock, on_note
        self.periods, self.period_size = int(periods), int(period_size)
        self.synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate))
        self.synth.setting("audio.periods", self.periods)  # a device driver's buffer; the file driver keeps the same
        self.synth.setting("audio.period-size", self.period_size)
        font = find_soundfont(soundfont)
        sfid = self.synth.sfload(str(font))
        if sfid < 0:
            raise SynthError(f"fluidsynth could not load soundfont {font}")
        band = band or Band()
        self.band = band if program is None else band.with_program(int(program))
        self.channels = {CHANNELS[name]: name for name in self.band.layers}  # channel -> layer, the melody first
        self.levels = {name: self.band.part(name).level for name in self.band.layers}  # changed by set_level
        for channel, name in self.channels.items():
            if name == "drums":
                self.synth.program_select(channel, sfid, DRUM_BANK, 0)
            else:
                self.synth.program_select(channel, sfid, 0, int(self.band.part(name).program))
        self.seq = fluidsynth.Sequencer(time_scale=TICKS_PER_SECOND, use_system_timer=False)
        self.seq.register_fluidsynth(self.synth)  # drives the sequencer by the synth's sample clock
        self._callback = self._fluid.callback_type(self._dispatched)  # kept: ctypes must not free it
        self._client = self._fluid.register_client(self.seq.sequencer, b"score-av", self._callback, None)
        self._lock = threading.RLock()
        self._pending: dict[int, NoteEvent] = {}   # id -> event scheduled and not yet dispatched
        self._sounding: dict[int, set[int]] = {c: set() for c in self.channels}  # channel -> pitches struck and
                                                   # not yet ended (the audio thread's)
        self.notes_played = {name: 0 for name in self.levels}  # note-ons played, per layer
        self._next_id = 1
        self.jitter_ms = Recent(HISTORY, np.int32)  # per note-on: tick dispatched - tick scheduled (the latest)
        self.off_grid_ms = Recent(HISTORY, np.int32)  # per note-on struck off the grid: tick - grid tick
        self.off_grid = 0               # melody note-ons struck off the grid on purpose (all of them, not only the latest)
        self.underruns = 0
        self.underrun_ticks: deque[int] = deque(maxlen=1000)  # when they happened (audio ms), the latest
        self._wav = WavWriter(wav, sample_rate) if driver == "file" else None
        self._rendered = 0              # samples rendered (file driver)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None   # wall time at which audio tick 0 is heard
        self._volume = 1.0
        self._muted = False
        self._apply_volume([c for c in self.channels if c != CHANNEL])  # the layers at their levels from the start
                                                   # (the melody's keeps FluidSynth's own until a volume is set)

    # --- clock -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the audio: FluidSynth's driver, or the file driver's thread.

        Where the sound system cannot be opened, that is said once and the music plays on, paced
        by the wall clock and heard nowhere: MIDI out and OSC still carry it."""
        if self.driver != "file":
            self.synth.start(driver=self.driver)
            if self.synth.audio_driver is not None:
                self._started_at = self.clock() - self.tick() / TICKS_PER_SECOND + self.buffer_seconds
                return
            log.warning("no sound: FluidSynth could not open the %s audio driver (is a sound system running? "
                        "try another --audio-driver); playing on silently, MIDI out and OSC still go out", self.driver)
        # the audio clock starts when the thread runs, as a device's does when it opens, not when the
        # thread was asked for: a start-up holding the GIL in between left its first period already late
        running = threading.Event()
        self._thread = threading.Thread(target=self._file_driver, args=(running,), name="audio-file-driver", daemon=True)
        self._thread.start()
        if not running.wait(2.0):
            self._started_at = self.clock() + self.buffer_seconds

    @property
    def buffer_seconds(self) -> float:
        """How long a sound goes from the synth to the loudspeaker: the device's buffer, periods x period size."""
        return self.periods * self.period_size / self.sample_rate

    def tick(self) -> int:
        """The audio clock: milliseconds of audio rendered so far (events before it have played)."""
        return int(self.seq.get_tick())

    def heard_at(self, tick: int) -> float:
        """Wall-clock time (the clock given) at which audio tick `tick` comes out of the speaker."""
        return self._origin() + tick / TICKS_PER_SECOND

    def _origin(self) -> float:
        return self.clock() if self._started_at is None else self._started_at

    # --- scheduling --------------------------------------------------------------------------
    def schedule(self, events: list[NoteEvent]) -> None:
        """Schedule `events` (any of them already due play at once, and count as late)."""
        with self._lock:
            now = self.tick()
            for event in events:
                self._send(event, max(event.tick, now))

    def replace_from(self, tick: int, events: list[NoteEvent]) -> None:
        """Take back every scheduled event at or after `tick` and schedule `events` instead (any of them
        already due play at once). A melody note struck before `tick` whose note-off is taken back ends
        when the next note starts (`_dispatched`), or by its note-off among `events`; on the layers'
        channels, each note whose note-off is taken back ends at `tick` - 1 (a note-off for a pitch
        no longer sounding then is dropped), so nothing hangs whatever `events` strike."""
        with self._lock:
            self._fluid.remove_events(self.seq.sequencer, -1, self._client, -1)
            now = self.tick()
            left, self._pending = self._pending, {}  # nothing removed can be dispatched any more
            ended = {(e.channel, e.pitch) for e in left.values() if e.tick >= tick and not e.velocity and e.channel != CHANNEL}
            end_at = max(tick - 1, now)
            # kept: what comes before `tick`, but a layer's note that would start as (or after) it is ended
            kept = [e for e in left.values() if e.tick < tick and
                    not (e.velocity and e.tick >= end_at and (e.channel, e.pitch) in ended)]
            ends = [NoteEvent(end_at, pitch, 0, end_at, channel=channel) for channel, pitch in sorted(ended)]
            for event in kept + ends + events:
                self._send(event, max(event.tick, now))  # one due already plays at once, and counts as late

    def _send(self, event: NoteEvent, at: int | None = None) -> None:
        ident = self._next_id
        self._next_id += 1
        self._pending[ident] = event
        self.seq.timer(event.tick if at is None else at, data=ident, dest=self._client)

    def _dispatched(self, time_tick, event, seq, data) -> None:
        """The sequencer calls this from the audio rendering at each event's tick: play the note.

        The melody is one voice, and so is the bass, and what is sounding is known here, where notes
        are played: a note that starts ends any still sounding on its channel (its note-off was taken
        back by `replace_from`, or comes in the same millisecond, which the sequencer may play in
        either order). On the polyphonic channels (chords, drums) a note-on ends only the same pitch
        if it still sounds. A note-off for a pitch not sounding is dropped. So nothing hangs and
        nothing is ended twice on MIDI out or in the synth, however late an answer to the picture comes."""
        note = self._pending.pop(int(self._fluid.event_get_data(event) or 0), None)  # atomic: no lock here
        if note is None:
            return
        sounding = self._sounding.get(note.channel)
        if sounding is None:  # a channel no layer plays on
            return
        late = int(time_tick) - note.tick
        if note.velocity > 0:
            ending = sorted(sounding) if note.channel in ONE_VOICE else [note.pitch] if note.pitch in sounding else []
            for pitch in ending:
                self._play(replace(note, pitch=pitch, velocity=0, length_ms=0), late)
            self.jitter_ms.append(late)
            self.notes_played[self.channels[note.channel]] += 1
            if note.tick != note.grid_tick and note.channel == CHANNEL:
                self.off_grid += 1
                self.off_grid_ms.append(note.tick - note.grid_tick)
        elif note.pitch not in sounding:
            return
        self._play(note, late)

    def _play(self, note: NoteEvent, late: int) -> None:
        if note.velocity > 0:
            self.synth.noteon(note.channel, note.pitch, note.velocity)
            self._sounding[note.channel].add(note.pitch)
        else:
            self.synth.noteoff(note.channel, note.pitch)
            self._sounding[note.channel].discard(note.pitch)
        if self.on_note is not None:
            try:
                self.on_note(note, late)
            except Exception:  # an output failing must never stop the audio
                log.exception("note output failed")

    # --- loudness ----------------------------------------------------------------------------
    def set_volume(self, volume: float) -> None:
        """The master volume, 0..1: every layer's channel volume is its level times this."""
        self._volume = float(np.clip(volume, 0.0, 1.0))
        self._apply_volume()

    def set_mute(self, muted: bool) -> None:
        self._muted = bool(muted)
        self._apply_volume()

    def set_level(self, layer: str, level: float) -> None:
        """One layer's level, 0..1 (0 mutes it): its channel's volume is the level times the master volume.
        A ValueError for a layer that does not play."""
        if layer not in self.levels:
            raise ValueError(f"layer {layer!r} does not play; playing: {', '.join(self.levels)} "
                             "(choose them with --layers or a preset)")
        self.levels[layer] = float(np.clip(level, 0.0, 1.0))
        self._apply_volume([CHANNELS[layer]])

    def volume_of(self, channel: int) -> int:
        """The CC 7 value of a channel in use: 0 when muted, else 127 x its layer's level x the volume."""
        return 0 if self._muted else int(round(127 * self._volume * self.levels[self.channels[channel]]))

    def _apply_volume(self, channels=None) -> None:
        for channel in self.channels if channels is None else channels:
            self.synth.cc(channel, 7, self.volume_of(channel))

    def expression(self, value: float) -> None:
        """CC 11 (expression) at once on every channel in use, 0..1: what can answer the picture within
        one audio buffer."""
        value = int(round(127 * float(np.clip(value, 0.0, 1.0))))
        for channel in self.channels:
            self.synth.cc(channel, 11, value)

    def fade_out(self, seconds: float = 1.0, steps: int = 20) -> None:
        """Lower the volume to nothing over `seconds` of audio, then silence every note."""
        start = {channel: self.volume_of(channel) for channel in self.channels}
        for i in range(1, steps + 1):
            for channel, value in start.items():
                self.synth.cc(channel, 7, int(round(value * (1 - i / steps))))
            self._wait_audio(seconds / steps)
        with self._lock:
            self._fluid.remove_events(self.seq.sequencer, -1, self._client, -1)
            self._pending = {}
        for channel in self.channels:
            self.synth.cc(channel, 123, 0)

    def _wait_audio(self, seconds: float) -> None:
        """Wait until `seconds` more of audio has been rendered (the file driver may not be running)."""
        target = self.tick() + int(seconds * TICKS_PER_SECOND)
        deadline = self.clock() + seconds + 1.0
        while self.tick() < target and self.clock() < deadline:
            if self.driver == "file" and (self._thread is None or not self._thread.is_alive()):
                self.render(max(1, target - self.tick()) * self.sample_rate // TICKS_PER_SECOND)
            else:
                time.sleep(0.005)

    # --- the file driver ---------------------------------------------------------------------
    def render(self, samples: int) -> np.ndarray:
        """Render `samples` of audio now (the file driver's step; also for tests without a thread)."""
        block = self.synth.get_samples(samples)
        audio = np.asarray(block, dtype=np.float32).reshape(samples, 2) / 32768.0
        self._rendered += samples
        if self._wav is not None:
            self._wav.write(audio)
        return audio

    def _file_driver(self, running: threading.Event) -> None:
        """Render a block whenever the device would need one; count the times it would have run dry."""
        realtime_priority("the file driver's audio thread")
        if self._started_at is None:
            self._started_at = self.clock() + self.buffer_seconds
        running.set()
        block_seconds = self.period_size / self.sample_rate
        origin = self._started_at - self.buffer_seconds
        was_dry = False
        while not self._stop.is_set():
            due = origin + self._rendered / self.sample_rate  # when this block must be in the buffer
            now = self.clock()
            dry = now - due > self.buffer_seconds  # the buffer is empty: a device would glitch here
            if dry and not was_dry:  # one glitch, however many blocks it takes to catch up
                self.underruns += 1
                self.underrun_ticks.append(self.tick())
                if self.underruns <= 3 or self.underruns % 100 == 0:
                    log.warning("audio underrun at %.1f s of audio (%d so far): the audio thread fell %.0f ms "
                                "behind; a sound card would have glitched", self.tick() / TICKS_PER_SECOND,
                                self.underruns, (now - due) * 1000)
            was_dry = dry
            if now < due:
                self._stop.wait(min(due - now, block_seconds))
                continue
            self.render(self.period_size)

    def close(self) -> Path | None:
        """Stop the audio and free the synth; returns the WAV written by the file driver, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        out = None
        if self._wav is not None:
            out = self._wav.commit()
            self._wav = None
        self.seq.delete()
        self.synth.delete()
        return out

    def discard(self) -> None:
        """Close without keeping the WAV (a run that failed to start): no file is left behind."""
        if self._wav is not None:
            self._wav.discard()
            self._wav = None
        self.close()

