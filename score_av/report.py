"""One picture of a scored clip, on one time axis: what was seen (a strip of frames), where the
latent code went (the music code of every bar, and how far it moved), how much the picture moved,
where a theme came back, which bars were inpainted (a held look's phrase, a bridge into a cut), how
many people were counted in each bar and where someone came in (with --presence), and what
was played (the piano roll, the key in the title). A person sees at a glance whether the music moved when the picture did."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from music_vae.metrics import step_changes
from music_vae.representation import STEPS_PER_BAR

from .figures import pyplot, save_figure
from .score import Score
from .sources import thumbnails


def draw_report(score: Score, out: str | os.PathLike, title: str | None = None) -> Path:
    """The report picture of `score`, written to `out` as PNG."""
    return save_figure(report_figure(score, title), out, dpi=110, format="png")


def report_figure(score: Score, title: str | None = None):
    """The report as a matplotlib figure (draw_report writes it)."""
    plt = pyplot()

    tl = score.timeline
    n = tl.n_bars
    duration = tl.duration
    edges = np.arange(n + 1) * tl.bar
    fig, axes = plt.subplots(4, 1, figsize=(max(8.0, min(24.0, 1.0 * n + 4)), 8.5), sharex=True,
                             gridspec_kw={"height_ratios": [1.3, 1.6, 0.8, 2.0]})
    strip, path_ax, move_ax, roll = axes

    # A strip of frames at even times (at most 24), each drawn over the stretch of time it stands for.
    shown = min(n, 24)
    at = [tl.start + (k + 0.5) * duration / shown for k in range(shown)]
    for k, image in enumerate(thumbnails(score.info.path, at, height=90)):
        left = k * duration / shown
        strip.imshow(image, extent=(left, left + duration / shown, 0, 1), aspect="auto")
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_ylabel("picture")

    # The latent path: each bar's music code, one row per dimension.
    codes = score.music_codes
    lim = float(np.percentile(np.abs(codes), 98)) or 1.0
    path_ax.imshow(codes.T, extent=(0, n * tl.bar, codes.shape[1], 0), aspect="auto",
                   cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
    path_ax.set_ylabel("music code\n(dimension)")

    # How far the code moved from the bar before, and how much of the bar's music changed.
    moved = np.r_[0.0, np.linalg.norm(np.diff(codes, axis=0), axis=1)]
    changed = np.r_[0.0, step_changes(score.bars)]
    move_ax.bar(edges[1:n], (moved / (moved.max() or 1.0))[1:], width=tl.bar * 0.25, color="#7a8fb8",
                label="code moved (at the bar line)")
    move_ax.step(edges, np.r_[changed, changed[-1]], where="post", color="#c0392b", label="notes changed")
    if score.motion is not None:
        move_ax.step(edges, np.r_[score.motion, score.motion[-1]], where="post", color="#27ae60",
                     label="motion (loudness)")
    conducted = score.conducted
    if conducted is not None:
        for i, k in enumerate(np.flatnonzero(conducted.theme_of >= 0)):  # a look that came back, from where
            y = 0.9 - 0.06 * (i % 4)
            move_ax.plot([(conducted.theme_of[k] + 0.5) * tl.bar, (k + 0.5) * tl.bar], [y, y], color="#8e44ad",
                         lw=0.8, marker="o", markersize=2.5, label="theme returns (from, to)" if i == 0 else None)
        for name, marks, colour in (("inpainted (a held look's phrase)", conducted.developed, "#f39c12"),
                                    ("bridge into a cut", conducted.bridged, "#16a085")):
            for i, k in enumerate(np.flatnonzero(marks if marks is not None else [])):
                move_ax.axvspan(k * tl.bar, (k + 1) * tl.bar, ymin=0, ymax=0.08, color=colour,
                                label=name if i == 0 else None)
    if score.people is not None:  # counted (--presence): the count a bar, and where someone came in
        most = max(int(score.people.max()), 1)
        move_ax.step(edges, np.r_[score.people, score.people[-1]] / most, where="post", color="#e84393",
                     lw=1.6, label=f"people (0 to {most})")
        for i, k in enumerate(np.flatnonzero(score.entrances)):
            move_ax.axvline(k * tl.bar, color="#e84393", lw=1.2, ls="--",
                            label="someone enters: a new phrase" if i == 0 else None)
    move_ax.set_ylim(0, 1.05)
    move_ax.set_ylabel("change")
    move_ax.legend(loc="upper right", fontsize=7, frameon=False)

    # The piano roll.
    step = tl.bar / STEPS_PER_BAR
    pitches = [note.pitch for note in score.notes] or [60]
    for note in score.notes:
        roll.add_patch(plt.Rectangle((note.start * step, note.pitch - 0.4), (note.end - note.start) * step,
                                     0.8, color="#2c3e50", alpha=0.35 + 0.65 * note.velocity / 127))
    roll.set_ylim(min(pitches) - 2, max(pitches) + 2)
    roll.set_ylabel("pitch (MIDI)")
    roll.set_xlabel(f"seconds (bars of {tl.bar:g} s at {tl.bpm:g} bpm)")
    for ax in (path_ax, move_ax, roll):
        for x in edges:
            ax.axvline(x, color="#999999", lw=0.4, alpha=0.6)
    roll.set_xlim(0, duration)
    keys = [] if score.conducted is None else list(dict.fromkeys(str(k) for k in score.conducted.keys if k))
    in_key = f" in {', then '.join(keys)}" if keys else ""
    fig.suptitle(title or f"{score.info.path.name}: {n} bars at {tl.bpm:g} bpm{in_key}")
    fig.tight_layout()
    return fig
