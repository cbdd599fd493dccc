"""Drums: a General MIDI kit on channel 10 whose groove follows the picture's motion, bar by bar.

A soundtrack needs a pulse, and a pulse that grows with the picture tells the viewer the scene got
busy before the tune does. The groove is data: GROOVES holds one 4/4 bar of 16 sixteenths per
density level (0: nothing, 1: a light pulse, ... 6: a full groove with sixteenth hats), each
instrument's line a string with a digit (loudness 1-9) where it strikes. A bar's motion (the
offline score's `Score.motion`, in [0, 1]) picks its level (`levels`: evenly spaced thresholds,
none tuned on a clip; after a busy bar the groove eases off by at most RELEASE levels a bar
rather than stopping dead) and scales its velocities, so a still room is sparse and soft, a busy one
full and loud.

Structure comes from the conductor's phrases (`Conducted.phrase_start`, restarted after a cut):
the last beat of every 4th bar of a phrase has a short fill (the melody's tonic cadence), the last
two beats of every 8th bar a long one, and the bar before a cut a long fill with a crash on the
cut's downbeat (`fills`). A cut inside a bar makes the conductor jump twice (two phrase starts in
a row): only the first is answered. Fills are data too (FILLS), lighter in quiet bars, none in a
silent one.

With no picture (motion None: `score-av music arrange`) every bar plays MEDIUM, a steady groove,
with the phrase fills of a piece that is one phrase from its first bar. Deterministic: no
randomness. `drum_track` writes the notes as a MIDI track named "drums" on channel 9 (0-based),
to append to the melody's file.
"""
from __future__ import annotations

import mido
import numpy as np

from music_vae.midi_io import DRUM_CHANNEL, TICKS_PER_BEAT, notes_to_midi
from music_vae.representation import STEPS_PER_BAR, STEPS_PER_QUARTER, Note

from .conductor import PHRASE

# General MIDI percussion keys (channel 10)
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 42, 46, 49, 51
LOW_TOM, MID_TOM, HIGH_TOM = 45, 47, 50

# One bar per density level: instrument -> 16 steps, a digit (loudness 1-9) where it strikes.
GROOVES: list[dict[int, str]] = [
    {},                                                                         # 0: still: nothing
    {KICK: "5.......4......."},                                                 # 1: a light pulse
    {KICK: "6.......5.......", CLOSED_HAT: "....3.......3..."},                 # 2
    {KICK: "7.......6.......", SNARE: "....5.......5...", CLOSED_HAT: "4...4...4...4..."},   # 3
    {KICK: "7.......6.......", SNARE: "....6.......6...", CLOSED_HAT: "5.3.5.3.5.3.5.3."},   # 4: medium
    {KICK: "8.....5.7.......", SNARE: "....7.......7...", CLOSED_HAT: "6.4.6.4.6.4.6...",
     OPEN_HAT: "..............5."},                                             # 5
    {KICK: "9.....6.8.5.....", SNARE: "....8..2....8.2.", CLOSED_HAT: "7373737373737373"},   # 6: busy
]
MEDIUM = 4              # the level of every bar when there is no picture (arrange)
MEDIUM_MOTION = 0.5     # the loudness of those bars, as if the picture moved half as much as the busiest

SHORT, LONG = 1, 2      # fill sizes: the last beat, the last two beats
FILL_FROM = {SHORT: STEPS_PER_BAR - STEPS_PER_QUARTER, LONG: STEPS_PER_BAR - 2 * STEPS_PER_QUARTER}
# Fills by weight (light: levels 1-2, mid: 3-4, full: 5-6) and size; they replace the groove from FILL_FROM on.
FILLS: dict[str, dict[int, dict[int, str]]] = {
    "light": {SHORT: {SNARE: "..............4."},
              LONG: {MID_TOM: "..........3.....", LOW_TOM: "..............4."}},
    "mid": {SHORT: {SNARE: "............4.55"},
            LONG: {SNARE: "........4.45....", MID_TOM: "............55..", LOW_TOM: "..............66"}},
    "full": {SHORT: {KICK: "............7...", SNARE: "............5667"},
             LONG: {KICK: "........8.......", SNARE: "........5656....", HIGH_TOM: "............67..",
                    LOW_TOM: "..............78"}},
}
RELEASE = 2             # levels the groove may fall in a bar; it rises as fast as the picture moves
CRASH_FROM = 3          # the lowest level whose cut downbeat gets a crash


def levels(motion: np.ndarray, release: int | None = None) -> np.ndarray:
    """Each bar's density level from its motion in [0, 1]: evenly spaced steps, 0 below 1/7. With
    `release`, a level falls at most that much a bar (it rises at once): a drummer eases off after a
    burst of movement instead of stopping dead, and one busy bar between still ones is not a blip."""
    top = len(GROOVES) - 1
    level = np.clip(np.floor(np.asarray(motion, np.float64) * (top + 1)), 0, top).astype(int)
    for k in range(1, len(level) if release is not None else 0):
        level[k] = max(level[k], level[k - 1] - release)
    return level


def cuts(phrase_start: np.ndarray) -> np.ndarray:
    """(n,) bool: a cut into this bar (a phrase restarted there), the second of two jumps in a row left out."""
    starts = np.asarray(phrase_start) == np.arange(len(phrase_start))
    starts[:1] = False
    return starts & ~np.r_[False, starts[:-1]]


