"""A person's melody file in, the same tune with some bars inpainted out (`score-av music inpaint`).

The corpus reads a tune as its full bars and leaves out whatever does not fit the model (a pick-up, a
short last bar, a bar split at a repeat sign, a bar with a triplet); here every note must come back out,
so a tune is one token per sixteenth over its whole length, and its bars are the 16-step slices from
the first full bar on (bar 1; a pick-up before it is bar 0). Notes off the sixteenth grid (triplets)
are moved onto it, as the MIDI reader does, and counted. A pick-up is written to MIDI as notation
programs write it, a short first measure with its own time signature, and read back the same way.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import mido
import numpy as np

from .corpus.extract import FOUR_FOUR
from .corpus.sources import SCORE_FILE_SUFFIXES, split_abc_tunes
from .errors import MusicInputError
from .midi_io import DRUM_CHANNEL, notes_to_midi, read_midi
from .representation import (FIRST_PITCH_TOKEN, HOLD, MAX_PITCH, MIN_PITCH, NOTE_OFF, STEPS_PER_BAR,
                             STEPS_PER_QUARTER, Note, notes_to_tokens, tokens_to_notes)

DEFAULT_BPM = 120.0
SAMPLE_TEMPERATURE = 1.0  # --samples: each bar's choice and tokens drawn from the model's own probabilities
REDRAWS = 20  # a sample that repeats an earlier one is drawn again, this many times at most


@dataclass(frozen=True)
class Melody:
    """One tune: `tokens` one per sixteenth from the file's first step, bar 1 starting `pickup` steps in."""

    tokens: np.ndarray
    pickup: int = 0
    bpm: float = DEFAULT_BPM
    program: int = 0
    off_grid: int = 0  # notes moved onto the sixteenth grid when read

    @property
    def n_bars(self) -> int:
        return (len(self.tokens) - self.pickup) // STEPS_PER_BAR

    @property
    def bars(self) -> np.ndarray:
        """The full bars (n_bars, 16), bar 1 first."""
        return self.tokens[self.pickup:self.pickup + self.n_bars * STEPS_PER_BAR].reshape(-1, STEPS_PER_BAR)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

