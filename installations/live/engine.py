"""The live pipeline: frames as they come in, bars scheduled on the player a bar ahead, and the rest
of the bar decoded again the moment the picture changes.

The stages are the offline ones (score_av): the video VAE encodes each frame, `RunningMapping`
standardises it by running statistics and carries it into the music model's prior, and the
conductor's parts play it in a key, in phrases, with themes and loudness. What differs is time:

- **bar k+1 is decided while bar k plays.** It is decoded `LEAD_MS` before it starts, from the
  look of the frames shown during bar k. It is held (the same bar again) when that look is within
  `steady` of the one playing, brought back as a theme when the picture returns to a look already
  scored, and decoded anew otherwise.
- **a held look develops.** Held bars grow a phrase from the look's anchor bar as the conductor's
  do (conductor.py, "development"): the anchor comes back every RETURN bars and the bars between are
  inpainted from the bars of the shot so far towards its return (the next look is not known live).
  A phrase starts again on the bar after a cut (a new bar whose look lies past `change`, or a
  re-decode). Inpainting takes tens of milliseconds, so the held bar is prepared a bar ahead on a
  worker thread, from the bars as they stand once the bar before is scheduled (or re-decoded), and
  taken when the look is held and nothing it was made from has changed since (else made then): deciding
  it does not hold back the frames, nor the change they may show.
- **a change answers within a sixteenth.** When a frame's position lies more than `change` from
  the one the bar plays, the bar is decoded again from the next sixteenth not yet rendered. The
  notes already played are the prefix, the new code carries the rest, and the next bar follows
  it. The first new step must be a note, so the picture's change is heard at that step.
- **expression answers at once.** Each frame's motion sets CC 11 on the notes already sounding,
  on the capture thread as the frame comes (`add_frame`), not behind the engine's bar work: it is
  heard one audio buffer later.
- **a gesture answers within a beat.** The motion of the last half beat sets how busy the melody's figure
  is (score_av/gesture.py: calmer, as decided, eighths, sixteenths). Each bar is figured at the level
  when it is decided; when the level changes while a bar plays, the rest of the bar is figured again
  from its next sixteenth (`_refigure`). Development, themes and the layers read the bars as decided
  (`_Bar.plain`), so a gesture changes the figure, not the piece.
- **someone entering is a change.** When the people counter (presence.py, on its own thread) sees
  someone in a room it had seen empty (`people`: 0, then 1 or more), the next bar is decided anew, as
  after a cut (not held or developed, not a theme). While the counter sees nobody, the room settles:
  its motion counts as none (the quiet end of loudness, the calmest figure) and a look is held unless
  it moves as far as a cut (`change`), so the empty room's light and shadows are not played as gestures.
- **the key follows the light** (`--key auto`). The colour of the frames, averaged over LIGHT_SECONDS,
  gives the key the light asks for (score_av/key.py, KeyFollower); when it has asked for another
  key than the piece's, without a break, for `key_follow_s` (20 minutes by default), the piece moves
  one step towards it (a related key) at the next phrase's first bar, and the themes, the anchor and the bars development reads are transposed into it.
- **the camera lost, the music goes on.** With no frames, each new bar's look takes a slow walk
  from the last one seen (`drift`), until the camera is back.
- **the band plays under it.** With more layers than the melody (`LiveSettings.band`: score_av/band.py),
  each bar scheduled, and each bar decoded again, gets its layers as the offline arrangement makes
  them (score_av/arrangement.py, drums.py), one bar at a time: chords chosen with the last
  HARMONY_CONTEXT melody bars, voiced on from the bar before's last chord; the bass model under the
  bar and its chords, its code from the bar's brightness and motion (`bass_steering`'s mapping,
  smoothed within a phrase and started afresh after a cut); drums at the level of the bar's motion
  (easing off as `levels` does), the phrase's fills, a crash on the bar after a cut. They are made
  from the melody and never change it. A re-decode schedules the melody's answer first, then the
  layers' rest of the bar (what sounds at its step struck again, with a fill into the next phrase)
  and the next bar's layers. Each layer is on its own channel (player.py).

A change is an event: a frame whose look lies past `change` from the look the bar playing plays
(the look the music last answered), after one that did not. Every one is counted, and each ends
one way (`LiveCounters`): answered (the first changed note, from a re-decode or from a new bar
decided from the changed frames), merged (an answer to another change covers it: the answer to
an earlier change, or a bar decided before it that plays a look within `change` of the picture),
withdrawn (the picture came back to the look it had left before an answer was due), or still
pending when the run stops. A change may not be answered at once: within `ANSWER_EVERY` sixteenths of the
last answer, or when the bar is over and the next one is not decided yet (deferred); it is then
answered by a later frame's re-decode or by the next bar.

Latency is the time from the frame that showed the change (the first frame of the event, deferred
or not) to when the first changed note is heard (the sequencer plays it at its tick;
`Player.heard_at`). An answer struck at once, off the grid, keeps its grid tick: the note jitter
is measured against the tick each note was scheduled for, and the answers off the grid are
counted on their own (`Player.off_grid`).
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from music_vae.representation import FIRST_PITCH_TOKEN, HOLD, NOTE_OFF, STEPS_PER_BAR, tokens_to_notes
from score_av.arrangement import bass_notes, harmony_bar, steer_bar
from score_av.band import CHANNELS, Band
from score_av.conductor import (DEVELOP_AVOID, PHRASE, RETURN, CodeMemo, Conducting, bars_to_return, codes_in_key,
                                develop_bar, finish_bar, inpainter_for, key_bias, phrase_end, pitch_of, place_octave,
                                transpose)
from score_av.drums import cut_into, drum_bar, next_level, phrase_fill
from score_av.gesture import NEUTRAL, Levels, figure, level_of, onsets
from score_av.key import KEY_FOLLOW_S, Key, KeyFollower, key_from_colour, shift_between
from score_av.mapping import STEADY, RunningMapping
from score_av.models import MusicModel, VideoModel
from score_av.presence import entered
from score_av.motion import MOVING, FrameFeatures, luma

from .player import HISTORY, TICKS_PER_SECOND, NoteEvent, Player
from .stats import Recent, spread

log = logging.getLogger("score_av.live.engine")

CHANGE = 3.0          # position distance from the playing bar's look that re-decodes the bar at once (the conductor's cut)
WARMUP = 16          # frames the running statistics need before a change is answered within the bar
ANSWER_EVERY = 4      # sixteenths: after answering a change, the bar plays on at least a beat before answering again
GESTURE_EVERY = 2     # sixteenths: a gesture is answered at most every eighth (a figure changes on the eighths)
GESTURE_WINDOW = 2    # sixteenths of frames whose mean motion the figure's level reads (half a beat)
GESTURE_RELEASE = 4   # sixteenths the motion must stay calmer before the figure calms (a gesture's figure fills its beat)
LEAD_MS = 300         # the next bar is decoded and scheduled this long before it starts
MARGIN_MS = 25        # a re-decoded bar starts at least this far ahead of the audio rendered (placing and
                      # decoding take 10-20 ms; an event scheduled after its tick would play late)
ANSWER_WAIT_MS = 30   # when the next sixteenth is further than this, the answering note starts at once, off the grid
DRIFT = 0.99          # each bar without a camera: look = DRIFT * look + sqrt(1 - DRIFT^2) * noise
MOTION_MEMORY = 0.995  # per frame: how slowly the motion scale (its running high mark) forgets
BEAT_MEMORY = 0.999   # per frame: how slowly the gestures' scale (the busiest beat's mean motion) forgets
BARS_KEPT = 4096      # bars_heard keeps the latest this many (a run's gesture figures; about two hours at 120 bpm)
HARMONY_CONTEXT = 3   # melody bars before a bar that its chords are chosen with (harmony_spans over them and it)


@dataclass(frozen=True)
class LiveSettings:
    bpm: float = 120.0
    seed: int | None = None         # the rotation from picture to music space (see mapping.py)
    style: str | None = None
    key: str = "auto"               # "auto": from the colour of the first bar's frames
    steady: float = STEADY
    change: float = CHANGE
    conducting: Conducting = Conducting()
    band: Band = Band()             # the layers under the melody (score_av/band.py); the melody alone by default
    gestures: bool = True           # the motion of the last half beat sets the melody's figure (score_av/gesture.py)
    key_follow_s: float = KEY_FOLLOW_S  # with key "auto": seconds a change of light must last to move the key; 0: never


@dataclass
class LiveCounters:
    frames_in: int = 0
    frames_encoded: int = 0
    bars_played: int = 0
    redecodes: int = 0                # bars decoded again within the bar (with or without a change to answer)
    latency_ms: Recent = field(default_factory=lambda: Recent(HISTORY))     # picture change -> first changed note heard
    latency_at_once_ms: Recent = field(default_factory=lambda: Recent(HISTORY))  # the same, changes not deferred
    expression_ms: Recent = field(default_factory=lambda: Recent(HISTORY))  # picture change -> CC 11 heard
    changes_without_new_note: int = 0
    changes: int = 0                  # every change of the picture (an event: see the module's docstring)
    changes_answered: int = 0         # answered by a changed note: one latency each
    changes_deferred: int = 0         # not answered at the frame that showed them (answered later, merged, ...)
    changes_merged: int = 0           # covered by the answer to another change: no latency of their own
    changes_withdrawn: int = 0        # the picture came back to the look it had left before an answer was due
    developed_prepared: int = 0       # held bars inpainted a bar ahead, on the worker thread
    developed_inline: int = 0         # held bars inpainted when decided (what was prepared no longer held, or none)
    layers_ms: Recent = field(default_factory=lambda: Recent(HISTORY))  # making one bar's layers, engine thread
    entrances: int = 0                # someone came into a room counted empty (people: 0, then 1 or more)
    bars_anew_on_entrance: int = 0    # bars decided anew (not held) because of one
    gestures: int = 0                 # changes of the figure's level (the motion of the last half beat)
    gestures_answered: int = 0        # ... answered within the bar playing (its rest figured again)
    key_changes: int = 0              # the key followed the light
    bars_heard: deque = field(default_factory=lambda: deque(maxlen=BARS_KEPT))  # per bar once over: what the picture did, what played


@dataclass(frozen=True)
class _Seen:
    """A frame as it came (`LiveScore._see`): what the engine's thread needs of it."""
    t: float              # wall time it was captured
    small: np.ndarray     # shrunk to the video model's size
    motion: float         # against the frame before (0 in an empty room)
    colour: np.ndarray
    heard: float          # wall time at which the loudness it set is heard


