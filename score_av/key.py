"""The piece's tonal frame: a key (tonic and mode), chosen by a person or read from the picture.

The modes are those of the folk corpora the music model learned from: major (Ionian), minor
(Aeolian), Dorian and Mixolydian. `--key auto` reads the key from the clip's colour, by a fixed
rule (`key_from_colour`): the hue of the clip's mean colour walks the circle of fifths (red C,
then G, D, A, ... around the colour wheel), and its brightness picks the mode (bright major,
then Mixolydian, Dorian, and dark minor). The same picture always gives the same key.
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
