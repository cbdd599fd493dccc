"""Bars of melody as tokens: MusicVAE's 90-class vocabulary on a 16-step 4/4 grid.

A bar is 16 tokens, one per sixteenth note: 0 holds whatever sounds (or silence), 1 is a
note-off (a rest starts), 2..89 is a note-on of MIDI pitch 21..108. Keeping MusicVAE's
vocabulary keeps our figures comparable with its published ones. Notes are the other view
of the same music, with times counted in steps, which is what MIDI files are written from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEPS_PER_BAR = 16
STEPS_PER_QUARTER = 4
HOLD = 0
NOTE_OFF = 1
FIRST_PITCH_TOKEN = 2
MIN_PITCH = 21
MAX_PITCH = 108
VOCAB_SIZE = FIRST_PITCH_TOKEN + MAX_PITCH - MIN_PITCH + 1  # 90


@dataclass(frozen=True)
class Note:
    """One note of a melody, times in sixteenth-note steps from the start of the first bar."""

    pitch: int
    start: int
    end: int
    velocity: int = 90

    @property
    def duration(self) -> int:
        return self.end - self.start


def pitch_to_token(pitch: int) -> int:
    if not MIN_PITCH <= pitch <= MAX_PITCH:
        raise ValueError(f"pitch {pitch} is outside the piano range {MIN_PITCH}..{MAX_PITCH}")
    return pitch - MIN_PITCH + FIRST_PITCH_TOKEN


def token_to_pitch(token: int) -> int:
    return int(token) - FIRST_PITCH_TOKEN + MIN_PITCH


def notes_to_tokens(notes: list[Note], n_steps: int | None = None) -> np.ndarray:
    """A monophonic note list as one token per step (note-ons win over note-offs on a step)."""
    if n_steps is None:
        n_steps = max((n.end for n in notes), default=0)
        n_steps = -(-n_steps // STEPS_PER_BAR) * STEPS_PER_BAR
    tokens = np.zeros(n_steps, dtype=np.int64)
    onsets = {n.start for n in notes}
    for n in notes:
        if n.end < n_steps and n.end not in onsets:
            tokens[n.end] = NOTE_OFF
    for n in sorted(notes, key=lambda n: (n.start, -n.pitch)):
        if 0 <= n.start < n_steps and tokens[n.start] < FIRST_PITCH_TOKEN:
            tokens[n.start] = pitch_to_token(n.pitch)
    return tokens


def tokens_to_notes(tokens, velocity: int = 90) -> list[Note]:
    """Tokens (any length, e.g. several bars in a row) back to notes; a note lasts until the next event."""
    tokens = np.asarray(tokens).reshape(-1)
    notes, current, start = [], None, 0
    for step, tok in enumerate(tokens.tolist()):
        if tok == HOLD:
            continue
        if current is not None:
            notes.append(Note(current, start, step, velocity))
            current = None
        if tok >= FIRST_PITCH_TOKEN:
            current, start = token_to_pitch(tok), step
    if current is not None:
        notes.append(Note(current, start, len(tokens), velocity))
    return notes


def split_bars(tokens) -> np.ndarray:
    """A token stream whose length is a whole number of bars, as an array (n_bars, 16)."""
    tokens = np.asarray(tokens)
    if tokens.size % STEPS_PER_BAR:
        raise ValueError(f"{tokens.size} steps is not a whole number of {STEPS_PER_BAR}-step bars")
    return tokens.reshape(-1, STEPS_PER_BAR)


def transpose_tokens(bars: np.ndarray, semitones) -> np.ndarray:
    """Shift every note-on by `semitones` (a scalar, or one value per bar); raises if a note leaves the range."""
    bars = np.asarray(bars)
    shift = np.broadcast_to(np.asarray(semitones).reshape(-1, *([1] * (bars.ndim - 1))), bars.shape) \
        if np.ndim(semitones) else semitones
    is_note = bars >= FIRST_PITCH_TOKEN
    out = np.where(is_note, bars + shift, bars)
    if (is_note & ((out < FIRST_PITCH_TOKEN) | (out >= VOCAB_SIZE))).any():
        raise ValueError("transposition moves a note outside the piano range")
    return out


def pitch_bounds(bars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest note-on token of each bar (VOCAB_SIZE / -1 where a bar has none)."""
    bars = np.asarray(bars)
    is_note = bars >= FIRST_PITCH_TOKEN
    low = np.where(is_note, bars, VOCAB_SIZE).min(axis=-1)
    high = np.where(is_note, bars, -1).max(axis=-1)
    return low, high
