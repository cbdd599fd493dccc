"""The band under the melody: each layer's MIDI track, made from what the score already holds.

The melody is the conductor's (conductor.py). Under it, each layer is made from the melody and the
picture, so adding one never changes the melody:

- **harmony**: chords for the melody's bars in the piece's key (music_vae/harmony.py: a search over
  the key's diatonic chords weighing the melody's strong-beat notes, with a progression prior from
  the Bach chorales), one or two a bar, voiced close in the middle register and struck as the
  band's pattern says; a stretch in another key (`--modulate`) is harmonised in its own key.
- **bass**: the bass model (music_vae/bass.py, after BassNet) plays each bar under the melody bar
  and the chords the harmony chose for it, steered by its 2-D code, which the picture sets
  (`bass_steering`): axis 0 (register) from the picture's brightness, axis 1 (notes per bar) from
  its motion, both smoothed within a shot and started afresh at a cut. A dark, still room gets a
  low bass of one or two notes a bar; a bright, busy one a higher, walking one.
- **drums**: a General MIDI kit on channel 10 whose groove follows each bar's motion, with fills at
  phrase ends and before cuts (drums.py).

Which layers play, on which instrument and how loud is the `Band` (band.py: presets). Each layer is
a track named after it on its own channel (band.CHANNELS), its level as the channel's volume
(CC 7). The melody alone at full level is the score's MIDI unchanged.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import mido
import numpy as np

from music_vae.harmony import ChordSpan, harmonize, load_prior, read_key, voice
from music_vae.midi_io import notes_to_midi
from music_vae.representation import STEPS_PER_BAR, Note, tokens_to_notes

from .band import CHANNELS, Band
from .errors import ScoreAVError
from .drums import drum_notes, drum_track

if TYPE_CHECKING:
    from music_vae.bass import Bass

HARMONY_VELOCITY = 60     # the comping sits under the tune
BASS_VELOCITY = 80        # the bass's loudness where the melody's is not given (music arrange)
REGISTER_FROM = (0.2, 0.7)  # brightness (luma 0-1) mapped to the register axis from -1.5 (dark) to +1.5 (bright)
NOTES_FROM = (-1.5, 1.0)  # the notes axis from a still bar (motion 0) to a busy one (motion 1)
STEER_KEEP = 0.6          # within a shot, each bar's steering keeps this share of the bar before's
XY_SCALE = 1.5            # music arrange's --xy in [-1, 1] is the bass code times this (the picture's reach)


def harmony_spans(bars: np.ndarray, keys: list) -> list[ChordSpan]:
    """The chords under the melody's bars (n, 16), sixteenths from the first bar: each run of bars in
    one key harmonised in it (a bar without a key: the key read from all the bars)."""
    prior, spans, read = load_prior(), [], None
    k = 0
    while k < len(bars):
        end = k
        while end < len(bars) and keys[end] == keys[k]:
            end += 1
        if keys[k] is None:
            read = read or read_key(bars)
            tonic, mode = read
        else:
            tonic, mode = keys[k].tonic, keys[k].mode
        shift = k * STEPS_PER_BAR
        spans += [ChordSpan(s.chord, s.start + shift, s.end + shift) for s in harmonize(bars[k:end], tonic, mode, prior)]
        k = end
    return spans


def harmony_notes(bars: np.ndarray, keys: list, pattern: str = "half") -> list[Note]:
    """The comping chords under the melody's bars, in the middle register."""
    return voice(harmony_spans(bars, keys), pattern=pattern, velocity=HARMONY_VELOCITY)


def bass_steering(motion: np.ndarray | None, brightness: np.ndarray | None,
                  phrase_start: np.ndarray | None) -> np.ndarray:
    """The bass model's code for each bar (n, 2) from the picture: axis 0 (register) from brightness,
    linearly from -1.5 at luma REGISTER_FROM[0] to +1.5 at REGISTER_FROM[1] (clipped); axis 1 (notes)
    from motion in [0, 1], NOTES_FROM[0] still to NOTES_FROM[1] busy. Smoothed bar by bar within a shot
    (each bar keeps STEER_KEEP of the bar before's) and started afresh on the bar after a cut, so the
    bass moves with the shot, not with every flicker. Without a picture (None): the code's centre."""
    n = len(motion) if motion is not None else len(brightness) if brightness is not None else 0
    z = np.zeros((n, 2), np.float32)
    if brightness is not None:
        lo, hi = REGISTER_FROM
        z[:, 0] = np.clip(-1.5 + 3.0 * (np.asarray(brightness, np.float32) - lo) / (hi - lo), -1.5, 1.5)
    if motion is not None:
        z[:, 1] = NOTES_FROM[0] + (NOTES_FROM[1] - NOTES_FROM[0]) * np.clip(np.asarray(motion, np.float32), 0, 1)
    starts = np.asarray(phrase_start) if phrase_start is not None else np.zeros(n, int)
    for k in range(1, n):
        if starts[k] == starts[k - 1]:  # the same shot: move part of the way
            z[k] = STEER_KEEP * z[k - 1] + (1 - STEER_KEEP) * z[k]
    return z


