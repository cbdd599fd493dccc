"""The gallery runner: every part of `score-av live` started, wired together and stopped in order.

Threads: the capture (capture.py) reads the camera or file and hands each frame to the engine
(engine.py), which encodes it and schedules bars on the player (player.py), whose audio runs on
FluidSynth's driver or the file driver. The capture also offers frames to the people counter
(presence.py), which counts the latest a few times a second (`presence_hz`) on a daemon thread of
its own and tells OSC out and the engine when the count changes. The OSC server (osc.py) takes
controls. The main thread only keeps house: the window, the heartbeat, the stats file, and the
status page's snapshot, which the status server (status.py, its own thread) serves without
touching the audio. None of them times a note.

A part that the machine cannot give (no MIDI system, no display, no OSC port, an OpenCV without
the HOG people detector) is said once and left out; the music goes on. A stop (SIGINT, SIGTERM, --duration, the window's q) fades the audio
out over a second and closes everything.
"""
from __future__ import annotations

import errno
import gc
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from modelkit.atomic import unwritable
from score_av.band import CHANNELS
from score_av.conductor import Conducting
from score_av.models import Models
from score_av.synth import find_soundfont

from .capture import Capture, CameraSource, FileSource, FrameSource, SourceLost
from .config import LiveConfig, LiveConfigError
from .engine import LiveScore, LiveSettings
from .midi_out import MidiOut, Port, open_midi_out
from .osc import OscIn, OscOut, parse_host_port
from .presence import NO_PEOPLE, Presence, make_people_counter
from .player import TICKS_PER_SECOND, NoteEvent, Player
from .service import Heartbeat, handle_signals, release_free_memory, tune_malloc
from .stats import LiveStats, spread
from .status import RecentErrors, StatusAddressError, StatusServer
from .window import Window, draw

log = logging.getLogger("score_av.live")

WINDOW_FPS = 15.0
HOUSEKEEPING = 0.02   # seconds between the main thread's rounds (window, heartbeat, stats)
FADE_SECONDS = 1.0
NOTICE_SECONDS = 1.5  # a camera that gives no frame, or the same picture, this long is lost: noticed within 2 s
TRIM_SECONDS = 60.0   # between returns of glibc's free pages to the system (flat memory over weeks)
STATUS_EVERY = 0.25   # seconds between the status page's snapshots (the page polls every second)
FRAME_HEALTHY = 2.0   # /healthz: a frame within this many seconds ...
AUDIO_HEALTHY = 1.0   # ... and the audio clock moved within this many
THUMB_WIDTH = 320     # the status page's recent frame (show_frames), kept at most twice a second
SWITCH_INTERVAL = 0.0005  # seconds a thread holds the GIL while another waits (Python: 0.005): the audio thread waits less


@dataclass
class Controls:
    """What OSC may change while the installation runs (osc.Controls)."""
    run: "LiveRun"

    def set_tempo(self, bpm: float) -> None:
        self.run.engine.set_tempo(bpm)

    def set_model(self, name: str) -> None:
        from music_vae.trained_model import MusicVAE

        self.run.engine.set_music(MusicVAE(name, "cpu"))  # an unknown name raises: OSC logs it
        log.info("music model %s", name)

    def set_style(self, name: str | None) -> None:
        self.run.engine.set_style(name)

    def set_volume(self, volume: float) -> None:
        self.run.player.set_volume(volume)

    def set_mute(self, muted: bool) -> None:
        self.run.player.set_mute(muted)

    def set_layer(self, name: str, level: float) -> None:
        self.run.player.set_level(name, level)  # a layer that does not play raises: OSC logs it


