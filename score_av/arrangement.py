"""The band under the melody: which layers play, and each one's MIDI track from a scored clip.

The melody is the conductor's (conductor.py). Under it, each layer is made from what the score
already holds, so adding one never changes the melody:

- **harmony**: chords for the melody's bars in the piece's key (music_vae/harmony.py: a search over
  the key's diatonic chords weighing the melody's strong-beat notes, with a progression prior from
  the Bach chorales), one or two a bar, voiced close in the middle register and struck on beats 1
  and 3; a stretch in another key (`--modulate`) is harmonised in its own key.
- **drums**: a General MIDI kit on channel 10 whose groove follows each bar's motion, with fills at
  phrase ends and before cuts (drums.py).

The bass of issue 30 (a model the picture steers) is not here yet. Each layer is a track named
after it, on its own channel.
"""
from __future__ import annotations

import mido
import numpy as np

from music_vae.harmony import harmonize, load_prior, read_key, voice
from music_vae.midi_io import notes_to_midi
from music_vae.representation import STEPS_PER_BAR, Note

from .drums import drum_track, score_drums
from .errors import ScoreAVError

LAYERS = ("melody", "harmony", "drums")   # what --layers may name, in the order tracks are written
HARMONY = {"channel": 1, "program": 0, "velocity": 60, "pattern": "half"}  # a piano comping under the tune


def parse_layers(text: str | None) -> tuple[str, ...]:
    """'melody,harmony,drums' -> the layers in LAYERS order; the melody always plays."""
    names = [n.strip().lower() for n in (text or "melody").split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        later = " (the bass model is trained but not part of the band yet)" if "bass" in unknown else ""
        raise ScoreAVError(f"--layers: unknown layer {', '.join(unknown)}; choose from {', '.join(LAYERS)}{later}")
    if "melody" not in names:
        raise ScoreAVError("--layers must include melody: the other layers are made under it")
    return tuple(n for n in LAYERS if n in names)


def harmony_notes(bars: np.ndarray, keys: list) -> list[Note]:
    """The comping chords under the melody's bars (n, 16), each run of bars in one key harmonised in it
    (a bar without a key: the key read from all the bars)."""
    prior, notes = load_prior(), []
    read = None
    k = 0
    while k < len(bars):
        end = k
        while end < len(bars) and keys[end] == keys[k]:
            end += 1
        key = keys[k]
        if key is None:
            read = read or read_key(bars)
            tonic, mode = read
        else:
            tonic, mode = key.tonic, key.mode
        spans = harmonize(bars[k:end], tonic, mode, prior)
        for note in voice(spans, pattern=HARMONY["pattern"], velocity=HARMONY["velocity"]):
            shift = k * STEPS_PER_BAR
            notes.append(Note(note.pitch, note.start + shift, note.end + shift, note.velocity))
        k = end
    return notes


def named(track: mido.MidiTrack, name: str) -> mido.MidiTrack:
    track.insert(0, mido.MetaMessage("track_name", name=name, time=0))
    return track


def arrange(score, layers: tuple[str, ...], bpm: float) -> mido.MidiFile:
    """The score's MIDI with a track per layer after the melody's (each named after its layer)."""
    midi = score.midi
    if layers == ("melody",):
        return midi
    named(midi.tracks[0], "melody")
    if "harmony" in layers:
        notes = harmony_notes(score.bars, score.conducted.keys)
        track = notes_to_midi(notes, bpm=bpm, program=HARMONY["program"], channel=HARMONY["channel"],
                              ticks_per_beat=midi.ticks_per_beat).tracks[0]
        midi.tracks.append(named(track, "harmony"))
    if "drums" in layers:
        midi.tracks.append(drum_track(score_drums(score), bpm, ticks_per_beat=midi.ticks_per_beat))
    return midi
