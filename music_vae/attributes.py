"""Attribute vectors, as MusicVAE steers its latent space: the mean code of bars that have much of
an attribute minus the mean code of bars that have little of it. Adding a multiple of the vector
to a code asks the decoder for more of the attribute (fewer, with a negative multiple).

Density (note onsets per bar) is the one score-av uses: the picture's motion adds it, so that a
busy picture gives busier music. The vectors are measured on real bars once per model and kept
in NAME.attributes.json beside the checkpoint (`score-av music attributes --model NAME`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .representation import FIRST_PITCH_TOKEN, STEPS_PER_BAR

QUARTILE = 25   # "much" and "little": the top and bottom quarter of the bars


def note_density(bars) -> np.ndarray:
    """Note onsets per bar, (n,)."""
    return (np.asarray(bars).reshape(-1, STEPS_PER_BAR) >= FIRST_PITCH_TOKEN).sum(axis=1)


ATTRIBUTES = {"density": note_density}


def attribute_vector(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean code of the bars in the top quarter of `values` minus that of the bottom quarter."""
    lo, hi = np.percentile(values, [QUARTILE, 100 - QUARTILE])
    much, little = codes[values >= hi], codes[values <= lo]
    if lo == hi or not len(much) or not len(little):
        raise ValueError("the bars do not vary enough in this attribute to give a direction")
    return (much.mean(axis=0) - little.mean(axis=0)).astype(np.float32)


def attributes_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".attributes.json")


def measure_attributes(model, bars: np.ndarray, about: str) -> dict:
    """Every attribute's vector for a trained MusicVAE (`model.encode`), measured on real bars (n, 16)."""
    codes = model.encode(bars)
    out = {"bars": int(len(bars)), "data": about, "quartile": QUARTILE}
    for name, measure in ATTRIBUTES.items():
        values = measure(bars)
        out[name] = {"vector": [round(float(v), 5) for v in attribute_vector(codes, values)],
                     "little_much": [float(np.percentile(values, QUARTILE)), float(np.percentile(values, 100 - QUARTILE))]}
    return out


def read_attributes(checkpoint: Path) -> dict[str, np.ndarray]:
    """The vectors kept beside a checkpoint, by attribute name; {} when none were measured."""
    path = attributes_path(checkpoint)
    if not path.exists():
        return {}
    stored = json.loads(path.read_text())
    return {name: np.asarray(stored[name]["vector"], np.float32) for name in ATTRIBUTES if name in stored}
