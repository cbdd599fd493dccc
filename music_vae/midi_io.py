"""MIDI files in and out: notes on the sixteenth-note grid, written and read with mido.

Writing then reading gives back the same notes for anything on the grid. Reading any MIDI file
reduces it to one melody (the highest note at each onset, drums left out), quantised to the grid.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import mido

from .errors import MusicInputError
from .representation import STEPS_PER_QUARTER, Note

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9


def bar_seconds(bpm: float) -> float:
    """Seconds of one 4/4 bar at `bpm`, exactly as a written MIDI file plays it (its tempo is in
    whole microseconds per beat), so pictures and MIDI never drift apart."""
    if not bpm > 0:
        raise ValueError(f"bpm must be positive, got {bpm}")
    return 4 * mido.bpm2tempo(bpm) / 1_000_000


def notes_to_midi(notes: list[Note], bpm: float = 120.0, program: int = 0, channel: int = 0,
                  ticks_per_beat: int = TICKS_PER_BEAT) -> mido.MidiFile:
    """A one-track MIDI file of `notes` in 4/4 at `bpm`."""
    per_step = ticks_per_beat // STEPS_PER_QUARTER
    track = mido.MidiTrack([
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
        mido.Message("program_change", program=program, channel=channel, time=0),
    ])
    events = []  # (tick, order, message): note-offs before note-ons on the same tick
    for n in notes:
        events.append((n.end * per_step, 0, mido.Message("note_off", note=n.pitch, velocity=0, channel=channel)))
        events.append((n.start * per_step, 1, mido.Message("note_on", note=n.pitch, velocity=n.velocity, channel=channel)))
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    return midi


def write_midi(path, notes: list[Note], bpm: float = 120.0, program: int = 0) -> Path:
    """Write `notes` to `path` under a temporary name first, so no half-written file is left."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    notes_to_midi(notes, bpm=bpm, program=program).save(str(tmp))
    os.replace(tmp, path)
    return path


@dataclass
class MidiMelody:
    """A MIDI file reduced to a melody on the grid, with its time signatures (step, num, den)."""

    notes: list[Note]
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)
    off_grid_notes: int = 0


def read_midi(path) -> MidiMelody:
    """Read a MIDI file as a quantised monophonic melody; a clear MusicInputError if it cannot be used."""
    path = Path(path)
    try:
        midi = mido.MidiFile(str(path))
    except FileNotFoundError:
        raise MusicInputError(f"{path}: no such file") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise MusicInputError(f"{path}: not a readable MIDI file ({exc})") from None
    per_step = midi.ticks_per_beat / STEPS_PER_QUARTER
    sounding: dict[tuple[int, int], int] = {}
    intervals, signatures = [], []
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature":
                signatures.append((round(tick / per_step), msg.numerator, msg.denominator))
            elif msg.type in ("note_on", "note_off") and msg.channel != DRUM_CHANNEL:
                key = (msg.channel, msg.note)
                if msg.type == "note_on" and msg.velocity > 0:
                    sounding.setdefault(key, tick)
                elif key in sounding:
                    intervals.append((sounding.pop(key), tick, msg.note))
    if not intervals:
        raise MusicInputError(f"{path}: the MIDI file has no notes")
    by_onset: dict[int, tuple[int, int]] = {}
    off_grid = 0
    for on, off, pitch in intervals:
        start = round(on / per_step)
        off_grid += abs(on / per_step - start) > 1e-6
        end = max(start + 1, round(off / per_step))
        if start not in by_onset or pitch > by_onset[start][0]:
            by_onset[start] = (pitch, end)
    notes = []
    onsets = sorted(by_onset)
    for i, start in enumerate(onsets):
        pitch, end = by_onset[start]
        if i + 1 < len(onsets):
            end = min(end, onsets[i + 1])
        notes.append(Note(pitch, start, end))
    signatures = sorted(set(signatures)) or [(0, 4, 4)]
    return MidiMelody(notes, signatures, off_grid)
