"""Music a person would keep? The musical figures of rendered soundtracks beside real tunes.

For each clip (the shared real clips, and clips made here: the demo clip, an A-B-A clip whose
return is re-encoded, and one scene still then moving), scored through `score_clip` with the
default options, it prints the figures of docs/architecture.md: key fit, leaps, pitch-class
entropy; and where they apply, the video response (Spearman, cuts), recall of returning footage,
the loudness and note count of still against moving bars, and what the key costs in the model's
own log-likelihood of the bars it gives. The same key fit, leaps and entropy are printed for real
tunes: the test split of O'Neill's (held-out tunes of a collection every shipped model learned
from) and Ryan's Mammoth (never trained on), each tune on its own. With several `--models`, the
same clips are scored with each. One JSON.

    python bench/musicality.py [--models dance vae] [--clip CLIP ...] [--no-tunes]

The real clips are those given with `--clip` (any video FFmpeg reads), by default the clips in
../shared/clips (the README's figures); with neither, it says so in one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from looped_clips import CLIP_HELP, clips_to_score, shared_clips
from music_vae.metrics import step_changes
from music_vae.musicality import figures, recall
from music_vae.representation import FIRST_PITCH_TOKEN
from score_av.clips import write_clip
from score_av.conductor import Conducting, best_shift, key_bias, transpose
from score_av.models import MUSIC_MODEL, Models
from score_av.score import score_clip
from score_av.sources import clip_frames
from video_response import correlations
from video_vae.scenes import clip_with_cuts, scene

FPS = 25.0


def made_clips(folder: Path) -> dict[str, tuple[Path, dict]]:
    """Clips whose structure is known: (path, what is known of it)."""
    from score_av.demo import SHOTS, make_demo_clip

    demo = make_demo_clip(folder / "demo-clip.mp4")
    a, _ = clip_with_cuts(31, [8.0], fps=FPS, height=240, width=320)
    b, _ = clip_with_cuts(32, [8.0], fps=FPS, height=240, width=320)
    first = write_clip(folder / "a.mp4", a, FPS, options={"crf": "18"})
    again = clip_frames(first)[1]  # A decoded and encoded again below: close to A, not bit-identical
    aba = write_clip(folder / "aba.mp4", np.concatenate([a, b, again]), FPS, options={"crf": "28"})
    rng = lambda: np.random.default_rng([41, 0])  # noqa: E731  one scene, drawn twice: still, then moving
    still = scene(rng(), int(8 * FPS), 240, 320, "walker", "muted", still=True, noise=2.0)
    moving = scene(rng(), int(8 * FPS), 240, 320, "walker", "muted", noise=2.0)
    room = write_clip(folder / "still-then-moving.mp4", np.concatenate([still, moving]), FPS)
    return {"demo-clip": (demo, {"cuts": list(np.cumsum(SHOTS)[:-1])}),
            "a-b-a": (aba, {"return": (0.0, 16.0, 8.0)}),
            "still-then-moving": (room, {"moving_from": 8.0})}


def clip_figures(score, known: dict, music) -> dict:
    bars, tl = score.bars, score.timeline
    out = {"bars": int(len(bars)), "key": str(score.conducted.keys[0]) if score.conducted.keys else None,
           **{k: round(v, 3) for k, v in figures(bars).items()},
           "notes_per_bar": round(float((bars >= FIRST_PITCH_TOKEN).sum(axis=1).mean()), 2)}
    moved = np.linalg.norm(np.diff(score.bar_codes, axis=0), axis=1)
    changed = step_changes(bars)
    out.update(correlations(moved, changed))  # the video response (bench/video_response.py)
    if "cuts" in known:
        at_cut = sorted({int(round(c / tl.bar)) - 1 for c in known["cuts"]})
        inside = np.delete(changed, at_cut)
        out["music_change_at_cuts"] = [round(float(changed[k]), 3) for k in at_cut]
        out["music_change_within_shots_mean"] = round(float(inside.mean()), 3)
    if "return" in known:
        first, back, length = known["return"]
        k0, k1, n = int(round(first / tl.bar)), int(round(back / tl.bar)), int(length // tl.bar)
        out["recall"] = round(recall(bars[k0:k0 + n], bars[k1:k1 + n]), 3)
    if "moving_from" in known:
        k = int(round(known["moving_from"] / tl.bar))
        vel = score.conducted.velocities
        notes = (bars >= 2).sum(axis=1)
        out["velocity_still_moving"] = [round(float(vel[:k].mean()), 1), round(float(vel[k:].mean()), 1)]
        out["notes_per_bar_still_moving"] = [round(float(notes[:k].mean()), 2), round(float(notes[k:].mean()), 2)]
    out["key_cost_nats_per_bar"] = key_cost(music, score)
    return out


def key_cost(music, score) -> dict:
    """Mean log p(bar | code) of the bars the model gives, free and in the piece's key: decoded in the
    key from the bar's own code, or (what score-av does) transposed to the key, read back and decoded."""
    key, codes = score.conducted.keys[0], np.unique(score.music_codes, axis=0)
    if key is None:
        return {}
    how = Conducting()
    free = music.decode(codes)
    bias = key_bias(key, how.chromatic, how.register, len(codes))
    constrained = music.decode(codes, bias=bias)
    moved_codes = music.encode(transpose(free, np.array([best_shift(b, key, how.register) for b in free])))
    moved = music.decode(moved_codes, bias=bias)
    ll = lambda c, b: round(float(music.log_likelihood(c, b).mean()), 2)  # noqa: E731
    return {"free": ll(codes, free), "constrained": ll(codes, constrained), "transposed_then_constrained":
            ll(moved_codes, moved)}


def tune_figures(names: list[str], split: str | None) -> dict:
    """Mean over tunes of key fit, leaps and entropy, each tune on its own."""
    from music_vae.corpus import load_corpus

    corpus = load_corpus(names, progress=False)
    if split:
        corpus = corpus.split(split)
    per_tune = [figures(corpus.bars[corpus.tune == t]) for t in np.unique(corpus.tune)]
    per_tune = [f for f in per_tune if not any(np.isnan(v) for v in f.values())]
    return {"tunes": len(per_tune), **{k: round(float(np.mean([f[k] for f in per_tune])), 3) for k in per_tune[0]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", "--model", nargs="+", default=[MUSIC_MODEL], metavar="MODEL",
                    help=f"the music models, each scoring every clip (default: {MUSIC_MODEL})")
    ap.add_argument("--clip", "--clips", dest="clips", nargs="+", action="extend", type=Path, metavar="CLIP",
                    help=CLIP_HELP.format(default="every clip in ../shared/clips") + "; repeatable")
    ap.add_argument("--no-tunes", action="store_true", help="skip the real tunes (parsing a corpus is slow the first time)")
    args = ap.parse_args()
    real = clips_to_score("bench/musicality.py", args.clips, shared_clips())
    clips = {p.name: (p, {}) for p in real}
    out: dict = {"models": args.models, "rendered": {}}
    with tempfile.TemporaryDirectory() as tmp:
        made = made_clips(Path(tmp))
        for model in args.models:
            models = Models.load(model, "video", "cpu")
            out["rendered"][model] = {name: clip_figures(score_clip(path, models.music, models.video), known,
                                                         models.music)
                                      for name, (path, known) in {**clips, **made}.items()}
    if not args.no_tunes:
        out["real_tunes"] = {"oneills_test_split": tune_figures(["oneills"], "test"),
                             "ryans": tune_figures(["ryans"], None)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