def fills(phrase_start: np.ndarray) -> np.ndarray:
    """(n,) fill size of each bar: LONG before a cut and on every 8th bar of a phrase, SHORT on every
    4th (where the melody cadences on the tonic), 0 elsewhere."""
    n = len(phrase_start)
    index = np.arange(n) - np.asarray(phrase_start)
    size = np.where(index % (2 * PHRASE) == 2 * PHRASE - 1, LONG, np.where(index % PHRASE == PHRASE - 1, SHORT, 0))
    before_cut = np.r_[cuts(phrase_start)[1:], False]
    return np.where(before_cut, LONG, size)


def _strikes(lines: dict[int, str], start: int, after: int = 0, before: int = STEPS_PER_BAR):
    for pitch, line in lines.items():
        for step, ch in enumerate(line):
            if ch != "." and after <= step < before:
                yield Note(pitch, start + step, start + step + 1, int(ch))


def _velocity(digit: int, motion: float) -> int:
    """A pattern's loudness digit (1-9) at this bar's motion: quiet bars play softer."""
    return int(np.clip(round((20 + 11 * digit) * (0.6 + 0.4 * motion)), 1, 127))


def drum_bar(level: int, motion: float, fill: int = 0, crash: bool = False, start: int = 0) -> list[Note]:
    """One bar's drum notes from step `start`: the level's groove, its last beat(s) given to a fill,
    a crash on the downbeat. Live can call this a bar ahead as it decides the bar."""
    fill_from = FILL_FROM.get(fill, STEPS_PER_BAR) if level > 0 else STEPS_PER_BAR
    marks = list(_strikes(GROOVES[level], start, before=fill_from))
    if fill_from < STEPS_PER_BAR:
        weight = "light" if level <= 2 else "mid" if level <= 4 else "full"
        marks += _strikes(FILLS[weight][fill], start, after=fill_from)
    if crash and level >= CRASH_FROM:
        marks = [m for m in marks if not (m.start == start and m.pitch in (CLOSED_HAT, OPEN_HAT))]
        marks.append(Note(CRASH, start, start + 1, 8))
    return sorted((Note(m.pitch, m.start, m.end, _velocity(m.velocity, motion)) for m in marks),
                  key=lambda m: (m.start, m.pitch))


def next_level(motion: float, before: int | None = None, release: int | None = RELEASE) -> int:
    """One bar's level from its motion in [0, 1], as `levels` gives it after a bar at level `before`
    (None: the first bar): live decides its bars one at a time."""
    level = int(levels(np.array([motion], np.float64))[0])
    return level if before is None or release is None else max(level, int(before) - release)


def phrase_fill(position: int, cut_next: bool = False) -> int:
    """The fill of the bar `position` bars into its phrase, as `fills` gives it; `cut_next`: a cut is
    known to come on the next bar (live knows it only of a bar decoded again to answer a change)."""
    at = int(position) % (2 * PHRASE)  # fills repeat every two phrases
    starts = np.r_[np.zeros(at + 1, int), at + 1] if cut_next else np.zeros(at + 1, int)
    return int(fills(starts)[at])


def cut_into(index: int, phrase_start: int, before: int | None) -> bool:
    """Whether bar `index`, its phrase started at bar `phrase_start`, is a cut as `cuts` finds one: a
    phrase started there, and not on the bar before too (`before`: that bar's phrase start; None: none)."""
    return index > 0 and phrase_start == index and not (index > 1 and before == index - 1)


def drum_notes(motion: np.ndarray | None, phrase_start: np.ndarray | None = None,
               n_bars: int | None = None, release: int | None = RELEASE) -> list[Note]:
    """The drums of a piece: one bar per entry of `motion` (n,) in [0, 1], phrased by `phrase_start`
    (n,) (None: one phrase from bar 0), the level falling at most `release` a bar (None: each bar's
    own). motion None: `n_bars` bars at MEDIUM, steady. Velocities follow each bar's own motion."""
    if motion is None:
        if n_bars is None:
            raise ValueError("drum_notes needs motion or n_bars")
        motion = np.full(n_bars, MEDIUM_MOTION)
        level = np.full(n_bars, MEDIUM)
    else:
        motion = np.clip(np.asarray(motion, np.float64), 0, 1)
        level = levels(motion, release)
    n = len(motion)
    phrase_start = np.zeros(n, int) if phrase_start is None else np.asarray(phrase_start)
    fill, crash = fills(phrase_start), cuts(phrase_start)
    return [note for k in range(n)
            for note in drum_bar(int(level[k]), float(motion[k]), int(fill[k]), bool(crash[k]), k * STEPS_PER_BAR)]


def score_drums(score) -> list[Note]:
    """The drums for a `score_av.score.Score`: its bars' motion and the conductor's phrases."""
    phrase_start = score.conducted.phrase_start if score.conducted is not None else None
    return drum_notes(score.motion, phrase_start)


def drum_track(notes: list[Note], bpm: float = 120.0, ticks_per_beat: int = TICKS_PER_BEAT) -> mido.MidiTrack:
    """The drum notes as a MIDI track named "drums" on channel 9 (GM's channel 10), to append to the
    melody's file (same ticks per beat); it repeats the tempo, so it also plays on its own."""
    track = notes_to_midi(notes, bpm=bpm, program=0, channel=DRUM_CHANNEL, ticks_per_beat=ticks_per_beat).tracks[0]
    track.insert(0, mido.MetaMessage("track_name", name="drums", time=0))
    return track


def bars_of(notes: list[Note], n_bars: int) -> np.ndarray:
    """(n_bars,) number of drum notes struck in each bar: what the benchmark and tests count."""
    return np.bincount([n.start // STEPS_PER_BAR for n in notes], minlength=n_bars)[:n_bars]