@dataclass
class _Change:
    t_frame: float                    # wall time of the frame that showed it
    from_look: np.ndarray             # the look the music played then (the bar playing's position)
    answer_tick: int | None = None    # the first note of a new bar decided from it, when one is scheduled
    deferred: bool = False            # not answered at the frame that showed it


@dataclass(frozen=True, eq=False)
class _Development:
    """What develop_bar makes bar `index` of a held look from, as the engine stood when it was asked."""
    index: int
    first: int                 # the anchor's bar
    phrase_start: int
    music: MusicModel
    inpainter: object
    how: Conducting
    key: Key | None
    last_pitch: int | None
    past: np.ndarray           # (p, 16) the phrase's bars so far
    future: np.ndarray         # (1, 16) the anchor, as it returns
    missing: int
    played: np.ndarray         # (q, 16) the bars it must not sound like

    def same(self, other: "_Development") -> bool:
        """Whether both make the same bar: the same inputs, the same models."""
        return (self.index, self.first, self.phrase_start, self.missing, self.last_pitch) == \
            (other.index, other.first, other.phrase_start, other.missing, other.last_pitch) and \
            self.music is other.music and self.inpainter is other.inpainter and self.how == other.how and \
            self.key == other.key and all(np.array_equal(a, b) for a, b in
                                          ((self.past, other.past), (self.future, other.future),
                                           (self.played, other.played)))

    def develop(self, encode: CodeMemo) -> np.ndarray:
        return develop_bar(self.inpainter, self.music, self.past, self.future, self.missing, self.key, self.how,
                           self.last_pitch, played=self.played, encode=encode)


