"""Interpolations of several music models between the same bars, drawn and written so that a
person can see and hear how differently the models walk from one bar to another."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from music_vae.metrics import INTERP_POINTS, interpolation_pairs, step_changes
from music_vae.midi_io import write_midi
from music_vae.representation import STEPS_PER_BAR, tokens_to_notes

from .figures import pyplot, save_figure

REST_BAR = np.array([1] + [0] * (STEPS_PER_BAR - 1), dtype=np.int64)  # a note-off, then silence


def interpolation_sets(models, bars: np.ndarray, n_pairs: int, seed: int = 0) -> list[np.ndarray]:
    """For each model, its interpolations between the same pairs of bars: (pairs, 16 points, 16 steps)."""
    pairs = interpolation_pairs(len(bars), n_pairs, seed)
    return [np.stack([vae.interpolate(bars[a], bars[b], n=INTERP_POINTS) for a, b in pairs]) for vae in models]


def draw_comparison(names: list[str], sets: list[np.ndarray], out: str | os.PathLike) -> Path:
    plt = pyplot()

    n_pairs = len(sets[0])
    fig = plt.figure(figsize=(4.2 * len(names), 3.2 * n_pairs))
    grid = fig.add_gridspec(2 * n_pairs, len(names), height_ratios=[3, 1] * n_pairs, hspace=0.15, wspace=0.12)
    for col, (name, walks) in enumerate(zip(names, sets)):
        for row, walk in enumerate(walks):
            roll = fig.add_subplot(grid[2 * row, col])
            for note in tokens_to_notes(walk):
                roll.hlines(note.pitch, note.start, note.end, linewidth=3, color="tab:blue")
            for k in range(1, INTERP_POINTS):
                roll.axvline(k * STEPS_PER_BAR, color="0.85", linewidth=0.6, zorder=0)
            roll.set_xlim(0, INTERP_POINTS * STEPS_PER_BAR)
            roll.set_xticks([])
            if row == 0:
                roll.set_title(name)
            if col == 0:
                roll.set_ylabel(f"pair {row + 1}: pitch")
            change = fig.add_subplot(grid[2 * row + 1, col])
            steps = step_changes(walk)
            change.bar(np.arange(1, INTERP_POINTS) * STEPS_PER_BAR, steps, width=STEPS_PER_BAR * 0.8, color="tab:orange")
            change.set_xlim(0, INTERP_POINTS * STEPS_PER_BAR)
            change.set_ylim(0, 1)
            change.set_xticks([])
            change.text(0.01, 0.92, f"max {steps.max():.2f}  mean {steps.mean():.2f}", transform=change.transAxes,
                        fontsize=8, va="top")
            if col == 0:
                change.set_ylabel("changed")
    fig.suptitle("the same pairs of bars, interpolated by each model (16 points); under each: share of notes "
                 "changed per step", fontsize=10)
    return save_figure(fig, out, dpi=90, bbox_inches="tight", format=Path(out).suffix.lstrip(".") or "png")


def write_interpolation_midi(names: list[str], sets: list[np.ndarray], folder: str | os.PathLike,
                             bpm: float = 120.0) -> list[Path]:
    """DIR/NAME.mid for each model: its interpolations one after another, a bar of rest between."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, walks in zip(names, sets):
        bars = np.concatenate([np.concatenate([walk, REST_BAR[None]]) for walk in walks])
        written.append(write_midi(folder / f"{name}.mid", tokens_to_notes(bars), bpm=bpm))
    return written