def read_melody(path) -> Melody:
    """A MIDI, ABC or MusicXML file as one 4/4 melody; a MusicInputError of one line when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise MusicInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        return _read_midi(path)
    if suffix == ".abc" or suffix in SCORE_FILE_SUFFIXES:
        return _read_score(path)
    raise MusicInputError(f"{path}: not a melody file (expected .mid, .abc or MusicXML)")


def _bar_of(step: int, pickup: int) -> int:
    return max(0, (step - pickup) // STEPS_PER_BAR + 1)


def _read_midi(path: Path) -> Melody:
    """read_midi's notes (the highest of any that sound together, on the grid); mido again for what it does
    not keep: the tempo, the program, and whether notes sound together at all."""
    melody = read_midi(path)
    sigs = list(melody.time_signatures)
    pickup = 0
    first_len = STEPS_PER_BAR * sigs[0][1] / sigs[0][2]
    if sigs[0][0] == 0 and f"{sigs[0][1]}/{sigs[0][2]}" not in FOUR_FOUR and first_len < STEPS_PER_BAR \
            and first_len == int(first_len) and len(sigs) > 1 and sigs[1][0] == first_len:
        pickup, sigs = int(first_len), sigs[1:]  # a short first measure: the pick-up
    meters = sorted({f"{n}/{d}" for _, n, d in sigs})
    if not set(meters) <= FOUR_FOUR:
        raise MusicInputError(f"{path}: in {', '.join(meters)}; the model knows 4/4 tunes only")
    midi = mido.MidiFile(str(path))
    per_step = midi.ticks_per_beat / STEPS_PER_QUARTER
    tempo = program = None
    spans, end = [], 0
    for track in midi.tracks:
        tick, sounding = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo" and tempo is None:
                tempo = msg.tempo
            elif msg.type == "program_change" and msg.channel != DRUM_CHANNEL and program is None:
                program = msg.program
            elif msg.type in ("note_on", "note_off") and msg.channel != DRUM_CHANNEL:
                if msg.type == "note_on" and msg.velocity > 0:
                    sounding.setdefault((msg.channel, msg.note), tick)
                elif (msg.channel, msg.note) in sounding:
                    spans.append((round(sounding.pop((msg.channel, msg.note)) / per_step), round(tick / per_step)))
        end = max(end, round(tick / per_step))
    spans.sort()  # a legato overlap of a sixteenth at most is still one melody
    for (a, a_end), (b, _) in zip(spans, spans[1:]):
        if b == a or a_end - b > 1:
            raise MusicInputError(f"{path}: notes sound together in bar {_bar_of(b, pickup)} (chords or several "
                                  "voices); inpaint reads one melody, one note at a time")
    notes = melody.notes
    tokens = notes_to_tokens(notes, max(end, max(n.end for n in notes)))
    bpm = mido.tempo2bpm(tempo) if tempo else DEFAULT_BPM
    return Melody(tokens, pickup, bpm, program or 0, melody.off_grid_notes)


def _read_score(path: Path) -> Melody:
    """ABC (one tune) or MusicXML through music21; ties joined as the corpus joins them (same pitch only)."""
    from music21 import chord, converter, harmony, meter, stream, tempo

    try:
        if path.suffix.lower() == ".abc":
            text = path.read_text(encoding="latin-1")
            tunes = split_abc_tunes(text)
            if len(tunes) > 1:
                raise MusicInputError(f"{path}: {len(tunes)} tunes in one file; put the one to inpaint in a file "
                                      "of its own")
            tune = tunes[0][1] if tunes else text
            music = (line.split("%")[0] for line in tune.splitlines() if not re.match(r"[A-Za-z+]:", line))
            if any("&" in re.sub(r'"[^"]*"', "", line) for line in music):  # music21 reads an overlay as more bars
                raise MusicInputError(f"{path}: a second voice (& overlay); inpaint reads one melody")
            parsed = converter.parse(tune, format="abc", forceSource=True)
        else:
            parsed = converter.parse(str(path), forceSource=True)
    except MusicInputError:
        raise
    except Exception as exc:  # music21 raises many kinds on malformed input
        raise MusicInputError(f"{path}: music21 cannot read it ({type(exc).__name__})") from None
    score = parsed.scores[0] if getattr(parsed, "scores", None) else parsed
    parts = list(score.parts) if getattr(score, "parts", None) else [score]
    if len(parts) > 1:
        raise MusicInputError(f"{path}: {len(parts)} voices; inpaint reads one melody")
    part = parts[0]
    if any(True for _ in part.recurse().getElementsByClass(stream.Voice)):
        raise MusicInputError(f"{path}: several voices; inpaint reads one melody")
    meters = sorted({ts.ratioString for ts in part.recurse().getElementsByClass(meter.TimeSignature)
                     if ts.numerator > 1})  # as the corpus reads them
    if not meters:
        raise MusicInputError(f"{path}: no time signature (an M: line in ABC); the model knows 4/4 tunes")
    if not set(meters) <= FOUR_FOUR:
        raise MusicInputError(f"{path}: in {', '.join(meters)}; the model knows 4/4 tunes only")
    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        raise MusicInputError(f"{path}: no bar lines")
    first = float(measures[0].duration.quarterLength)
    pickup = round(first * STEPS_PER_QUARTER) if first < 4 - 1e-6 else 0
    for m in measures:  # full bars must lie on the grid from bar 1 (split bars at repeat signs add up)
        at = float(m.offset) * STEPS_PER_QUARTER - pickup
        if abs(float(m.duration.quarterLength) - 4) < 1e-6 and abs(at - round(at / 16) * 16) > 1e-6:
            raise MusicInputError(f"{path}: bar {_bar_of(round(at) + pickup, pickup)} does not start a whole number "
                                  "of 4/4 bars after bar 1; check the bar lines before it")
    for c in part.recurse().getElementsByClass(chord.Chord):
        if not isinstance(c, harmony.Harmony) and len(c.pitches) > 1:  # a chord symbol is not played
            bar = _bar_of(round(float(c.getOffsetInHierarchy(part)) * STEPS_PER_QUARTER), pickup)
            raise MusicInputError(f"{path}: a chord in bar {bar}; inpaint reads one melody, one note at a time")

    spans, prev = [], None  # [start, end, pitch] in quarters
    for el in part.flatten().notesAndRests:
        if el.isRest:
            prev = None
            continue
        if el.duration.isGrace or float(el.quarterLength) <= 0:
            continue  # grace notes and chord symbols
        on, pitch = float(el.offset), max(p.midi for p in el.pitches)
        tie = getattr(el, "tie", None)
        if tie is not None and tie.type in ("stop", "continue") and prev is not None and prev[2] == pitch \
                and abs(prev[1] - on) < 1e-6:
            prev[1] = on + float(el.quarterLength)
            continue
        prev = [on, on + float(el.quarterLength), pitch]
        spans.append(prev)
    if not spans:
        raise MusicInputError(f"{path}: no notes")
    notes, off_grid = [], 0
    for on, off, pitch in spans:
        if not MIN_PITCH <= pitch <= MAX_PITCH:
            raise MusicInputError(f"{path}: a note (MIDI {pitch}) off the piano")
        start = round(on * STEPS_PER_QUARTER)
        off_grid += abs(on * STEPS_PER_QUARTER - start) > 1e-6
        notes.append(Note(pitch, start, max(start + 1, round(off * STEPS_PER_QUARTER))))
    steps = max(round(float(part.highestTime) * STEPS_PER_QUARTER), max(n.end for n in notes))
    marks = [m.getQuarterBPM() for m in score.recurse().getElementsByClass(tempo.MetronomeMark)]
    bpm = next((float(b) for b in marks if b), DEFAULT_BPM)
    return Melody(notes_to_tokens(notes, steps), pickup, bpm, 0, off_grid)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def _signature(steps: int) -> tuple[int, int]:
    """A pick-up's time signature: 4 steps 1/4, 6 steps 3/8, 3 steps 3/16."""
    num, den = steps, 16
    while num % 2 == 0 and den > 4:
        num, den = num // 2, den // 2
    return num, den