class LiveRun:
    """`score-av live` as a library call: build with a LiveConfig, then `run(stop)`; returns the stats.

    `source` and `models` may be given (tests, benchmarks); by default they come from the config.
    `midi_port`, an output port with mido's interface (`send(message)`, `close()`), plays the notes
    instead of the port `config.midi_out` names: a host application's own port, or a test's.
    `people_counter`, an object with `count(rgb_frame) -> People` (score_av.presence), counts the
    people instead of a new PeopleCounter (with `presence_hz` above 0).

    Everything a person could have mistyped is checked before anything starts or is written
    (`check_startable`): a bad value is one LiveConfigError (or another UserError) line, and no
    file, port or thread is left behind.
    """

    def __init__(self, config: LiveConfig, models: Models | None = None, source: FrameSource | None = None,
                 clock: Callable[[], float] = time.monotonic, midi_port: Port | None = None,
                 people_counter=None):
        self.config, self.clock = config, clock
        waiting = check_startable(config, check_source=source is None)
        self.status_server: StatusServer | None = None
        if config.status is not None:  # bound now: a port in use is one line, before anything else is opened
            try:
                self.status_server = StatusServer(config.status, self.status, self.health, self._thumbnail,
                                                  token=config.status_token, show_frames=config.status_show_frames)
            except StatusAddressError as exc:
                raise LiveConfigError(f"status {exc}") from None
        try:
            self._build(config, models, source, midi_port, people_counter)
        except BaseException:
            if self.status_server is not None:
                self.status_server.close()
            raise
        if waiting:
            log.warning("source %s; waiting for it (wait_for_source), the music drifts meanwhile", waiting)

    def _build(self, config: LiveConfig, models: Models | None, source: FrameSource | None,
               midi_port: Port | None, people_counter=None) -> None:
        clock = self.clock
        tune_malloc()  # before any of its threads start: flat memory over weeks
        torch.set_num_threads(1)  # the encoder and decoder are small; more threads only spin
        # The audio thread needs the GIL a few times a period (to be woken, to play each note): a thread
        # holding it gives it up only every switch interval, 5 ms by Python's default, which twice in a
        # period empties a 17.4 ms buffer. At 0.5 ms, an audio buffer that small holds on 2 busy cores.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.models = models or Models.load(config.model, "video", device="cpu")
        self.models.music.prior(config.style)  # an unknown style: one line, before anything is opened
        self.band = config.band()  # the layers that play, each on its channel and program at its level
        self.osc_out = OscOut(*parse_host_port(config.osc)) if config.osc else None  # an unknown host: one line
        self.osc_in = OscIn(Controls(self), *parse_host_port(config.osc_in)) if config.osc_in not in (None, "off") else None
        self.player: Player | None = None
        self.midi: MidiOut | None = None
        try:
            self.player = Player(config.soundfont, config.audio_driver, config.wav, clock=clock, on_note=self._note,
                                 band=self.band, periods=config.audio_periods, period_size=config.audio_period_size)
            self.player.set_volume(config.volume)
            self.engine = LiveScore(self.models.music, self.models.video, self.player,
                                    LiveSettings(bpm=config.bpm, seed=config.seed, style=config.style, key=config.key,
                                                 conducting=Conducting(development=config.development), band=self.band,
                                                 gestures=config.gestures, key_follow_s=config.key_follow_s),
                                    on_bar=self._bar, clock=clock)
            self.source = source or (FileSource(config.source, clock=clock) if config.source
                                     else CameraSource(config.camera))
            self.capture = Capture(self.source, self._frame_in, clock=clock, on_state=self._camera,
                                   notice_seconds=NOTICE_SECONDS)
            self.window = Window(fullscreen=config.fullscreen)
            self.heartbeat = Heartbeat(path=None)
            self.stats = LiveStats(config.stats, self.figures, clock=clock)
            self.midi = MidiOut(midi_port) if midi_port is not None else \
                (open_midi_out(config.midi_out) if config.midi_out else None)
            self.presence: Presence | None = None
            if config.presence_hz > 0:  # an OpenCV without HOG: said once, and played without
                counter = people_counter if people_counter is not None else make_people_counter()
                if counter is not None:
                    self.presence = Presence(counter, config.presence_hz, on_change=self._people, clock=clock)
        except BaseException:  # nothing half-made is left behind: no temporary WAV, no open socket
            if self.player is not None:
                self.player.discard()
            if self.osc_out is not None:
                self.osc_out.close()
            raise
        self._frame: np.ndarray | None = None
        self._recent: list[np.ndarray] = []
        self._camera_state, self._camera_why = "starting", "no frame yet"
        # the status page's figures: a snapshot the main thread refreshes, read by the server's thread
        self._snapshot: dict = {}
        self._frame_at: float | None = None          # when the last frame came (the capture thread sets it)
        self._tick_seen, self._tick_moved_at = -1, None  # the audio clock, as the main thread last saw it move
        self._thumb: np.ndarray | None = None
        self._thumb_at = -1e9
        self.errors = RecentErrors()

    # --- callbacks from the other threads ------------------------------------------------------
    def _note(self, note: NoteEvent, late_ms: int) -> None:
        if self.midi is not None:
            (self.midi.note_on(note.pitch, note.velocity, note.channel) if note.velocity
             else self.midi.note_off(note.pitch, note.channel))
        if self.osc_out is not None and note.velocity:
            self.osc_out.send_note(note.pitch, note.velocity, note.length_ms / TICKS_PER_SECOND, note.layer)

    def _midi_programs(self) -> None:
        """Each layer's instrument on its channel, on MIDI out before any note (the drums' is channel 10's kit)."""
        if self.midi is not None:
            for name in self.band.layers:
                if name != "drums":
                    self.midi.program(self.band.part(name).program, CHANNELS[name])

    def _bar(self, index: int, code: np.ndarray, tokens: np.ndarray) -> None:
        self._recent = (self._recent + [tokens])[-4:]
        if self.osc_out is not None:
            self.osc_out.send_code(index, code)
            self.osc_out.send_bar(index, tokens)

    def _people(self, count: int, before: int | None) -> None:
        """On the presence thread: the count of people changed."""
        self.engine.people(count, before)
        if self.osc_out is not None:
            self.osc_out.send_people(count)

    def _camera(self, state: str, why: str) -> None:
        self._camera_state, self._camera_why = state, why
        self.engine.camera_state(state, why)
        if self.osc_out is not None:
            self.osc_out.send_state(state)

    def _frame_in(self, t: float, frame: np.ndarray) -> None:
        """On the capture thread: the frame shrunk to what the engine looks at, here, so that the
        camera's large frames are freed by the thread that allocated them (freed on another thread,
        they fragment glibc's heap and the memory creeps up over a long run)."""
        if self.window.is_open:
            self._frame = frame
        self._frame_at = self.clock()
        if self.config.status_show_frames and self._frame_at - self._thumb_at >= 0.5:
            self._thumb_at = self._frame_at
            h, w = frame.shape[:2]
            self._thumb = cv2.resize(frame, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))),
                                     interpolation=cv2.INTER_AREA)
        if self.presence is not None:
            self.presence.offer(frame)  # kept (shrunk) only when a count is due
        size = self.models.video.image_size
        self.engine.add_frame(t, cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))

    # --- the run ------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> dict:
        """Run until `stop` is set, the configured duration has passed, or the window is closed."""
        stop = stop or threading.Event()
        if threading.current_thread() is threading.main_thread():
            handle_signals(stop)
        until = self.clock() + self.config.duration if self.config.duration > 0 else None
        self._midi_programs()
        # Everything start-up made (torch, OpenCV, the models: about a million objects) leaves the
        # cyclic collector's sight: a full collection walked them all while holding the GIL, long
        # enough to starve the audio thread past its buffer. Frozen, it walks only what the run makes.
        gc.collect()
        gc.freeze()
        engine = threading.Thread(target=self.engine.run, args=(stop, until), name="live-engine", daemon=True)
        engine.start()
        self.window.open()
        if self.presence is not None:
            self.presence.start()
        self.capture.start()
        if self.osc_in is not None:
            try:
                self.osc_in.start()
            except Exception as exc:
                log.warning("OSC in is off: %s", exc)
                self.osc_in = None
        # the audio last: the threads above start up holding the GIL in turns (opening the source,
        # the detector), which kept the audio thread from its first period past a 17.4 ms buffer
        self.player.start()
        self.heartbeat.ready()
        log.info("live: %s, %s audio, %g bpm, %s", self.config.source or f"camera {self.config.camera}",
                 self.config.audio_driver, self.config.bpm, " + ".join(self.band.layers))
        if self.status_server is not None:
            logging.getLogger("score_av.live").addHandler(self.errors)
            self._refresh_status()
            self.status_server.start()
            log.info("status page: %s", self.status_server.url)
        shown, trimmed, refreshed = 0.0, self.clock(), self.clock()
        try:
            while not stop.is_set() and (until is None or self.clock() < until) and engine.is_alive():
                stop.wait(HOUSEKEEPING)
                if self.status_server is not None:
                    tick = self.player.tick()
                    if tick != self._tick_seen:
                        self._tick_seen, self._tick_moved_at = tick, self.clock()
                    if self.clock() - refreshed >= STATUS_EVERY:
                        refreshed = self.clock()
                        self._refresh_status()
                if self.heartbeat.due():
                    self.heartbeat.beat()
                if self.clock() - trimmed >= TRIM_SECONDS:
                    trimmed = self.clock()
                    release_free_memory()
                self.stats.poll()
                if self.window.is_open and self.clock() - shown >= 1 / WINDOW_FPS:
                    shown = self.clock()
                    self._show()
                    if self.window.poll():
                        stop.set()
        finally:
            stop.set()
            self.heartbeat.stopping()
            self.capture.stop()
            if self.presence is not None:
                self.presence.stop()
            engine.join(timeout=2.0)
            self.player.fade_out(FADE_SECONDS)
            figures = self.stats.write()
            self.wav = self.player.close()
            for part in (self.osc_in, self.midi, self.osc_out):
                if part is not None:
                    (part.stop if isinstance(part, OscIn) else part.close)()
            self.window.close()
            self.heartbeat.close()
            if self.status_server is not None:
                self.status_server.close()
                logging.getLogger("score_av.live").removeHandler(self.errors)
        return figures

    def _show(self) -> None:
        bar = self.engine.bars[-1] if self.engine.bars else None
        step = 0
        if bar is not None:
            step = int(np.clip((self.player.tick() - bar.tick) / bar.step_ms, 0, 15))
        path = np.asarray(self.engine.path)[:, :2] if self.engine.path else np.zeros((0, 2))
        status = f"{self.engine.settings.bpm:g} bpm  bar {bar.index if bar else 0}  camera: {self._camera_state}"
        self.window.show(draw(self._frame, path, self._recent, step, status))

    # --- the status page (status.py) ---------------------------------------------------------
    def _refresh_status(self) -> None:
        """On the main thread: the figures the status page shows, gathered once for all its requests."""
        bar = self.engine.bars[-1] if self.engine.bars else None
        latency = spread(self.engine.counters.latency_ms)["p95"]
        self._snapshot = {
            "camera": self._camera_shown(), "camera_why": self._camera_why,
            "people": self.presence.now if self.presence is not None else None,  # None: off, or not counted yet
            "key": str(self.engine.key) if self.engine.key is not None else None,
            "bar": bar.index if bar is not None else None, "bpm": self.engine.settings.bpm,
            "latency_ms": latency, "underruns": self.player.underruns, **self.stats.latest(),
            "errors": self.errors.lines(),
            "layers": [{"name": name, "level": round(float(self.player.levels.get(name, 1.0)), 3)}
                       for name in self.band.layers],
            "last_bars": [np.asarray(tokens).reshape(-1).tolist() for tokens in self._recent]}

    def _camera_shown(self) -> str:
        """The camera's state as the page and /healthz say it: live, lost, frozen or stopped."""
        camera = self._camera_state
        if camera == "lost" and self._camera_why.startswith("frozen"):
            return "frozen"
        return "lost" if camera == "starting" else camera  # starting: no frame yet

    def status(self) -> dict:
        """The status page's figures: the latest snapshot (any thread; nothing here touches the audio)."""
        return self._snapshot

    def health(self) -> str | None:
        """/healthz: None while frames arrive and the audio flows, else why not (any thread)."""
        now = self.clock()
        if self._frame_at is None:
            return f"no frame yet (camera {self._camera_shown()}: {self._camera_why})"
        if now - self._frame_at > FRAME_HEALTHY:
            return f"no frame for {now - self._frame_at:.1f} s (camera {self._camera_shown()}: {self._camera_why})"
        if self._tick_moved_at is None or now - self._tick_moved_at > AUDIO_HEALTHY:
            still = "not started" if self._tick_moved_at is None else f"still for {now - self._tick_moved_at:.1f} s"
            return f"the audio clock is {still}"
        return None

    def _thumbnail(self) -> np.ndarray | None:
        return self._thumb

    def figures(self) -> dict:
        c, cap = self.engine.counters, self.capture.counters
        jitter = np.abs(np.asarray(self.player.jitter_ms, dtype=float))
        return {"source": self.config.source or f"camera {self.config.camera}",
                "audio_driver": self.config.audio_driver, "bpm": self.engine.settings.bpm,
                "frames_in": cap.frames_in, "frames_encoded": c.frames_encoded, "bars_played": c.bars_played,
                "notes_played": len(jitter), "layers": list(self.band.layers),
                "layer_levels": dict(self.player.levels), "notes_by_layer": dict(self.player.notes_played),
                "layers_ms_per_bar": spread(c.layers_ms), **self.engine.change_figures(),
                "key": str(self.engine.key) if self.engine.key is not None else None, "key_changes": c.key_changes,
                "gestures": c.gestures, "gestures_answered": c.gestures_answered,
                "people": self.presence.figures() if self.presence is not None else dict(NO_PEOPLE),
                "note_jitter_ms": spread(jitter), "answers_off_the_grid": self.player.off_grid,
                "answers_off_the_grid_ms": spread(self.player.off_grid_ms), "audio_underruns": self.player.underruns,
                "audio_underruns_at_s": [round(t / TICKS_PER_SECOND, 1) for t in self.player.underrun_ticks],
                "camera": {"state": self._camera_state, "losses": cap.losses, "recoveries": cap.recoveries,
                           "noticed_after_s": spread(cap.noticed_after), "recovered_after_s": spread(cap.recovered_after)}}