@dataclass(frozen=True, eq=False)
class _Backing:
    """What the layers under one bar were made from, and what the next bar's carry on from."""
    motion: float                       # the bar's motion, 0-1 (as its velocity's)
    brightness: float | None            # luma of its frames' mean colour (None: no frame)
    phrase_start: int
    z: np.ndarray | None = None         # the bass code it played
    level: int | None = None            # the drums' level
    voicing: tuple[int, ...] | None = None  # the last chord struck (the next bar's is voiced near it)


@dataclass
class _Bar:
    index: int
    tick: int                  # audio ms at which it starts
    step_ms: float
    tokens: np.ndarray
    position: np.ndarray       # the look it plays
    code: np.ndarray           # that look placed in the music model's space (OSC, the window)
    velocity: int
    plain: np.ndarray | None = None  # the bar as decided, before its figure (None: the tokens are)
    level: int = NEUTRAL       # the figure's level its last notes play at (gesture.py)
    answers: int = 0           # changes answered within it: picture changes re-decoded, gestures re-figured

    @property
    def decided(self) -> np.ndarray:
        """The bar as decided (what development, themes and the layers read), before its figure."""
        return self.tokens if self.plain is None else self.plain


def _struck_from(events: list[NoteEvent], answer_tick: int | None) -> list[NoteEvent]:
    """Events of an answer struck off the grid: those before `answer_tick` move to it (note-offs just
    before it), each keeping its grid tick. None: all as they are."""
    if answer_tick is None:
        return events
    return [e if e.tick >= answer_tick else replace(e, tick=answer_tick) if e.velocity else
            replace(e, tick=answer_tick - 1) for e in events]