def melody_midi(melody: Melody) -> mido.MidiFile:
    """The tune as one MIDI track at its tempo and program, lasting to its last step (rests included);
    a pick-up is a short first measure with its own time signature."""
    midi = notes_to_midi(tokens_to_notes(melody.tokens), bpm=melody.bpm, program=melody.program)
    per_step = midi.ticks_per_beat // STEPS_PER_QUARTER
    events, tick = [], 0
    for msg in midi.tracks[0]:
        tick += msg.time
        if msg.type == "time_signature" and melody.pickup:
            num, den = _signature(melody.pickup)
            events.append((0, msg.copy(numerator=num, denominator=den, time=0)))
            events.append((melody.pickup * per_step, msg.copy(numerator=4, denominator=4)))
        elif msg.type != "end_of_track":
            events.append((tick, msg))
    events.sort(key=lambda e: (e[0], not e[1].is_meta))  # stable: note-offs stay before note-ons
    track, now = mido.MidiTrack(), 0
    for at, msg in events:
        track.append(msg.copy(time=at - now))
        now = at
    track.append(mido.MetaMessage("end_of_track", time=max(0, len(melody.tokens) * per_step - now)))
    midi.tracks[0] = track
    return midi


def write_melody(path, melody: Melody) -> Path:
    """Write under a temporary name first, so that no half-written file is left."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    melody_midi(melody).save(str(tmp))
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------
# Inpainting
# ---------------------------------------------------------------------------------------------

def parse_bars(text: str) -> tuple[int, int]:
    """`--bars`: "5" or "5-8", counted from 1."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m:
        raise MusicInputError(f"--bars {text}: give a bar (5) or a range of bars (5-8), counted from 1")
    first, last = int(m[1]), int(m[2] or m[1])
    if last < first:
        raise MusicInputError(f"--bars {text}: the first bar comes first (e.g. {last}-{first})")
    return first, last


