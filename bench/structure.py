"""Does the music loop? The structure of rendered soundtracks' 8-bar phrases beside real tunes'.

A tune repeats at a distance (bar 5 answers bar 1) and rarely plays one bar twice in a row; a
soundtrack whose picture holds still can play one bar again and again, which a listener hears as a
ringtone. Over every 8-bar phrase of a melody (counted from its first bar, non-overlapping, a short
tail dropped), with the functions of `music_vae/musicality.py` (docs/architecture.md, "Structure of
a melody"):

- `same_as_bar_before`: the share of bars (2 to 8 of a phrase) identical to the bar before, note
  for note (every token of the 16);
- `longest_run_mean`, `longest_run_max`: each phrase's longest run of identical bars in a row (1:
  no bar repeats the one before), its mean and highest; `phrases_with_run_of_3`: the share of
  phrases holding a run of 3 or more;
- `distinct_bars_per_phrase`: how many different bars a phrase holds, of 8;
- `bar_k_plus_4_repeats_k`: the share of bars k of the first half that bar k+4 repeats.

Rendered: the real clips (`--clip`, any video FFmpeg reads; by default the clips in ../shared/clips and
their montage, looped_clips.montage; with neither it says so in one line and exits 2), each scored as `score-av
render` scores it with its default options (`RenderOptions`: the default music model, key, phrases,
themes...) and several mapping seeds; figures pooled over every clip and seed, and per clip (with,
over the whole soundtrack, phrase lines ignored, the share of bars that are the bar before and the
longest run of one bar). A clip shorter than a phrase gives none (its figures are null).

Real: Ryan's Mammoth (never trained on) and the held-out (test) tunes of the model's own training
collections (`config.train.data`, split as it was), their tunes in common time (4/4, C, C|, the
soundtracks' meter; `--all-meters` keeps 2/4 tunes, paired into 16-step bars), each tune cut into
phrases the same way. Tunes are as written:
repeat signs are not expanded, and a bar the corpus leaves out (off the sixteenth grid, or without
a note) joins its neighbours. The aims are those of issue 29 (`aims`). One JSON on stdout; progress
on stderr.

    python bench/structure.py [--model dance] [--clip CLIP ...] [--seeds none 1 2 3 4 5] [--no-tunes]
        [--all-meters] [--no-development | --and-without-development]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from looped_clips import CLIP_HELP, clips_to_score, real_footage
from music_vae.musicality import PHRASE_BARS, cut_phrases, longest_identical_run, same_as_before, structure
from music_vae.representation import STEPS_PER_BAR
from phrase_test import COMMON_TIME, common_time_tunes, parse_seed, real_phrases, training_test_split
from score_av.models import MUSIC_MODEL

AIMS = {"same_as_bar_before": {"at_most": 0.08}, "phrases_with_run_of_3": {"at_most": 0.05},
        "distinct_bars_per_phrase": {"at_least": 5.5}}  # issue 29, on real footage


def meets(figures: dict) -> dict:
    """Each aim: whether the figure is within it."""
    return {k: bool(figures[k] <= a["at_most"]) if "at_most" in a else bool(figures[k] >= a["at_least"])
            for k, a in AIMS.items()}


def rounded(figures: dict) -> dict:
    """Floats to 3 places, NaN (no phrase) to null."""
    return {k: (None if math.isnan(v) else round(v, 3)) if isinstance(v, float) else v for k, v in figures.items()}


def render_bars(clip: Path, models, options):
    """The melody's bars (n, 16) of `clip` scored as `render_clip` scores it with these options."""
    from score_av.render import score_with_options

    return score_with_options(clip, models, options).bars


