"""Does the music follow the picture? the video-response figures of docs/architecture.md on real and made clips.

For each clip: the Spearman correlation between how far the video code moved from one bar to the
next and how much of the music changed (share of the 16 tokens that differ), over every bar line
(`spearman`) and over the bar lines where the music changed (`spearman_changed_bars`). `--steady`
holds the music while the picture's code stays near the bar's, so on a calm clip many bar lines
change nothing; those ties (no change where the picture moved little) can carry much of `spearman`,
which then says mostly that the music holds when the picture is still. `spearman_changed_bars`
says whether, once the music changes, it changes more the further the picture moved. A held look now
changes its music by design (the conductor's development grows a phrase from it), so
`spearman_moved_bars` keeps to the bar lines where the picture moved past `--steady` (the bars the
conductor did not hold): there the music should change the more the picture moved. On the demo
clip, whose cuts are known: where the music change at each cut ranks among the changes inside the
shots (the target: above the 90th percentile), and how much the music changes over the half of the
bars where the picture moved least. With several `--models`, the same clips are scored with each
music model (the video codes are the same), so the models can be compared on footage. Prints JSON.

    python bench/video_response.py [--models dance vae flat musae] [--clip CLIP ...]

The real clips are those given with `--clip` (any video FFmpeg reads), by default the clips in
../shared/clips (the README's figures); with neither, it says so in one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from looped_clips import CLIP_HELP, clips_to_score, shared_clips
from music_vae.metrics import step_changes
from score_av.models import MUSIC_MODEL


def ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for value in np.unique(x):  # ties share their mean rank
        r[x == value] = r[x == value].mean()
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return None  # no change at all on one side: the correlation is undefined
    return float(np.corrcoef(ra, rb)[0, 1])


def correlations(video_moved: np.ndarray, music_changed: np.ndarray) -> dict:
    """Spearman of the picture's move against the music's change over every bar line, and over the bar
    lines where the music changed (None where fewer than three, or where one side never varies)."""
    changed = music_changed > 0
    rho = spearman(video_moved, music_changed) if len(video_moved) > 2 else None
    rho_changed = spearman(video_moved[changed], music_changed[changed]) if changed.sum() > 2 else None
    return {"bar_lines": int(len(music_changed)), "bar_lines_music_unchanged": int((~changed).sum()),
            "spearman": None if rho is None else round(rho, 3),
            "spearman_changed_bars": None if rho_changed is None else round(rho_changed, 3)}


def response(score, cuts: list[float] | None = None) -> dict:
    video_moved = np.linalg.norm(np.diff(score.bar_codes, axis=0), axis=1)
    music_changed = step_changes(score.bars)
    moved = ~score.conducted.held[1:]  # the picture moved past --steady into the bar
    rho_moved = spearman(video_moved[moved], music_changed[moved]) if moved.sum() > 2 else None
    out = {"bars": int(len(score.bars)),
           **correlations(video_moved, music_changed),
           "bar_lines_moved": int(moved.sum()),
           "spearman_moved_bars": None if rho_moved is None else round(rho_moved, 3),
           "music_change_mean": round(float(music_changed.mean()), 3),
           # the smoothness the flat model is for: how much the music changes where the picture moves least
           "music_change_where_video_moved_least_half": round(float(
               music_changed[video_moved <= np.median(video_moved)].mean()), 3) if len(video_moved) else None}
    if cuts:
        at_cut = sorted({int(round(c / score.timeline.bar)) - 1 for c in cuts})  # change into bar k+1
        inside = np.delete(music_changed, at_cut)
        out["music_change_at_cuts"] = [round(float(music_changed[k]), 3) for k in at_cut]
        out["within_shot_p90"] = round(float(np.percentile(inside, 90)), 3)
        out["cuts_above_p90"] = int(sum(music_changed[k] > np.percentile(inside, 90) for k in at_cut))
    return out


def main() -> int:
    from music_vae.trained_model import MusicVAE
    from score_av.demo import DEMO_CLIP, SHOTS, make_demo_clip
    from score_av.score import score_clip
    from video_vae.trained_model import VideoVAE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=[MUSIC_MODEL],
                    help=f"music models to score with (default: {MUSIC_MODEL})")
    ap.add_argument("--clip", type=Path, action="append", metavar="CLIP",
                    help=CLIP_HELP.format(default="every clip in ../shared/clips") + "; repeatable")
    args = ap.parse_args()
    real = clips_to_score("bench/video_response.py", args.clip, shared_clips())
    video = VideoVAE("video", "cpu")
    clip = DEMO_CLIP if DEMO_CLIP.is_file() else make_demo_clip()
    clips = [(clip, "demo-clip (cuts known)", list(np.cumsum(SHOTS)[:-1]))] + \
        [(path, path.name, None) for path in real]
    results = {}
    for name in args.models:
        music = MusicVAE(name, "cpu")
        results[name] = {label: response(score_clip(path, music, video), cuts)
                         for path, label, cuts in clips}
    print(json.dumps(results if len(args.models) > 1 else results[args.models[0]], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