def run_live(config: LiveConfig, models: Models | None = None, source: FrameSource | None = None,
             midi_port: Port | None = None) -> dict:
    """Build and run; the stats figures at the end."""
    return LiveRun(config, models, source, midi_port=midi_port).run()


# ---------------------------------------------------------------------------------------------
# Before anything starts
# ---------------------------------------------------------------------------------------------

def check_startable(config: LiveConfig, check_source: bool = True) -> str | None:
    """What the machine must give for `config` to start, checked before anything is opened or written:
    the folders of the WAV and the stats file, the soundfont, the OSC in address, and (with
    `check_source`) the source. Raises one LiveConfigError (or SoundfontNotFound) line; returns why
    the source cannot be opened yet when it is to be waited for, else None.

    A source that cannot be opened now is far more often a typo than a stream still to come, so it
    is an error unless `wait_for_source` is set; then it is said once and waited for (and the music
    drifts meanwhile). A camera is always waited for: an installation often starts before its camera.
    A port already taken for OSC in is not checked here: it is said once and the music plays on."""
    for name in ("wav", "stats"):
        path = getattr(config, name)
        if path is not None:
            _check_writable(name, Path(path))
    find_soundfont(config.soundfont)
    if config.osc_in not in (None, "off"):
        _check_bindable(*parse_host_port(config.osc_in))
    if config.source and check_source:
        try:
            probe = FileSource(config.source)
            probe.open()
            probe.close()
        except SourceLost as exc:
            if not config.wait_for_source:
                raise LiveConfigError(f"source {exc}; to wait for a source that is not there yet, set "
                                      "wait_for_source = true (--wait-for-source)") from None
            return str(exc)
    return None


def _check_writable(name: str, path: Path) -> None:
    why = unwritable(path)
    if why:
        raise LiveConfigError(f"{name} {path}: {why}")


def _check_bindable(host: str, port: int) -> None:
    """OSC in's address: an unknown host, or one that is not this machine's, is a mistake to say now."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return  # taken: OSC in says so once when it starts, and the music plays on
        raise LiveConfigError(f"osc_in {host}:{port}: cannot listen there ({exc.strerror or exc}); "
                              "give an address of this machine, e.g. 127.0.0.1:9001, or off") from None