@lru_cache(maxsize=2)
def bass_model(name: str = "bass") -> Bass:
    """The shipped bass model, loaded once a process (torch with it: not before a bass is asked for)."""
    from music_vae.bass import Bass

    return Bass(name, device="cpu")


def bass_notes(bars: np.ndarray, spans: list[ChordSpan], z: np.ndarray, velocities: np.ndarray | None = None) -> list[Note]:
    """The bass under the melody's bars (n, 16) and their chords, steered bar by bar by z (n, 2); each bar
    as loud as the melody's (`velocities`, which follow motion), BASS_VELOCITY without them."""
    from music_vae.bass import chords_of_spans

    bass = bass_model().play(np.asarray(bars, np.int64), chords_of_spans(spans, len(bars)), z)
    loud = (lambda bar: int(velocities[min(bar, len(velocities) - 1)])) if velocities is not None and len(velocities) \
        else (lambda bar: BASS_VELOCITY)
    return [Note(n.pitch, n.start, n.end, loud(n.start // STEPS_PER_BAR)) for n in tokens_to_notes(bass)]


def harmony_bar(before: np.ndarray, bar: np.ndarray, key, pattern: str = "half",
                previous: tuple[int, ...] | None = None) -> tuple[list[ChordSpan], list[Note]]:
    """One bar's chords and comping, as live plays them bar by bar: the chords `harmony_spans` chooses
    for the melody bars before it (`before`, (m, 16), the last few played) and this one (16,) in `key`
    (None: read from the bars), this bar's alone as spans from its first step, voiced with `pattern`
    nearest `previous` (the last chord struck before it). ([], []) when no key can be read (no notes)."""
    bars = np.vstack([np.asarray(before, np.int64).reshape(-1, STEPS_PER_BAR), np.asarray(bar, np.int64)[None]])
    try:
        spans = harmony_spans(bars, [key] * len(bars))
    except ValueError:  # no key given and no note to read one from
        return [], []
    start = (len(bars) - 1) * STEPS_PER_BAR
    mine = [ChordSpan(s.chord, max(s.start, start) - start, s.end - start) for s in spans if s.end > start]
    return mine, voice(mine, pattern=pattern, velocity=HARMONY_VELOCITY, previous=previous)


def steer_bar(motion: float | None, brightness: float | None, before: np.ndarray | None = None) -> np.ndarray:
    """One bar's bass code (2,) as `bass_steering` gives it bar by bar (live): the same mapping from the
    bar's motion (0-1) and brightness (luma 0-1), moving STEER_KEEP of the way from `before`, the code of
    the bar before in the same shot (None: the first bar of a shot, or of the piece)."""
    if motion is None and brightness is None:
        z = np.zeros(2, np.float32)
    else:
        z = bass_steering(None if motion is None else np.array([motion], np.float32),
                          None if brightness is None else np.array([brightness], np.float32), None)[0]
    return z if before is None else STEER_KEEP * np.asarray(before, np.float32) + (1 - STEER_KEEP) * z


def named(track: mido.MidiTrack, name: str) -> mido.MidiTrack:
    track.insert(0, mido.MetaMessage("track_name", name=name, time=0))
    return track


def leveled(track: mido.MidiTrack, channel: int, level: float) -> mido.MidiTrack:
    """The track with its channel's volume set to `level` (CC 7) before its first note."""
    at = next((i for i, m in enumerate(track) if m.type == "program_change"), 0) + 1
    track.insert(at, mido.Message("control_change", channel=channel, control=7, value=int(round(127 * level)), time=0))
    return track


def layer_tracks(bars: np.ndarray, keys: list, band: Band, bpm: float, ticks_per_beat: int,
                 motion=None, brightness=None, phrase_start=None, velocities=None, z: np.ndarray | None = None,
                 offset: int = 0) -> dict[str, mido.MidiTrack]:
    """The tracks of the band's layers under a melody (bars (n, 16) in `keys`), melody excepted. The
    picture's figures per bar (motion, brightness, phrase starts) steer them where given; `z` (2,) or
    (n, 2) sets the bass's code instead; without a picture the drums keep a steady medium groove.
    `offset`: sixteenths before the first bar (a pick-up), by which every layer starts later."""
    tracks, spans = {}, None
    for name in band.layers:
        part = band.part(name)
        if name in ("harmony", "bass"):
            spans = spans if spans is not None else harmony_spans(bars, keys)
        if name == "harmony":
            notes = voice(spans, pattern=part.pattern, velocity=HARMONY_VELOCITY)
        elif name == "bass":
            steer = bass_steering(motion, brightness, phrase_start) if z is None else \
                np.broadcast_to(np.asarray(z, np.float32), (len(bars), 2))
            notes = bass_notes(bars, spans, steer, velocities)
        elif name == "drums":
            notes = drum_notes(motion, phrase_start, n_bars=len(bars))
        else:
            continue
        notes = [Note(n.pitch, n.start + offset, n.end + offset, n.velocity) for n in notes]
        if name == "drums":
            track = drum_track(notes, bpm, ticks_per_beat=ticks_per_beat)
        else:
            track = named(notes_to_midi(notes, bpm=bpm, program=part.program, channel=CHANNELS[name],
                                        ticks_per_beat=ticks_per_beat).tracks[0], name)
        tracks[name] = leveled(track, CHANNELS[name], part.level)
    return tracks


def arrange(score, band: Band, bpm: float) -> mido.MidiFile:
    """The score's MIDI with a track per layer after the melody's, each named after its layer."""
    midi = score.midi
    melody = band.part("melody")
    if band.layers == ("melody",) and melody.level == 1.0:
        return midi
    named(midi.tracks[0], "melody")
    if melody.level != 1.0:
        leveled(midi.tracks[0], CHANNELS["melody"], melody.level)
    conducted = score.conducted
    tracks = layer_tracks(score.bars, conducted.keys, band, bpm, midi.ticks_per_beat, motion=score.motion,
                          brightness=score.brightness, phrase_start=conducted.phrase_start,
                          velocities=conducted.velocities)
    midi.tracks.extend(tracks.values())
    return midi


def stems(midi: mido.MidiFile) -> dict[str, mido.MidiFile]:
    """Each track of an arranged file as a file of its own, named after its layer: what --stems renders."""
    out = {}
    for track in midi.tracks:
        name = next((m.name for m in track if m.type == "track_name"), "melody")
        alone = mido.MidiFile(ticks_per_beat=midi.ticks_per_beat)
        alone.tracks.append(track)
        out[name] = alone
    return out


def arrange_melody(melody, band: Band, key=None, xy: tuple[float, float] = (0.0, 0.0)) -> mido.MidiFile:
    """A musician's melody (music_vae.melody_file.Melody) with the band under it: the melody's own track
    note for note (its tempo, program and pick-up kept), the layers under its full bars in `key` (a
    score_av.key.Key; None: read from the melody), the bass at code `xy` (each in [-1, 1]: register,
    notes per bar), the drums at a medium steady density. One track per layer, named after it."""
    from music_vae.melody_file import melody_midi

    from .key import Key

    x, y = (float(v) for v in xy)
    if not (-1 <= x <= 1 and -1 <= y <= 1):
        raise ScoreAVError(f"--xy {x:g} {y:g}: each must be in [-1, 1] (register, notes per bar)")
    if not melody.n_bars:
        raise ScoreAVError("the melody has no full bar of 4/4 to arrange")
    key = key or Key(*read_key(melody.bars))
    midi = melody_midi(melody)
    named(midi.tracks[0], "melody")
    melody_part = band.part("melody")
    if melody_part.level != 1.0:
        leveled(midi.tracks[0], CHANNELS["melody"], melody_part.level)
    tracks = layer_tracks(melody.bars, [key] * melody.n_bars, band, melody.bpm, midi.ticks_per_beat,
                          z=XY_SCALE * np.array([x, y], np.float32), offset=melody.pickup)
    for track in tracks.values():  # the melody's track holds the meter (a pick-up is a short first measure)
        track[:] = [m for m in track if m.type != "time_signature"]
    midi.tracks.extend(tracks.values())
    return midi
