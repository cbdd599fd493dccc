"""The piece's tonal frame: a key (tonic and mode), chosen by a person or read from the picture.

The modes are those of the folk corpora the music model learned from: major (Ionian), minor
(Aeolian), Dorian and Mixolydian. `--key auto` reads the key from the clip's colour, by a fixed
rule (`key_from_colour`): the hue of the clip's mean colour walks the circle of fifths (red C,
then G, D, A, ... around the colour wheel), and its brightness picks the mode (bright major,
then Mixolydian, Dorian, and dark minor). The same picture always gives the same key.

Live, over days, the key follows the room's light (KeyFollower): a change of light that lasts
KEY_FOLLOW_S (20 minutes, set per installation, never under KEY_FOLLOW_MIN_S, 5) moves the piece
one step round the keys related to it (dominant, subdominant, relative), towards the key the
light asks for, at a phrase's start.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from .errors import ScoreAVError

MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}
MODE_ALIASES = {"ionian": "major", "aeolian": "minor", "m": "minor", "min": "minor", "maj": "major",
                "mix": "mixolydian", "dor": "dorian"}
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Key:
    tonic: int          # pitch class, 0 = C
    mode: str = "major"

    @staticmethod
    def parse(text: str) -> "Key":
        """'D', 'E dorian', 'F# minor', 'Bb mixolydian', 'Am' (the mode defaults to major)."""
        words = text.strip().replace("-", " ").split()
        if not words:
            raise ScoreAVError("--key needs a tonic, e.g. --key D or --key 'E dorian' (or auto)")
        name, mode = words[0], " ".join(words[1:]).lower() or "major"
        if len(name) > 1 and name[-1] == "m" and len(words) == 1 and name[:-1] and name[-2] in "ABCDEFG#b":
            name, mode = name[:-1], "minor"
        letter, accidentals = name[0].upper(), name[1:]
        if letter not in LETTERS or any(a not in "#b" for a in accidentals):
            raise ScoreAVError(f"--key {text!r}: the tonic must be a note name such as D, F# or Bb")
        mode = MODE_ALIASES.get(mode, mode)
        if mode not in MODES:
            raise ScoreAVError(f"--key {text!r}: the mode must be one of {', '.join(MODES)}")
        tonic = (LETTERS[letter] + accidentals.count("#") - accidentals.count("b")) % 12
        return Key(tonic, mode)

    @property
    def pitch_classes(self) -> np.ndarray:
        return (np.array(MODES[self.mode]) + self.tonic) % 12

    def contains(self, pitches) -> np.ndarray:
        return np.isin(np.asarray(pitches) % 12, self.pitch_classes)

    def related(self) -> list["Key"]:
        """Keys a scene cut may move to (--modulate): the dominant, the subdominant, the relative."""
        relative = Key((self.tonic + 9) % 12, "minor") if self.mode in ("major", "mixolydian") \
            else Key((self.tonic + 3) % 12, "major")
        return [Key((self.tonic + 7) % 12, self.mode), Key((self.tonic + 5) % 12, self.mode), relative]

    def __str__(self) -> str:
        return f"{NAMES[self.tonic]} {self.mode}"


def key_from_colour(rgb) -> Key:
    """The key `--key auto` gives a clip whose mean colour is `rgb` (0-255): see the module docstring."""
    r, g, b = (float(c) / 255.0 for c in np.asarray(rgb, dtype=float)[:3])
    hue, _, value = colorsys.rgb_to_hsv(r, g, b)
    fifths = int(round(hue * 12)) % 12
    modes = ("minor", "dorian", "mixolydian", "major")
    return Key((7 * fifths) % 12, modes[min(3, int(value * 4))])


KEY_FOLLOW_S = 1200.0   # seconds a change of light must last before the key follows it (live, --key auto)
KEY_FOLLOW_MIN_S = 300.0  # the least an installation may set: a change shorter than this is never followed
LIGHT_SECONDS = 60.0    # the light is the frames' colour averaged over about this long (exponentially)


def _signature(key: Key) -> int:
    """Where the key's scale lies on the circle of fifths: its relative major's tonic, in fifths from C."""
    major_tonic = (key.tonic + {"major": 0, "mixolydian": 5, "dorian": 10, "minor": 3}[key.mode]) % 12
    return (7 * major_tonic) % 12


def _distance(a: Key, b: Key) -> tuple[int, int]:
    """How far apart two keys sound: the accidentals between their scales, then how far apart their modes' brightness."""
    fifths = abs(_signature(a) - _signature(b)) % 12
    order = ("minor", "dorian", "mixolydian", "major")
    return min(fifths, 12 - fifths), abs(order.index(a.mode) - order.index(b.mode))


def step_towards(key: Key, target: Key) -> Key:
    """The key the piece moves to when the light asks for `target`: `target` when it is related to
    `key` (Key.related), else the related key that sounds nearest it: one step at a time."""
    options = key.related()
    return target if target in options else min(options, key=lambda k: _distance(k, target))


def shift_between(a: Key, b: Key) -> int:
    """The transposition (-6 to 5 semitones) that carries music in key `a` into key `b`: the one
    that puts most of `a`'s scale in `b`'s, the smallest move on a tie (0 to the relative key)."""
    scale = a.pitch_classes
    return max(range(-6, 6), key=lambda s: (int(b.contains(scale + s).sum()), -abs(s)))


class KeyFollower:
    """The key of a piece that follows the light of a room over days (live, --key auto).

    Each frame's mean colour updates the light (an exponential average over LIGHT_SECONDS of the
    given clock), and the light asks for a key (key_from_colour). When it has asked for another key
    than the piece's, without a break, for `after_s` seconds, a move is `due`; `move` then takes the
    piece one step towards it (step_towards), and the wait starts again: a light that keeps asking
    for a far key walks the piece there a step every `after_s`. A change of light that lasts less
    than `after_s` never moves the key; one that comes back before starts the wait again."""

    def __init__(self, key: Key, light, after_s: float = KEY_FOLLOW_S, light_s: float = LIGHT_SECONDS):
        self.key, self.after_s, self.light_s = key, after_s, light_s
        self.light = np.asarray(light, np.float64).copy()
        self.asking = key_from_colour(self.light)
        self.since: float | None = None     # clock time the light started asking for another key
        self._t: float | None = None

    def observe(self, t: float, colour) -> None:
        """A frame's mean colour (RGB, 0-255) at clock time t (seconds)."""
        dt = 0.0 if self._t is None else max(0.0, t - self._t)
        self._t = t
        weight = 1.0 - np.exp(-dt / self.light_s) if self.light_s > 0 else 1.0
        self.light += weight * (np.asarray(colour, np.float64) - self.light)
        self.asking = key_from_colour(self.light)
        if self.asking == self.key:
            self.since = None
        elif self.since is None:
            self.since = t

    def due(self, t: float) -> bool:
        """Whether the light has asked for another key for `after_s` by clock time t."""
        return self.after_s > 0 and self.since is not None and t - self.since >= self.after_s

    def move(self) -> Key:
        """The key one step towards what the light asks for; the wait starts again from the next frame."""
        self.key = step_towards(self.key, self.asking)
        self.since = None
        return self.key