def rendered_structure(clips: list[Path], seeds: list[int | None], models, defaults) -> dict:
    from dataclasses import replace

    everything, by_clip = [], {}
    for clip in clips:
        phrases, bars_per_seed, longest, repeats, pairs = [], {}, 0, 0, 0
        for seed in seeds:
            began = time.perf_counter()
            bars = np.asarray(render_bars(clip, models, replace(defaults, seed=seed)))
            cut = cut_phrases(bars)
            phrases.append(cut)
            bars_per_seed[str(seed)] = int(len(bars))
            longest = max(longest, longest_identical_run(bars) if len(bars) else 0)
            repeats, pairs = repeats + int(same_as_before(bars).sum()), pairs + max(len(bars) - 1, 0)
            print(f"{clip.name} seed {seed}: {len(bars)} bars, {len(cut)} phrases, "
                  f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
        pooled = np.concatenate(phrases)
        everything.append(pooled)
        by_clip[clip.name] = {**rounded(structure(pooled)), "bars_per_seed": bars_per_seed,
                              "same_as_bar_before_whole_soundtrack": round(repeats / pairs, 3) if pairs else None,
                              "longest_run_whole_soundtrack": int(longest)}
    return {"options": {k: v for k, v in vars(defaults).items() if v is not None and not isinstance(v, Path)},
            "rendered": rounded(structure(np.concatenate(everything))), "rendered_by_clip": by_clip}


def tune_structure(named: dict[str, np.ndarray]) -> dict:
    phrases = np.concatenate(list(named.values())) if named else np.zeros((0, PHRASE_BARS, STEPS_PER_BAR), int)
    return {"tunes": len(named), **rounded(structure(phrases))}


def real_structure(config, all_meters: bool) -> dict:
    """Ryan's and the held-out tunes of the collections the model (its `config`) learned from."""
    from music_vae.corpus import COLLECTIONS, load_corpus

    ryans = load_corpus(["ryans"], progress=False)
    ryans_kept = None if all_meters else common_time_tunes(["ryans"])
    own_corpus, own_kept = training_test_split(config, common_time=not all_meters)
    meters = "every meter the corpus reads" if all_meters else ", ".join(COMMON_TIME)
    return {"ryans": {"collection": COLLECTIONS["ryans"].about, "meters": meters,
                      **tune_structure(real_phrases(ryans, ryans_kept))},
            "own_training_collections_test_split": {
                "names": [str(d) for d in config.train.data], "split_seed": config.train.split_seed,
                "meters": meters, **tune_structure(real_phrases(own_corpus, own_kept))}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=MUSIC_MODEL, help=f"the music model (default: {MUSIC_MODEL})")
    ap.add_argument("--clip", "--clips", dest="clips", nargs="+", action="extend", type=Path, metavar="CLIP",
                    help=CLIP_HELP.format(default="every clip in ../shared/clips and their montage, "
                                                  "looped_clips.montage") + "; repeatable")
    ap.add_argument("--seeds", nargs="+", type=parse_seed, default=[None, *range(1, 6)],
                    help="mapping seeds, 'none' for score-av's default (default: none 1 2 3 4 5)")
    ap.add_argument("--no-tunes", action="store_true", help="skip the real tunes (parsing a corpus is slow the "
                    "first time)")
    ap.add_argument("--all-meters", action="store_true", help="keep the real collections' 2/4 tunes too")
    ap.add_argument("--no-development", dest="development", action="store_false",
                    help="render as `score-av render --no-development` does (a held look repeats its bar)")
    ap.add_argument("--and-without-development", action="store_true",
                    help="also render every clip and seed with --no-development, for the figures beside "
                         "(`rendered_without_development`): what development changed")
    args = ap.parse_args()
    clips = clips_to_score("bench/structure.py", args.clips, real_footage())
    began = time.perf_counter()
    out: dict = {"model": args.model, "clips": [c.name for c in clips], "seeds": args.seeds,
                 "phrase_bars": PHRASE_BARS, "aims": AIMS}
    from dataclasses import replace

    from score_av.models import Models
    from score_av.render import RenderOptions

    defaults = replace(RenderOptions(), model=args.model, device="cpu", development=args.development)
    models = Models.load(defaults.model, defaults.video_model, defaults.device)
    out.update(rendered_structure(clips, args.seeds, models, defaults))
    if args.and_without_development:
        loop = rendered_structure(clips, args.seeds, models, replace(defaults, development=False))
        out["rendered_without_development"] = loop["rendered"]
    if not args.no_tunes:
        tunes_began = time.perf_counter()
        out["real_tunes"] = real_structure(models.music.config, args.all_meters)
        print(f"real tunes: {time.perf_counter() - tunes_began:.0f} s", file=sys.stderr)
    out["meets_aims"] = meets(out["rendered"]) if out["rendered"]["phrases"] else None
    out["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
