"""One tune in, its 4/4 bars out (2/4 bars paired), or the reason it was skipped.

Works on whatever music21 parses (ABC, MusicXML, kern) and on MIDI files read with mido.
Bars are cut at the tune's own barlines, so pickups and incomplete bars never shift the grid;
a bar with an onset off the sixteenth grid (a triplet, say) or a pitch off the piano is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..midi_io import read_midi
from ..representation import (FIRST_PITCH_TOKEN, MAX_PITCH, MIN_PITCH, STEPS_PER_BAR,
                              STEPS_PER_QUARTER, Note, notes_to_tokens)

FOUR_FOUR = {"4/4", "2/2"}  # the same 16-step bar
TWO_FOUR = {"2/4"}


@dataclass
class TuneBars:
    """The bars of one tune, or why it gave none; `dropped` counts bars left out and why."""

    tune_id: str
    style: str
    bars: np.ndarray = field(default_factory=lambda: np.zeros((0, STEPS_PER_BAR), np.uint8))
    skipped: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)


def _on_grid(q: float) -> bool:
    return abs(q * STEPS_PER_QUARTER - round(q * STEPS_PER_QUARTER)) < 1e-6


def cut_bars(notes: list[Note], bar_starts: list[int], bad_steps: set[int], n_steps: int,
             dropped: dict[str, int]) -> np.ndarray:
    """Tokens of the bars starting at `bar_starts` (in steps), leaving out bars that are unusable."""
    tokens = notes_to_tokens(notes, n_steps)
    bars = []
    for start in bar_starts:
        if start < 0 or start + STEPS_PER_BAR > n_steps:
            continue
        if any(s in bad_steps for s in range(start, start + STEPS_PER_BAR)):
            dropped["off-grid or out-of-range note"] = dropped.get("off-grid or out-of-range note", 0) + 1
            continue
        bar = tokens[start:start + STEPS_PER_BAR]
        if not (bar >= FIRST_PITCH_TOKEN).any():
            dropped["no note starts in the bar"] = dropped.get("no note starts in the bar", 0) + 1
            continue
        bars.append(bar)
    return np.array(bars, dtype=np.uint8).reshape(-1, STEPS_PER_BAR)


def bars_from_score(score, tune_id: str, style: str) -> TuneBars:
    """The bars of the first part of a music21 score (the melody, or the soprano of a chorale)."""
    from music21 import meter, stream

    result = TuneBars(tune_id, style)
    part = score.parts[0] if getattr(score, "parts", None) else score
    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        result.skipped = "no barlines"
        return result
    sigs = {ts.ratioString for ts in part.recurse().getElementsByClass(meter.TimeSignature)
            if ts.numerator > 1}
    if not sigs:
        result.skipped = "no time signature"
        return result
    if sigs <= FOUR_FOUR:
        bar_q = 4.0
    elif sigs <= TWO_FOUR:
        bar_q = 2.0
    else:
        result.skipped = "meter " + ",".join(sorted(sigs))
        return result

    notes, bad_steps = [], set()
    prev = None  # [start_q, end_q, pitch] of the last note, to join ties
    for el in part.flatten().notesAndRests:
        ql = float(el.quarterLength)
        if ql <= 0 or el.duration.isGrace:
            continue
        on = float(el.offset)
        if el.isRest:
            prev = None
            continue
        pitch = max(p.midi for p in el.pitches)
        tie = getattr(el, "tie", None)
        if tie is not None and tie.type in ("stop", "continue") and prev is not None \
                and prev[2] == pitch and abs(prev[1] - on) < 1e-6:
            prev[1] = on + ql
            continue
        prev = [on, on + ql, pitch]
        notes.append(prev)
    grid_notes = []
    for on, off, pitch in notes:
        start = round(on * STEPS_PER_QUARTER)
        if not _on_grid(on) or not MIN_PITCH <= pitch <= MAX_PITCH:
            bad_steps.add(start)
            continue
        grid_notes.append(Note(pitch, start, max(start + 1, round(off * STEPS_PER_QUARTER))))
    n_steps = round(float(part.highestTime) * STEPS_PER_QUARTER)

    full = [m for m in measures
            if abs(float(m.duration.quarterLength) - bar_q) < 1e-6 and not m.paddingLeft
            and _on_grid(float(m.offset))]
    starts = []
    if bar_q == 4.0:
        starts = [round(float(m.offset) * STEPS_PER_QUARTER) for m in full]
    else:
        i = 0
        while i + 1 < len(full):
            a, b = float(full[i].offset), float(full[i + 1].offset)
            if abs(b - a - 2.0) < 1e-6:
                starts.append(round(a * STEPS_PER_QUARTER))
                i += 2
            else:
                i += 1
    result.bars = cut_bars(grid_notes, starts, bad_steps, n_steps, result.dropped)
    if not len(result.bars):
        result.skipped = "no complete bar with notes"
    return result


def bars_from_midi(path, tune_id: str, style: str) -> TuneBars:
    """The bars of a MIDI file's melody, cut by its time signatures (4/4 or 2/2; 2/4 paired)."""
    result = TuneBars(tune_id, style)
    melody = read_midi(path)
    sigs = {f"{n}/{d}" for _, n, d in melody.time_signatures}
    if not sigs <= FOUR_FOUR | TWO_FOUR or len({s in TWO_FOUR for s in sigs}) > 1:
        result.skipped = "meter " + ",".join(sorted(sigs))
        return result
    n_steps = max(n.end for n in melody.notes)
    n_steps = -(-n_steps // STEPS_PER_BAR) * STEPS_PER_BAR
    first = min(s for s, _, _ in melody.time_signatures)
    starts = list(range(first, n_steps, STEPS_PER_BAR))
    bad = {n.start for n in melody.notes if not MIN_PITCH <= n.pitch <= MAX_PITCH}
    notes = [n for n in melody.notes if n.start not in bad]
    result.bars = cut_bars(notes, starts, bad, n_steps, result.dropped)
    if not len(result.bars):
        result.skipped = "no complete bar with notes"
    return result


def bars_from_music21_source(source: str, tune_id: str, style: str, is_text: bool = False) -> TuneBars:
    """Parse an ABC tune's text, or a file music21 reads, and cut its bars; parse errors become a skip reason."""
    from music21 import converter

    try:
        parsed = converter.parse(source, format="abc", forceSource=True) if is_text \
            else converter.parse(str(source), forceSource=True)
    except Exception as exc:  # music21 raises many kinds on malformed input
        return TuneBars(tune_id, style, skipped=f"unparseable ({type(exc).__name__})")
    scores = list(parsed.scores) if hasattr(parsed, "scores") and parsed.scores else [parsed]
    if not scores:
        return TuneBars(tune_id, style, skipped="no tune in the file")
    try:
        return bars_from_score(scores[0], tune_id, style)
    except Exception as exc:
        return TuneBars(tune_id, style, skipped=f"unreadable structure ({type(exc).__name__})")
