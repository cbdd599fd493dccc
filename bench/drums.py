"""Do the drums follow the picture? Drum notes per bar against each bar's motion on a real clip.

Scores the clip with the default models (`score_av.score.score_clip`), makes its drums
(`score_av.drums.score_drums`: density by the bar's motion, fills before cuts and at phrase ends)
and prints one JSON: the Spearman correlation of drum notes per bar with the bar's motion (issue
30's aim: at least 0.6), the same without the bars that carry a fill and with every bar at its own level (no easing off
after a busy bar), and how loud the stillest
quarter of the bars is against the busiest quarter (mean velocity of their notes, and the sum of
velocities per bar: notes x velocity, which counts a silent bar as 0). Also the bars per density
level, the fills and cuts, and the medium steady mode's notes per bar (no picture: `arrange`).

    python bench/drums.py [--clip CLIP]

The clip is `--clip`, by default ../shared/clips/one-by-one-person-detection.mp4 (people walking
into a still room); with neither, it says so in one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from looped_clips import CLIP_HELP, PERSON, clips_to_score
from music_vae.representation import STEPS_PER_BAR
from video_response import spearman


def quarter_loudness(notes, motion: np.ndarray) -> dict:
    """Mean velocity and velocity sum per bar over the stillest and the busiest quarter of the bars."""
    n = len(motion)
    order = np.argsort(motion, kind="stable")
    q = max(n // 4, 1)
    out = {}
    for name, bars in (("stillest_quarter", order[:q]), ("busiest_quarter", order[-q:])):
        chosen = set(bars.tolist())
        velocities = [x.velocity for x in notes if x.start // STEPS_PER_BAR in chosen]
        out[name] = {"bars": len(chosen), "motion_mean": round(float(motion[bars].mean()), 3),
                     "notes_per_bar": round(len(velocities) / len(chosen), 2),
                     "mean_velocity": round(float(np.mean(velocities)), 1) if velocities else None,
                     "velocity_sum_per_bar": round(sum(velocities) / len(chosen), 1)}
    return out


def main() -> int:
    from score_av.drums import GROOVES, RELEASE, bars_of, cuts, drum_notes, fills, levels, score_drums
    from score_av.models import Models
    from score_av.score import score_clip

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help=CLIP_HELP.format(default=PERSON.name))
    args = ap.parse_args()
    clip = clips_to_score("bench/drums.py", [args.clip] if args.clip else None, [PERSON])[0]
    models = Models.load()
    score = score_clip(clip, models.music, models.video)
    started = time.perf_counter()
    notes = score_drums(score)
    seconds = time.perf_counter() - started
    motion = np.asarray(score.motion, float)
    n = len(motion)
    per_bar = bars_of(notes, n)
    phrase_start = score.conducted.phrase_start
    fill = fills(phrase_start)
    plain = fill == 0
    rho = spearman(motion, per_bar)
    rho_plain = spearman(motion[plain], per_bar[plain]) if plain.sum() > 2 else None
    own = bars_of(drum_notes(motion, phrase_start, release=None), n)  # each bar's own level, no easing off
    rho_own = spearman(motion, own)
    loud = quarter_loudness(notes, motion)
    medium = bars_of(drum_notes(None, n_bars=n), n)
    out = {
        "clip": clip.name, "bars": n, "drum_notes": len(notes),
        "spearman_notes_per_bar_vs_motion": None if rho is None else round(rho, 3),
        "spearman_without_fill_bars": None if rho_plain is None else round(rho_plain, 3),
        "spearman_each_bar_own_level": None if rho_own is None else round(rho_own, 3),
        "aim_spearman": 0.6,
        **loud,
        "still_quieter_than_busy": loud["stillest_quarter"]["velocity_sum_per_bar"]
        < loud["busiest_quarter"]["velocity_sum_per_bar"],
        "bars_per_level": np.bincount(levels(motion, RELEASE), minlength=len(GROOVES)).tolist(),
        "bars_per_level_own": np.bincount(levels(motion), minlength=len(GROOVES)).tolist(),
        "fills": {"short": int((fill == 1).sum()), "long": int((fill == 2).sum())},
        "cut_bars": np.flatnonzero(cuts(phrase_start)).tolist(),
        "medium_mode_notes_per_bar": {"min": int(medium.min()), "max": int(medium.max()),
                                      "mean": round(float(medium.mean()), 2)} if n else None,
        "drums_ms": round(1000 * seconds, 2),
        "motion_per_bar": [round(float(m), 3) for m in motion],
        "notes_per_bar": per_bar.tolist(),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
