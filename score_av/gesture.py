"""Gestures heard: how much the picture moves sets how busy the melody's figure is, within a beat.

The music model decides which notes a bar plays; movement in front of the camera decides how they
are figured, as a player ornaments a tune (diminution). The picture's motion over the last half beat,
against the busiest beats of the last minute or so, gives a level:

- **0, still** (below 0.15): a calmer bar. Notes struck off the beat are tied to the note before
  (or become rests), so the bar moves in quarter notes at most.
- **1, moving**: the bar as decided.
- **2, busy**: a note is struck on every eighth and on the sixteenth after each beat (a turn on
  the beat): three notes a beat.
- **3, very busy**: a note on every sixteenth: four a beat.

When busy, the notes run on through the bar's rests to its next note, and the bar's last note
turns about itself and is struck again for its last quarter.

Where moving ends and busy begins is the room's own (Levels): the moving beats of the last half
minute are shared out by their quantiles, 40 % moving, 40 % busy, 20 % very busy, so that a lone
visitor's small gestures and a crowd's are both heard across every figure (0.45 and 0.75 until
the room has moved for a while).

A split note walks by steps of the key towards the note after it (passing notes, turning back
before it), or turns about a neighbour when the next note is the same, a step away or not there;
its first part is the note itself. The bar's last note keeps its pitch and its onset: a phrase still closes on its tonic.

Live, the level is read at every frame from the motion of the last half beat (with a margin of
HYSTERESIS around each threshold, so a motion hovering at one does not flap) and a change of level
re-figures the rest of the bar playing from its next sixteenth, at most every eighth; a busier
figure comes at once, a calmer one once the calm has lasted a beat, so a gesture's figure fills
its beat (installations/live/engine.py): the figure answers a gesture within a beat, while loudness
(CC 11) answers each frame.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from music_vae.representation import (FIRST_PITCH_TOKEN, HOLD, MIN_PITCH, NOTE_OFF, STEPS_PER_BAR, STEPS_PER_QUARTER,
                                      tokens_to_notes)

from .key import Key

LEVELS = (0.15, 0.45, 0.75)   # normalised motion at which the figure gets busier (levels 0-3)
HYSTERESIS = 0.02             # a level changes only when motion is past its threshold by this much
NEUTRAL = 1                   # the level that plays the bar as decided


def level_of(motion: float, current: int | None = None, levels=LEVELS) -> int:
    """The figure's level for normalised motion `motion` (0-1) and thresholds `levels`; with `current`,
    kept unless motion is past the threshold between them by HYSTERESIS."""
    level = int(np.searchsorted(levels, motion, side="right"))
    if current is None or level == current:
        return level
    edge = levels[min(level, current)]  # the threshold between the two levels' neighbours
    return level if abs(motion - edge) >= HYSTERESIS else current


class Levels:
    """The thresholds of the levels for a room, from the motion it has shown lately: still is still
    (LEVELS[0], whatever the room), and the moving beats of the last RECENT frames are shared out
    among the other levels by their quantiles (BUSY): a lively crowd and a lone visitor both reach
    every figure. Until MIN_RECENT moving frames are seen, the fixed LEVELS."""

    RECENT = 900          # frames remembered (half a minute at 30 fps)
    MIN_RECENT = 60
    BUSY = (0.4, 0.8)     # quantiles of the moving beats where levels 2 and 3 begin

    def __init__(self):
        self.recent: deque[float] = deque(maxlen=self.RECENT)

    def add(self, motion: float) -> tuple[float, float, float]:
        """Take a beat's normalised motion; the thresholds to read it by."""
        if motion >= LEVELS[0]:
            self.recent.append(motion)
        if len(self.recent) < self.MIN_RECENT:
            return LEVELS
        busy, very = np.quantile(self.recent, self.BUSY)
        busy = max(busy, LEVELS[0] + 2 * HYSTERESIS)
        return LEVELS[0], float(busy), float(max(very, busy + 2 * HYSTERESIS))


def figure(bar: np.ndarray, level: int, key: Key | None, from_step: int = 0) -> np.ndarray:
    """The bar (16 tokens) figured for `level`, from `from_step` on (the steps before are kept as they
    are: they have sounded; a note struck at `from_step` is kept: it may be an answer). Level NEUTRAL
    gives the bar itself."""
    bar = np.asarray(bar, np.int64)
    out = bar.copy()
    notes = [(n.start, n.end, n.pitch) for n in tokens_to_notes(bar)]
    if level == NEUTRAL or not notes:
        return out
    last = notes[-1][0]
    if level < NEUTRAL:
        for start, end, _ in notes:
            if start > from_step and start % STEPS_PER_QUARTER and start != last:
                out[start] = HOLD if start > 0 and out[start - 1] != NOTE_OFF else NOTE_OFF
        return out
    grid = set(range(STEPS_PER_BAR)) if level >= 3 else \
        {s for s in range(STEPS_PER_BAR) if s % 2 == 0 or s % STEPS_PER_QUARTER == 1}
    for i, (start, end, pitch) in enumerate(notes):
        if start == last:  # the closing note turns about itself and comes back to it for its last quarter
            strikes = [s for s in range(start + 1, end - STEPS_PER_QUARTER + 1) if s in grid]
            strikes, after = strikes[:len(strikes) // 2 * 2], None
        else:
            end = notes[i + 1][0]  # busy: a rest after a note is filled, the figure runs on to the next note
            after = notes[i + 1][2]
            strikes = [s for s in range(start + 1, end) if s in grid]
        walk = _walk(pitch, after, len(strikes) + 1, key)
        for s, p in zip(strikes, walk[1:]):
            if s >= from_step:
                out[s] = p - MIN_PITCH + FIRST_PITCH_TOKEN
    return out


def onsets(bar: np.ndarray) -> int:
    """How many notes the bar strikes."""
    return int((np.asarray(bar) >= FIRST_PITCH_TOKEN).sum())


def _walk(pitch: int, towards: int | None, n: int, key: Key | None) -> list[int]:
    """n pitches starting on `pitch`: steps of the key towards `towards` (stopping short of it), or
    the note and its upper neighbour in turn."""
    scale = _scale(key, pitch)
    here = int(np.argmin(np.abs(scale - pitch)))
    if towards is None or towards == pitch:
        return [pitch if k % 2 == 0 else int(scale[min(here + 1, len(scale) - 1)]) for k in range(n)]
    direction = 1 if towards > pitch else -1
    room = int(np.sum(((scale - pitch) * direction > 0) & ((towards - scale) * direction > 0)))
    if room == 0:  # the next note is a step away: turn about the neighbour on the other side
        other = int(scale[np.clip(here - direction, 0, len(scale) - 1)])
        return [pitch if k % 2 == 0 else other for k in range(n)]
    steps = [k % (2 * room) for k in range(n)]  # out towards the next note and back, by steps of the key
    return [int(scale[np.clip(here + direction * min(s, 2 * room - s), 0, len(scale) - 1)]) for s in steps]


def _scale(key: Key | None, around: int) -> np.ndarray:
    """The pitches of the key (every whole tone when there is none) within two octaves of `around`."""
    pitches = np.arange(around - 24, around + 25)
    return pitches[key.contains(pitches)] if key is not None else pitches[(pitches - around) % 2 == 0]