class LiveScore:
    """Frames in (`add_frame`, from the capture thread), music out on `player` (run in one thread, with a
    worker thread of its own that develops held bars a bar ahead).

    `on_bar(index, music_code, tokens)` is told of each bar scheduled (OSC out, the window).
    `prepare`: develop a held look's next bar a bar ahead on a worker thread (False: when it is decided).
    """

    def __init__(self, music: MusicModel, video: VideoModel, player: Player, settings: LiveSettings = LiveSettings(),
                 on_bar: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, prepare: bool = True):
        self.music, self.video, self.player, self.clock, self.on_bar = music, video, player, clock, on_bar
        self.settings = settings
        self.counters = LiveCounters()
        self.mapping = RunningMapping(video.latent_std, settings.seed, prior=music.prior(settings.style),
                                      train_mean=getattr(video, "latent_mean", None))
        self.key: Key | None = None if settings.key in (None, "none") else \
            (Key.parse(settings.key) if settings.key != "auto" else None)
        self._auto_key = settings.key == "auto"
        self._frames: queue.Queue = queue.Queue(maxsize=4)
        self._lost = threading.Event()
        self._bpm_next: float | None = None
        self._lock = threading.Lock()
        self._entered = threading.Event()      # someone came into the empty room: the next bar is decided anew
        self.bars: list[_Bar] = []             # scheduled, newest last (the last two are kept)
        self._look: list[np.ndarray] = []      # positions of the frames since the last bar was decided
        self._motion: list[float] = []
        self._colours: list[np.ndarray] = []
        self._features = FrameFeatures()       # motion and colour, measured frame by frame
        self._motion_scale = MOVING
        self._memory: list[tuple[np.ndarray, np.ndarray]] = []  # (look, bar) of every bar decoded: themes
        self._last_pitch: int | None = None
        self._played: list[tuple[int, np.ndarray]] = []  # (index, tokens) of the last bars scheduled: development's context
        self._anchor: tuple[int, np.ndarray] | None = None  # the bar the held look started with (index, tokens)
        self._phrase_start = 0                 # the first bar of the phrase playing (restarted after a cut)
        self._codes = CodeMemo(music)          # codes of the bars development reads (the engine's thread)
        inpainter_for(music, settings.conducting)  # loaded now: loaded (and imported) at the first held look, on
                                               # the engine's thread, it held the GIL past an audio buffer
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="live-develop") if prepare else None
        self._worker_codes = CodeMemo(music)   # the worker's own: a CodeMemo is not shared between threads
        self._prepared: tuple[_Development, Future] | None = None  # the next bar's development, under way
        self._rng = np.random.default_rng(settings.seed or 0)   # the drift's walk
        self._last_look: np.ndarray | None = None
        self._answered_at = -10 ** 9           # audio tick of the last re-decode
        self._figured_at = -10 ** 9            # audio tick of the last re-figure (a gesture answered)
        self._changes: list[_Change] = []      # changes seen and not answered yet, oldest first
        self._far_from: np.ndarray | None = None  # the playing look the last frame lay past `change` from
        self._started = clock()
        self.path: list[np.ndarray] = []       # recent music codes, for the window
        self._backings: dict[int, _Backing] = {}  # index -> what the layers under the bar were made from (the last few)
        self._level = NEUTRAL                  # the figure's level the last half beat's motion asks for (gesture.py)
        self._beat: deque = deque()            # (t, motion) of the frames of the last half beat
        self._beat_scale = MOVING              # the busiest beat's mean motion, forgotten slowly (BEAT_MEMORY)
        self._calmer_since: float | None = None  # when the motion first asked for a calmer figure than the one playing
        self._levels = Levels()                # where each figure begins, from the room's recent motion
        self._shown: deque = deque(maxlen=512)  # (t, motion against _beat_scale) of the last frames: bars_heard's
        self._people: int | None = None        # the people counter's last count (None: not counting)
        self._follower: KeyFollower | None = None  # the key following the light (key "auto"), from the first bar
        music.decode(np.zeros((1, music.latent_dim), np.float32), prefix=np.zeros((1, 1), np.int64))  # warm up
        if "bass" in settings.band.layers:  # loaded, and its first (slow) decode done, before the music starts
            bass_notes(np.full((1, STEPS_PER_BAR), NOTE_OFF, np.int64), [], np.zeros((1, 2), np.float32))
        video.encode(np.zeros((1, video.image_size, video.image_size, 3), np.uint8))

    # --- from other threads ------------------------------------------------------------------
    def add_frame(self, t: float, frame: np.ndarray) -> None:
        """A frame captured at wall time t: its motion sets the loudness at once, on this thread (see
        `_see`); the oldest frame waiting for the engine's thread is dropped when it is behind."""
        self.counters.frames_in += 1
        seen = self._see(t, frame)
        try:
            self._frames.put_nowait(seen)
        except queue.Full:
            try:
                self._frames.get_nowait()
            except queue.Empty:
                pass
            self._frames.put_nowait(seen)

    def _see(self, t: float, frame: np.ndarray) -> _Seen:
        """Measure a frame as it comes (motion against the frame before, colour) and answer its motion
        with the loudness (CC 11) at once: that needs nothing else, while the engine's thread may be
        making a bar's layers for tens of milliseconds, and the answer is then one audio buffer away."""
        size = self.video.image_size
        small = frame if frame.shape[:2] == (size, size) else \
            cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)  # the runner shrinks frames already
        motion, colour = self._features.measure(small)
        self._motion_scale = max(MOVING, self._motion_scale * MOTION_MEMORY, motion)
        if self._people == 0:
            motion = 0.0  # an empty room settles: its light and shadows are not gestures
        self.player.expression(0.6 + 0.4 * min(1.0, motion / self._motion_scale))
        return _Seen(t, small, motion, colour, self.player.heard_at(self.player.tick()))

    def camera_state(self, state: str, reason: str = "") -> None:
        (self._lost.set if state == "lost" else self._lost.clear)()

    def people(self, count: int, before: int | None) -> None:
        """The people counter's count changed (any thread): someone entering a room counted empty
        (`before` 0, `count` 1 or more) makes the next bar decided anew."""
        self._people = count
        if entered(before, count):
            self.counters.entrances += 1
            self._entered.set()

    def set_tempo(self, bpm: float) -> None:
        """From the next bar on."""
        if not 20 <= bpm <= 300:
            raise ValueError(f"tempo must be 20-300 bpm, got {bpm}")
        self._bpm_next = float(bpm)

    def set_style(self, style: str | None) -> None:
        prior = self.music.prior(style)  # an unknown style raises here, before anything changes
        with self._lock:
            self.mapping.prior = prior
            self.settings = replace(self.settings, style=style)

    def set_music(self, music: MusicModel) -> None:
        """Another music model, from the next bar decided (its prior in the same style, or all of it)."""
        style = self.settings.style if self.settings.style in music.styles else None
        prior = music.prior(style)
        with self._lock:
            self.music, self.mapping.prior = music, prior
            self.settings = replace(self.settings, style=style)
            self._memory = []  # themes are bars of the old model
            self._codes = CodeMemo(music)

    # --- the engine's thread -----------------------------------------------------------------
    def run(self, stop: threading.Event, until: float | None = None) -> None:
        """Encode frames and schedule bars until `stop` is set (or the wall clock reaches `until`)."""
        failures = 0
        try:
            while not stop.is_set() and (until is None or self.clock() < until):
                try:
                    self._round()
                except Exception:  # an installation plays on: log it (the first few, then every 100th)
                    failures += 1
                    if failures <= 3 or failures % 100 == 0:
                        log.exception("live engine: a round failed (%d so far); playing on", failures)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker thread (what it was preparing is dropped); bars decided after are developed inline."""
        self._discard_prepared()
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None

    def _round(self) -> None:
        wait = self._seconds_to_next_decision()
        try:
            self._look_at(self._frames.get(timeout=max(0.0, min(wait, 0.05))))
        except queue.Empty:
            pass
        if self._seconds_to_next_decision() <= 0:
            self._next_bar()

    def _seconds_to_next_decision(self) -> float:
        if not self.bars:
            return 0.0 if (self._look or self._lost.is_set() or self._waited_long()) else 0.05
        last = self.bars[-1]
        decide_at = last.tick + STEPS_PER_BAR * last.step_ms - LEAD_MS
        return (decide_at - self.player.tick()) / TICKS_PER_SECOND

    def _waited_long(self) -> bool:
        return self.clock() - self._started > 2.0  # no camera at all: start the music drifting

    def _frame(self, t: float, frame: np.ndarray) -> None:
        """A frame seen and looked at on this thread (tests drive the engine frame by frame)."""
        self._look_at(self._see(t, frame))

    def _look_at(self, seen: _Seen) -> None:
        """The engine's thread: the frame's code and look, the key's light, gestures, and changes of the picture."""
        t, small, motion, colour, expression_heard = seen.t, seen.small, seen.motion, seen.colour, seen.heard
        if self._follower is not None:
            self._follower.observe(t, colour)
        self._gesture(t, motion)
        code = self.video.encode(small[None])
        self.counters.frames_encoded += 1
        with self._lock:
            self.mapping.observe(code)
            position = self.mapping.positions(code)[0]
        self._look.append(position)
        self._motion.append(motion)
        self._colours.append(colour)
        playing = self._playing()
        settled = self.mapping.count >= WARMUP  # the running statistics move too much before
        if self._changes and self._changes[0].answer_tick is not None and \
                self.player.tick() >= self._changes[0].answer_tick:
            self._answer_changes(self._changes[0].answer_tick)  # the new bar decided from them is playing
        if not settled or playing is None:
            return
        if np.linalg.norm(position - playing.position) > self.settings.change:
            new = self._far_from is not playing.position  # past the threshold after a frame that was not: a change
            self._far_from = playing.position
            if new:
                self.counters.changes += 1
                self.counters.expression_ms.append((expression_heard - t) * 1000)  # CC 11 went out above
                self._changes.append(_Change(t, playing.position))
            answered = self._redecode(playing, position)
            if new and not answered:
                self.counters.changes_deferred += 1
                self._changes[-1].deferred = True
            if answered:
                return  # the bar answering is figured at the level of now
        else:
            self._far_from = None
            if self._changes:  # within the threshold of the look playing now, and not answered yet:
                if self._changes[0].answer_tick is not None:  # a bar decided from them answers them
                    self._answer_changes(self._changes[0].answer_tick)
                else:
                    for change in self._changes:  # a bar decided before them covers them, or the picture went back
                        if change.from_look is playing.position:
                            self.counters.changes_withdrawn += 1
                        else:
                            self.counters.changes_merged += 1
                    self._changes = []
        if playing.level != self._level:
            self._refigure(playing)

    def _answer_changes(self, first_note_tick: int) -> None:
        """The changes waiting are answered by the note at `first_note_tick`: the oldest is measured
        to it, from the frame that showed it; the others are merged into that answer."""
        if not self._changes:
            return
        first = self._changes[0]
        tick = min(first_note_tick, first.answer_tick) if first.answer_tick is not None else first_note_tick
        latency = (self.player.heard_at(tick) - first.t_frame) * 1000
        self.counters.latency_ms.append(latency)
        if not first.deferred:
            self.counters.latency_at_once_ms.append(latency)
        self.counters.changes_answered += 1
        self.counters.changes_merged += len(self._changes) - 1
        self._changes = []

    # --- gestures: the figure follows the motion of the last half beat ---------------------------
    def _gesture(self, t: float, motion: float) -> None:
        """Take a frame's motion (pixel levels) and set the figure's level from it. The level reads the
        mean motion of the last GESTURE_WINDOW sixteenths against the busiest such windows of the last
        minute or so (`_beat_scale`, never below MOVING: a still room stays calm)."""
        self._beat.append((t, motion))
        step_s = (self.bars[-1].step_ms if self.bars else 125.0) / TICKS_PER_SECOND
        while self._beat and self._beat[0][0] < t - GESTURE_WINDOW * step_s:
            self._beat.popleft()
        mean = float(np.mean([m for _, m in self._beat]))
        self._beat_scale = max(MOVING, self._beat_scale * BEAT_MEMORY, mean)
        self._shown.append((t, motion / self._beat_scale))
        if not self.settings.gestures:
            return  # the level stays NEUTRAL: every bar as decided
        level = level_of(mean / self._beat_scale, self._level, self._levels.add(mean / self._beat_scale))
        if level >= self._level:
            self._calmer_since = None
        elif self._calmer_since is None:
            self._calmer_since = t
        if level == self._level or level < self._level and t - self._calmer_since < GESTURE_RELEASE * step_s:
            return  # busier at once; calmer once the calm has lasted GESTURE_RELEASE
        self._level, self._calmer_since = level, None
        self.counters.gestures += 1

    def _refigure(self, playing: _Bar) -> bool:
        """Answer a gesture: figure the rest of the bar playing at the level of now, from its next free
        sixteenth, and the next bar whole when it is scheduled (their layers are scheduled again, as
        they were). False when nothing is answered now (within GESTURE_EVERY sixteenths of the last
        answer, or the figure is the same)."""
        now = self.player.tick()
        if now - max(self._answered_at, self._figured_at) < GESTURE_EVERY * playing.step_ms:
            return False
        step = max(1, math.ceil((now + MARGIN_MS - playing.tick) / playing.step_ms))
        targets = ([(playing, step)] if step < STEPS_PER_BAR else []) + \
            [(b, 0) for b in self.bars if b.index == playing.index + 1]
        replaced = []
        for bar, first in targets:
            tokens = figure(bar.decided, self._level, self.key, first)
            tokens[:first] = bar.tokens[:first]
            replaced.append((replace(bar, tokens=tokens, level=self._level), first))
        self.bars = [next((b for b, _ in replaced if b.index == old.index), old) for old in self.bars]
        if all(np.array_equal(new.tokens, old.tokens) for (new, _), (old, _) in zip(replaced, targets)):
            return False  # the same notes: the level is taken, nothing to play again
        (head, first), rest = replaced[0], [b for b, _ in replaced[1:]]
        start_tick = int(round(head.tick + first * head.step_ms))
        self._figured_at = now  # (a change of the picture is answered regardless: it does not wait for a gesture's)
        events = self._events(head, first) + [e for b in rest for e in self._events(b, 0)]
        self.player.replace_from(start_tick, events)
        if self._backed():
            self._layers_again([b for b, _ in replaced], first, start_tick)
        head.answers += 1
        self.counters.gestures_answered += 1
        for bar, _ in replaced:
            self._announce(bar)
        return True

    def _heard(self, bar: _Bar) -> None:
        """Record a bar once it can no longer change: the motion of the frames shown while it was heard
        (against the gestures' scale), what it played, and the motion of the frames its figure answers
        (those shown GESTURE_WINDOW sixteenths earlier) (bench/gestures.py)."""
        notes = bar.tokens[bar.tokens >= FIRST_PITCH_TOKEN].astype(int)
        start, end = self.player.heard_at(bar.tick), self.player.heard_at(int(bar.tick + STEPS_PER_BAR * bar.step_ms))
        lead = GESTURE_WINDOW * bar.step_ms / TICKS_PER_SECOND  # the frames a figure answers come this much before it
        shown = [m for t, m in self._shown if start <= t < end]
        answered = [m for t, m in self._shown if start - lead <= t < end - lead]
        self.counters.bars_heard.append((bar.index, float(np.mean(shown)) if shown else None, onsets(bar.tokens),
                                         int(np.abs(np.diff(notes)).sum()) if len(notes) > 1 else 0,
                                         bar.level, bar.answers, float(np.mean(answered)) if answered else None))

    # --- the key follows the light ---------------------------------------------------------------
    def _move_key(self, new: Key) -> None:
        """Move the piece into `new`: the themes, the anchor and the bars development reads are
        transposed into it (by whole octaves kept in the register), and what was prepared is dropped."""
        old, shift = self.key, shift_between(self.key, new)
        register = self.settings.conducting.register

        def carried(bar: np.ndarray) -> np.ndarray:
            moved = transpose(np.asarray(bar)[None], np.array([shift]))[0]
            first = bar[bar >= FIRST_PITCH_TOKEN]
            return place_octave(moved, int(pitch_of(first[:1])[0]) if len(first) else None, register)

        self.key = new
        self._memory = [(look, carried(bar)) for look, bar in self._memory]
        self._played = [(i, carried(bar)) for i, bar in self._played]
        if self._anchor is not None:
            self._anchor = (self._anchor[0], carried(self._anchor[1]))
        if self._last_pitch is not None:
            self._last_pitch += shift
        self._discard_prepared()
        self.counters.key_changes += 1
        log.info("key %s -> %s: the light has asked for %s for %.0f minutes", old, new, self._follower.asking,
                 self.settings.key_follow_s / 60)

    def change_figures(self) -> dict:
        """What the stats report of the picture's changes (see the module's docstring)."""
        c = self.counters
        return {"picture_changes": c.changes, "picture_changes_answered": c.changes_answered,
                "changes_deferred": c.changes_deferred, "changes_merged": c.changes_merged,
                "changes_withdrawn": c.changes_withdrawn, "changes_pending": len(self._changes),
                "bars_redecoded": c.redecodes,
                "latency_ms_picture_to_first_changed_note": spread(c.latency_ms),
                "latency_ms_changes_answered_at_once": spread(c.latency_at_once_ms),
                "latency_ms_picture_to_expression": spread(c.expression_ms)}

    def _playing(self) -> _Bar | None:
        now = self.player.tick()
        for bar in reversed(self.bars):
            if bar.tick <= now:
                return bar
        return None

    # --- deciding bars -----------------------------------------------------------------------
    def _next_bar(self) -> None:
        """Decide, decode and schedule the bar after the last one."""
        if self._look:
            look = np.mean(self._look, axis=0)
        elif self._last_look is not None:  # no frame during a whole bar: the camera is gone; drift from the last look
            prev = self._last_look
            look = DRIFT * prev + math.sqrt(1 - DRIFT ** 2) * self._rng.standard_normal(prev.shape).astype(np.float32)
        else:
            look = self._rng.standard_normal(self.mapping.train_std.shape).astype(np.float32)
        self._last_look = look
        motion = float(np.mean(self._motion)) if self._motion else 0.0
        brightness = float(luma(np.mean(self._colours, axis=0))[0]) if self._colours else None
        if self._auto_key and self.key is None:
            colour = np.mean(self._colours, axis=0) if self._colours else np.full(3, 128.0)
            self.key = key_from_colour(colour)
            log.info("key %s (from the picture's colour)", self.key)
            if self.settings.key_follow_s > 0:
                self._follower = KeyFollower(self.key, colour, self.settings.key_follow_s)
        self._look, self._motion, self._colours = [], [], []
        if self._bpm_next is not None or not self.bars:
            bpm = self._bpm_next or self.settings.bpm
            self._bpm_next = None
            self.settings = replace(self.settings, bpm=bpm)
        step_ms = 240.0 / self.settings.bpm / STEPS_PER_BAR * TICKS_PER_SECOND
        if self.bars:
            last = self.bars[-1]
            index, tick = last.index + 1, int(round(last.tick + STEPS_PER_BAR * last.step_ms))
        else:
            index, tick = 0, self.player.tick() + LEAD_MS
        previous = self.bars[-1] if self.bars else None
        anew = self._entered.is_set()
        self._entered.clear()
        if self._follower is not None and self._follower.due(self.clock()) and \
                (index - self._phrase_start) % PHRASE == 0:  # a phrase's first bar: the last one closed on the tonic
            self._move_key(self._follower.move())
        tokens, position, code = self._decide(look, previous, index, anew=anew and previous is not None)
        level = self._level
        bar = _Bar(index, tick, step_ms, figure(tokens, level, self.key), position, code, self._velocity(motion),
                   plain=tokens, level=level, answers=int(previous is not None and level != previous.level))
        events = self._events(bar, 0)
        self.player.schedule(events)
        if self._backed():
            self.player.schedule(self._layer_events(bar, 0, self._played_before(bar.index), _Backing(
                min(1.0, motion / self._motion_scale), brightness, self._phrase_start)))
        if self._changes and previous is not None and position is not previous.position:  # decided from them
            first_note = min((e.tick for e in events if e.velocity), default=None)
            if first_note is not None:
                bar.answers += 1
                for change in self._changes:
                    change.answer_tick = first_note if change.answer_tick is None else change.answer_tick
        for over in (self.bars + [bar])[:-2]:  # no longer replaced: what it played is final
            self._heard(over)
        self.bars = (self.bars + [bar])[-2:]
        self.counters.bars_played += 1
        self._announce(bar)
        self._prepare_next()

    def _decide(self, look: np.ndarray, previous: _Bar | None, index: int,
                anew: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, the look they play, its music code): held, a theme, or decoded anew (conductor.py's
        rules, one bar), closing its phrase on the tonic when bar `index` ends one (phrase_end).
        `anew`: someone entered the room; decoded anew, as after a cut (neither held nor a theme)."""
        how = self.settings.conducting
        steady = self.settings.change if self._people == 0 else self.settings.steady  # an empty room holds its look
        if not anew and previous is not None and np.linalg.norm(look - previous.position) < steady:
            return phrase_end(self._held(index, previous), self.key, how, index - self._phrase_start), \
                previous.position, previous.code
        if anew or previous is not None and np.linalg.norm(look - previous.position) > self.settings.change:
            self._phrase_start = index  # a cut: the phrase starts again
        with self._lock:
            code = self.mapping.place(look[None])
        if how.theme_radius > 0 and self._memory and not anew:
            looks = np.stack([m[0] for m in self._memory])
            distance = np.linalg.norm(looks - look, axis=1)
            best = int(distance.argmin())
            if distance[best] < how.theme_radius and (previous is None or
                                                      not np.array_equal(self._memory[best][1], previous.tokens)):
                self._anchor = (index, self._memory[best][1])
                return phrase_end(self._memory[best][1], self.key, how, index - self._phrase_start), look, code[0]
        keyed = codes_in_key(self.music, code, self.key, how)[0]
        before = (previous.tokens, float(np.linalg.norm(look - previous.position))) if previous is not None else None
        if anew and before is not None:  # as a cut: nothing of the bar before is kept
            before = (before[0], max(before[1], self.settings.change))
            self.counters.bars_anew_on_entrance += 1
        tokens = finish_bar(self.music, keyed, self.key, how, before, self._last_pitch)
        self._anchor = (index, tokens)
        tokens = phrase_end(tokens, self.key, how, index - self._phrase_start)
        self._memory = (self._memory + [(look, tokens)])[-how.memory:]
        return tokens, look, code[0]

    def _held(self, index: int, previous: _Bar) -> np.ndarray:
        """Bar `index` of a held look, before its phrase end: the anchor again every RETURN bars and a bar
        inpainted towards its return between (the bar before again when development is off). The bar
        prepared on the worker (_prepare_next) when it was made from what the bar is made from now."""
        if inpainter_for(self.music, self.settings.conducting) is None or self._anchor is None:
            return previous.decided
        wanted = self._development(index)
        if wanted is None:
            return self._anchor[1]
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            job, future = prepared
            if job.same(wanted):
                try:
                    tokens = future.result()  # prepared a bar ago: done, or nearly
                    self.counters.developed_prepared += 1
                    return tokens
                except Exception:
                    log.exception("developing bar %d on the worker failed; developing it here", index)
            else:
                future.cancel()  # stale: what it was made from changed since (a re-decode, another model)
        self.counters.developed_inline += 1
        return wanted.develop(self._codes)

    def _development(self, index: int) -> _Development | None:
        """What bar `index` of a held look would be developed from now; None when it is not developed
        (development off, no anchor, or the anchor's return)."""
        how, music = self.settings.conducting, self.music
        inpainter = inpainter_for(music, how)
        if inpainter is None or self._anchor is None:
            return None
        first, anchor = self._anchor
        offset = index - first
        if offset % RETURN == 0:
            return None
        past = [t for i, t in self._played if i >= max(self._phrase_start, index - inpainter.max_context)]
        played = [t for i, t in self._played if i >= max(first, index - DEVELOP_AVOID)]
        return _Development(index, first, self._phrase_start, music, inpainter, how, self.key, self._last_pitch,
                            np.array(past, np.int64).reshape(-1, STEPS_PER_BAR), np.array(anchor[None], np.int64),
                            bars_to_return(offset), np.array(played, np.int64).reshape(-1, STEPS_PER_BAR))

    def _prepare_next(self) -> None:
        """Start developing the bar after the last one scheduled on the worker, in case its look is held:
        deciding it then takes what is ready instead of inpainting on this thread while frames wait."""
        self._discard_prepared()
        if self._worker is None or not self.bars:
            return
        job = self._development(self.bars[-1].index + 1)
        if job is None:
            return
        if self._worker_codes.music is not job.music:  # another model: codes of its own
            self._worker_codes = CodeMemo(job.music)
        try:
            self._prepared = (job, self._worker.submit(job.develop, self._worker_codes))
        except RuntimeError:  # the worker is shut down: bars are developed when decided
            self._worker = None

    def _discard_prepared(self) -> None:
        if self._prepared is not None:
            self._prepared[1].cancel()  # a job already under way runs on; its bar is not taken
            self._prepared = None

    def _velocity(self, motion: float) -> int:
        lo, hi = self.settings.conducting.velocity or (90, 90)
        return int(round(lo + (hi - lo) * min(1.0, motion / self._motion_scale)))

    def _events(self, bar: _Bar, from_step: int) -> list[NoteEvent]:
        """Note-ons of the bar's notes from `from_step` on, and the note-offs of every note sounding
        then (a note ends 1 ms before the next begins, so a repeated pitch is struck again)."""
        events = []
        tick_of = lambda step: int(round(bar.tick + step * bar.step_ms))
        for note in tokens_to_notes(bar.tokens):
            if note.end <= from_step:
                continue
            off = tick_of(note.end) - 1
            if note.start >= from_step:
                on = tick_of(note.start)
                events.append(NoteEvent(on, note.pitch, bar.velocity, on, off - on))
            events.append(NoteEvent(off, note.pitch, 0, off))
        return events

    # --- the layers under the melody ----------------------------------------------------------
    def _backed(self) -> bool:
        """Whether any layer plays under the melody."""
        return len(self.settings.band.layers) > 1

    def _played_before(self, index: int) -> list[np.ndarray]:
        """The melody bars scheduled before bar `index`, the last HARMONY_CONTEXT of them (its chords' context)."""
        return [t for i, t in self._played if index - HARMONY_CONTEXT <= i < index]

    def _layer_events(self, bar: _Bar, from_step: int, before: list[np.ndarray], made: _Backing,
                      cut_next: bool = False, from_tick: int | None = None) -> list[NoteEvent]:
        """The band's layers under `bar` (its melody as it stands, `before` the bars played before it),
        from `from_step` on, each note with its note-off; a chord or bass note sounding at that step is
        struck again there (at `from_tick`, when an answer is struck off the grid: notes due before it
        are struck then, and drum hits due before it, already heard, are left out). `made`: the bar's
        motion, brightness and phrase start; what each layer carries on with (the bass's code, the
        drums' level, the last chord) is recorded for the next bar. `cut_next`: a cut comes on the next
        bar (the drums fill into it)."""
        started = time.perf_counter()
        band = self.settings.band
        layers = band.layers
        prior = self._backings.get(bar.index - 1)
        notes = []
        spans, voicing, z, level = [], prior.voicing if prior else None, None, None
        if "harmony" in layers or "bass" in layers:
            spans, chords = harmony_bar(np.array(before, np.int64).reshape(-1, STEPS_PER_BAR), bar.decided, self.key,
                                        band.part("harmony").pattern, voicing)
            if "harmony" in layers and chords:
                notes += [("harmony", n) for n in chords]
                last = max(n.start for n in chords)
                voicing = tuple(sorted(n.pitch for n in chords if n.start == last))
        if "bass" in layers:
            same_phrase = prior is not None and prior.z is not None and prior.phrase_start == made.phrase_start
            z = steer_bar(made.motion, made.brightness, prior.z if same_phrase else None)
            notes += [("bass", n) for n in bass_notes(bar.decided[None], spans, z[None], np.array([bar.velocity]))]
        if "drums" in layers:
            level = next_level(made.motion, prior.level if prior else None)
            crash = cut_into(bar.index, made.phrase_start, prior.phrase_start if prior else None)
            notes += [("drums", n) for n in drum_bar(level, made.motion, phrase_fill(bar.index - made.phrase_start,
                                                                                   cut_next), crash)]
        self._backings = {i: b for i, b in self._backings.items() if bar.index - 4 <= i < bar.index}
        self._backings[bar.index] = replace(made, z=z, level=level, voicing=voicing)
        tick_of = lambda step: int(round(bar.tick + step * bar.step_ms))
        first = tick_of(from_step) if from_tick is None else from_tick
        events = []
        for layer, note in notes:
            on, off = tick_of(note.start), tick_of(note.end) - 1
            if on < first and layer == "drums" or off <= first:
                continue
            on = max(on, first)
            events += [NoteEvent(on, note.pitch, note.velocity, on, off - on, CHANNELS[layer]),
                       NoteEvent(off, note.pitch, 0, off, channel=CHANNELS[layer])]
        self.counters.layers_ms.append((time.perf_counter() - started) * 1000)
        return events

    def _announce(self, bar: _Bar) -> None:
        self._played = ([p for p in self._played if p[0] < bar.index] + [(bar.index, bar.decided)])[-(DEVELOP_AVOID + 1):]
        onsets = bar.tokens[bar.tokens >= FIRST_PITCH_TOKEN]
        if len(onsets):
            self._last_pitch = int(pitch_of(onsets[-1:])[0])
        self.path = (self.path + [bar.code])[-64:]
        if self.on_bar is not None:
            try:
                self.on_bar(bar.index, bar.code, bar.tokens)
            except Exception:
                log.exception("bar output failed")

    # --- answering a change within the bar -----------------------------------------------------
    def _redecode(self, playing: _Bar, position: np.ndarray) -> bool:
        """Answer a change: decode the bar playing again from the next free sixteenth (or from now,
        off the grid, when that is more than ANSWER_WAIT_MS away; the next bar from its start when the
        playing one is over), with a new note first; the bar after it, if scheduled, follows the new
        look. Both are rescheduled in one go. False when it is not answered now: within ANSWER_EVERY
        sixteenths of the last answer, or before the next bar is decided."""
        now = self.player.tick()
        if now - self._answered_at < ANSWER_EVERY * playing.step_ms:
            return False
        earliest = now + MARGIN_MS
        target, step = playing, math.ceil((earliest - playing.tick) / playing.step_ms)
        answer_tick = None  # the answering note's tick, when it does not wait for the grid
        if 1 <= step < STEPS_PER_BAR and playing.tick + step * playing.step_ms - earliest > ANSWER_WAIT_MS:
            step, answer_tick = step - 1, earliest  # the step playing now is struck again, from now
        if step >= STEPS_PER_BAR:
            later = [b for b in self.bars if b.index > playing.index]
            if not later:
                return False  # the next bar is not decided yet: it will be, from this look
            target, step = later[0], 0
        self._answered_at = now
        how = self.settings.conducting
        with self._lock:
            code = self.mapping.place(position[None])
        bias = key_bias(self.key, how.chromatic, how.register, 1)
        bias[0, step, HOLD] = bias[0, step, NOTE_OFF] = -np.inf  # answer with a note,
        if target.tokens[step] >= FIRST_PITCH_TOKEN:        # and not the one the bar had there
            bias[0, step, target.tokens[step]] = -np.inf
        tokens = self.music.decode(code, bias=bias, prefix=target.tokens[None, :step], leap_penalty=how.leap_penalty)[0]
        self._anchor = (target.index, tokens)  # a new look: its bar is the anchor
        tokens = phrase_end(tokens, self.key, how, target.index - self._phrase_start)  # its new notes close the phrase
        self._phrase_start = target.index + 1  # a change this far is a cut: the phrase starts again after it
        level = self._level
        heard = figure(tokens, level, self.key, step)  # (its first note, the answer, is left as it is)
        heard[:step] = target.tokens[:step]
        replaced = [replace(target, tokens=heard, plain=tokens, position=position, code=code[0], level=level,
                            answers=target.answers + 1)]
        after = [b for b in self.bars if b.index > target.index]
        if after:
            tokens_after, _, code_after = self._decide(position, None, after[0].index)
            replaced.append(replace(after[0], tokens=figure(tokens_after, level, self.key), plain=tokens_after,
                                    position=position, code=code_after, level=level))
        events = self._events(replaced[0], step) + [e for b in replaced[1:] for e in self._events(b, 0)]
        start_tick = int(round(target.tick + step * target.step_ms))
        ready = self.player.tick() + 3  # decoding took longer than MARGIN_MS: strike the answer from now
        if answer_tick is not None or start_tick < ready:
            answer_tick = max(answer_tick or 0, ready)
        if answer_tick is not None:  # off the grid on purpose: each note keeps its grid tick (Player.off_grid)
            start_tick = answer_tick
        events = _struck_from(events, answer_tick)
        self.player.replace_from(start_tick, events)  # the answer first; the layers' notes taken back end there
        if self._backed():  # then the layers under the bars decoded again, made from the new melody
            self._layers_again(replaced, step, start_tick)
        self.bars = ([b for b in self.bars if b.index < target.index] + replaced)[-2:]
        self.counters.redecodes += 1
        first_note = min((e.tick for e in events if e.velocity), default=None)  # the answer (a new note by the bias)
        if first_note is not None:
            self._answer_changes(first_note)
        else:
            self.counters.changes_without_new_note += 1
        log.debug("picture changed: bar %d re-decoded from step %d", target.index, step)
        for bar in replaced:  # each bar decoded again goes out (OSC, the window), the playing one first
            self._announce(bar)
        self._prepare_next()  # the next bar develops what the re-decode made
        return first_note is not None

    def _layers_again(self, replaced: list[_Bar], step: int, start_tick: int) -> None:
        """Schedule the layers under the bars a re-decode replaced, each as soon as it is made: the first
        from `step`, struck from `start_tick` (a fill into the phrase that starts after it), the one after
        it whole, at the phrase's start; each from the motion and brightness it was decided with."""
        before = self._played_before(replaced[0].index)
        made = [self._backings.get(bar.index) or _Backing(0.0, None, self._phrase_start) for bar in replaced]
        for k, (bar, was) in enumerate(zip(replaced, made)):
            phrase_start = was.phrase_start if k == 0 else self._phrase_start
            cut_next = k == 0 and cut_into(bar.index + 1, self._phrase_start, phrase_start)
            self.player.schedule(self._layer_events(bar, step if k == 0 else 0, before,
                                                    replace(was, phrase_start=phrase_start), cut_next,
                                                    start_tick if k == 0 else None))
            before = (before + [bar.tokens])[-HARMONY_CONTEXT:]