def check_bars(melody: Melody, first: int, last: int, max_missing: int, name: str = "the tune") -> None:
    """One line saying what is wrong with replacing bars first..last, if anything is."""
    n, span = melody.n_bars, f"--bars {first}-{last}" if last > first else f"--bars {first}"
    has = f"{name} has bars 1-{n}" + (" (bar 0, its pick-up, is always kept)" if melody.pickup else "")
    if first < 1 or last > n:
        raise MusicInputError(f"{span}: {has}")
    if last - first + 1 > max_missing:
        raise MusicInputError(f"{span} is {last - first + 1} bars; the model fills 1 to {max_missing} at a time")
    if last - first + 1 == n:
        raise MusicInputError(f"{span}: {has}; leave at least one of them to inpaint from")


def _sounding(tokens: np.ndarray, step: int) -> int:
    """The token that starts at `step` what sounded there: the pitch held over it, or a note-off."""
    before = np.flatnonzero(tokens[:step + 1] != HOLD)
    return int(tokens[before[-1]]) if len(before) and tokens[before[-1]] >= FIRST_PITCH_TOKEN else NOTE_OFF


def inpaint_melody(melody: Melody, first: int, last: int, inpainter, temperature: float = 0.0,
                   seed: int | None = None) -> Melody:
    """The tune with bars first..last (from 1) inpainted from the bars around them, every other step kept.
    Notes do not cross the replaced bars' edges: one held into them ends at their first bar line, and
    the part of one held out of them into the next kept bar sounds there as a note of its own."""
    check_bars(melody, first, last, inpainter.config.model.max_missing)
    bars = inpainter.replace_bars(melody.bars, first - 1, last - first + 1, temperature, seed)
    a, b = melody.pickup + (first - 1) * STEPS_PER_BAR, melody.pickup + last * STEPS_PER_BAR
    tokens = melody.tokens.copy()
    tokens[a:b] = bars[first - 1:last].reshape(-1)
    if tokens[a] == HOLD:
        tokens[a] = NOTE_OFF
    if b < len(tokens) and tokens[b] == HOLD:
        tokens[b] = _sounding(melody.tokens, b)
    return replace(melody, tokens=tokens)


def sample_paths(out, samples: int) -> list[Path]:
    """OUT itself for one fill; OUT-1 ... OUT-N (same suffix) for samples."""
    out = Path(out)
    return [out] if samples == 1 else [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(1, samples + 1)]


def inpaint_file(src, first: int, last: int, out, samples: int = 1, seed: int = 0, model: str = "inpaint",
                 device: str = "auto") -> list[tuple[Path, Melody]]:
    """Read `src`, replace bars first..last and write OUT (one greedy fill), or OUT-1 ... OUT-N drawn at
    SAMPLE_TEMPERATURE with seeds drawn from `seed`; the model is often sure, so a sample that repeats an
    earlier one is drawn again (REDRAWS times at most). The outputs and their melodies."""
    from .inpaint import Inpainter

    if samples < 1:
        raise MusicInputError("--samples must be at least 1")
    melody = read_melody(src)
    check_bars(melody, first, last, max_missing=last - first + 1, name=Path(src).name)  # before loading the model
    inpainter = Inpainter(model, device=device)
    check_bars(melody, first, last, inpainter.config.model.max_missing, Path(src).name)
    if samples == 1:
        return [(write_melody(out, filled), filled) for filled in [inpaint_melody(melody, first, last, inpainter)]]
    rng, fills = np.random.default_rng(seed), []
    for _ in range(samples):
        for _ in range(REDRAWS):
            filled = inpaint_melody(melody, first, last, inpainter, SAMPLE_TEMPERATURE, int(rng.integers(2 ** 31)))
            if not any(np.array_equal(filled.tokens, f.tokens) for f in fills):
                break
        fills.append(filled)
    return [(write_melody(path, f), f) for path, f in zip(sample_paths(out, samples), fills)]
