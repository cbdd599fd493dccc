"""Phrase realism: can a linear classifier tell 8-bar phrases of rendered soundtracks from real tunes?

Definition (docs/architecture.md, "Phrase realism"): each phrase of 8 consecutive bars becomes a
short vector of simple musical features (see `phrase_features`), and a class-balanced linear
classifier (`music_vae.metrics.StyleProbe`) learns rendered against real. The figure is its
cross-validated balanced accuracy: 0.5 means it cannot tell them apart, 1.0 that every rendered
phrase gives itself away.

Real phrases come from Ryan's Mammoth Collection, which no model was trained on: its tunes in common
time (ABC meter 4/4, C or C|, as the soundtracks are), each cut into non-overlapping 8-bar phrases.
Its 2/4 tunes are left out (`--all-meters` keeps them): score-av pairs two 2/4 bars into one bar of
16 sixteenths, and written so, a reel's running eighths become sixteenths (14 notes a bar, 90 % of
them sixteenths, against 7.5 notes and 17 % in the C| tunes of the same book). For reference the
test also runs against the held-out test split of the default training data
(`music_vae.corpus.DEFAULT_TRAINING_DATA`: O'Neill's, Aird's, Essen and Bach, every meter the corpus
reads), whatever the model learned from: the books the `vae` learned from, of which `dance` learned
only O'Neill's and Aird's (the JSON names both under "reference"). Rendered phrases come from
scoring real clips (`--clip`, any video FFmpeg reads; by default the clips in ../shared/clips, and
with neither it says so in one line and exits 2) with several mapping seeds, cut the same way; a
clip shorter than a phrase gives none (the JSON names the clips that gave phrases). Folds are
grouped, so that the phrases of one tune, or of one clip scored with one seed, are never on both
sides of a fold (they share a key and motifs, and would let the classifier recognise the piece
instead of the kind of music). The floor is the same test on two random halves of Ryan's tunes,
which should give about 0.5.

The same test also runs against the model's own held-out tunes: the test split of the collections
it learned from (`config.train.data`, split with its seed; O'Neill's and Aird's for `dance`), in
common time, with its floor (two halves of those tunes). One feature group sees the order of the
bars (`self_similarity`: bar k against k-1, k-2, k-4, so that a loop gives a phrase away); the
tests against Ryan's and against those tunes are also printed without it
(`..._without_self_similarity`: the features as they were before it).

Also printed, per feature group, the accuracy of a classifier that sees only that group (what
gives rendered phrases away), and for information the musical figures of the rendered bars and
their rhythm distance to Ryan's. One JSON on stdout; progress on stderr.

Each figure is the mean over `--repeats` shuffles of the folds (and of which real phrases are kept),
printed with its lowest and highest.

    PYTHONPATH=. python bench/phrase_test.py [--model dance] [--style NAME] [--key KEY] [--clip CLIP ...]
        [--seeds none 1 2 ...] [--folds 5] [--repeats 5] [--all-meters]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from looped_clips import CLIP_HELP, clips_to_score, shared_clips
from music_vae.metrics import StyleProbe
from music_vae.musicality import (PHRASE_BARS, SELF_SIMILARITY_LAGS, best_scale, cut_phrases, figures, onsets,
                                   rhythm_distance, rhythm_histograms, self_similarity)
from music_vae.representation import FIRST_PITCH_TOKEN, NOTE_OFF, STEPS_PER_BAR
from score_av.models import MUSIC_MODEL

MAX_REAL_PER_RENDERED = 4   # real phrases kept per rendered phrase: enough, and fast; class weights do the rest
MAX_INTERVAL = 12           # semitones; larger intervals share the end bins
FEATURE_GROUPS = [          # (name, columns), in the order of `phrase_features`
    ("pitch_class", 12),
    ("interval", 2 * MAX_INTERVAL + 1),
    ("onset_position", STEPS_PER_BAR),
    ("duration", STEPS_PER_BAR),
    ("notes_per_bar", 2),
    ("range", 1),
    ("rest_share", 1),
    ("self_similarity", 3 * len(SELF_SIMILARITY_LAGS)),
]
ORDER_GROUP = "self_similarity"  # the one group that sees the order of the bars


def group_columns(name: str) -> slice:
    """The columns of `phrase_features` that hold one feature group."""
    start = 0
    for group, size in FEATURE_GROUPS:
        if group == name:
            return slice(start, start + size)
        start += size
    raise KeyError(name)


def shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return counts / max(counts.sum(), 1.0)


def rest_share(bars: np.ndarray) -> float:
    """Share of steps where nothing sounds: after a note-off until the next note-on (and before the first)."""
    sounding, silent = False, 0
    for token in np.asarray(bars).ravel():
        if token >= FIRST_PITCH_TOKEN:
            sounding = True
        elif token == NOTE_OFF:
            sounding = False
        silent += not sounding
    return silent / max(np.asarray(bars).size, 1)


def phrase_features(bars) -> np.ndarray:
    """A fixed-length vector of what a listener would notice in a phrase of bars (8, 16), by group:

    - pitch_class (12): shares of onsets on each pitch class counted from the tonic of the
      best-fitting major scale, so that phrases in different keys are alike;
    - interval (25): shares of signed intervals between consecutive onsets, clipped to +-12;
    - onset_position (16): shares of onsets on each sixteenth of the bar;
    - duration (16): shares of note durations of 1..16 steps (a note ends at the next event or bar line);
    - notes_per_bar (2): mean and standard deviation of onsets per bar;
    - range (1): highest minus lowest pitch, in semitones;
    - rest_share (1): share of steps where nothing sounds;
    - self_similarity (9): bar k against bar k-1, k-2 and k-4: the overlap of their onsets (step and
      pitch), the share of bars identical, the overlap of their onset steps
      (`music_vae.musicality.self_similarity`), so that a loop (one bar again and again) gives
      itself away where the histograms above, blind to the bars' order, cannot see it.
    """
    bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
    bar, pitch = onsets(bars)
    tonic, _ = best_scale(pitch)
    pitch_class = shares(np.bincount((pitch - tonic) % 12, minlength=12))
    steps = np.clip(np.diff(pitch), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    interval = shares(np.bincount(steps, minlength=2 * MAX_INTERVAL + 1))
    position, duration = rhythm_histograms(bars)
    per_bar = np.bincount(bar, minlength=len(bars))
    span = float(pitch.max() - pitch.min()) if len(pitch) else 0.0
    out = np.concatenate([pitch_class, interval, position, duration,
                          [per_bar.mean(), per_bar.std()], [span], [rest_share(bars)], self_similarity(bars)])
    assert len(out) == sum(size for _, size in FEATURE_GROUPS)
    return out


COMMON_TIME = ("4/4", "C", "C|")


def tune_meters(name: str) -> dict[str, str]:
    """The meter of each ABC tune of a collection, from its header's M: field ("" when none)."""
    from music_vae.corpus.sources import items_for

    found = {}
    for item in items_for([name]):
        meter = re.search(r"^M:\s*(\S+)", item.payload, re.M) if item.kind == "abc-text" else None
        found[item.tune_id] = meter.group(1) if meter else ""
    return found


def common_time_tunes(names) -> set[str]:
    """The tune ids of the collections' tunes in common time (ABC meter 4/4, C or C|)."""
    return {t for name in names for t, m in tune_meters(name).items() if m in COMMON_TIME}


def training_test_split(config, common_time: bool = True):
    """The held-out (test) tunes of a music model's own training collections, split as it was
    (`config.train`): the corpus, and the tune ids kept (those in common time, or None for every one)."""
    from music_vae.corpus import load_corpus

    names = list(config.train.data)
    corpus = load_corpus(names, progress=False).split("test", config.train.split_seed)
    return corpus, (common_time_tunes(names) if common_time else None)


def real_phrases(corpus, tunes: set[str] | None = None) -> dict[str, np.ndarray]:
    """The phrases of each tune of a corpus (of those named in `tunes`, if given) with at least one
    whole phrase, by tune id."""
    out = {}
    for t in np.unique(corpus.tune):
        if tunes is not None and corpus.tune_ids[t] not in tunes:
            continue
        phrases = cut_phrases(corpus.bars[corpus.tune == t])
        if len(phrases):
            out[corpus.tune_ids[t]] = phrases
    return out


def rendered_phrases(models, clips, seeds, style: str | None = None, key: str = "auto") -> dict[str, np.ndarray]:
    """The phrases of each clip scored with each seed (in one style and key, if given), by "clip@seed"
    (a clip shorter than a phrase gives none)."""
    from score_av.score import score_clip

    out = {}
    for clip in clips:
        for seed in seeds:
            began = time.perf_counter()
            score = score_clip(clip, models.music, models.video, seed=seed, style=style, key=key)
            phrases = cut_phrases(score.bars)
            print(f"{Path(clip).name} seed {seed}: {len(score.bars)} bars, {len(phrases)} phrases, "
                  f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
            if len(phrases):
                out[f"{Path(clip).name}@{seed}"] = phrases
    return out


def group_folds(labels: np.ndarray, groups: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold for each phrase: the groups of each class shuffled and dealt in turn, so that every fold
    gets groups of both classes where there are enough and no group is split."""
    fold = np.zeros(len(labels), dtype=int)
    for k in np.unique(labels):
        names = rng.permutation(np.unique(groups[labels == k]))
        for i, name in enumerate(names):
            fold[(labels == k) & (groups == name)] = i % folds
    return fold


def cross_validated(x: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> float:
    """Balanced accuracy of the pooled out-of-fold predictions of a StyleProbe (pooled rather than averaged
    over folds because with few rendered groups a fold may test one class only)."""
    fold = group_folds(labels, groups, folds, np.random.default_rng(seed))
    predicted = np.full(len(labels), -1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few hundred rows: more threads only cost, ten times over on a busy machine
    try:
        for f in range(folds):
            test = fold == f
            if test.any():
                probe = StyleProbe(x[~test], labels[~test], ("real", "rendered"), seed=seed)
                predicted[test] = probe.predict(x[test])
    finally:
        torch.set_num_threads(threads)
    hit = predicted == labels
    return float(np.mean([hit[labels == k].mean() for k in (0, 1)]))


def phrase_test(rendered: dict[str, np.ndarray], real: dict[str, np.ndarray], folds: int = 5, seed: int = 0,
                group: str | None = None, without: str | None = None) -> float:
    """Cross-validated balanced accuracy of rendered (label 1) against real (label 0) phrases, each given as
    {group name: phrases (k, 8, 16)}; folds never split a group. Real phrases beyond MAX_REAL_PER_RENDERED
    times the rendered count are dropped at random (fixed seed). `group` looks at one feature group only,
    `without` at every group but one."""
    for side, named in (("rendered", rendered), ("real", real)):
        if len(named) < 2:
            raise ValueError(f"need phrases from at least two {side} groups to cross-validate, got {len(named)}")

    def flat(named):
        phrases = np.concatenate(list(named.values()))
        names = np.concatenate([[name] * len(p) for name, p in named.items()])
        return phrases, names

    (ren, ren_groups), (rea, rea_groups) = flat(rendered), flat(real)
    rng = np.random.default_rng(seed)
    keep = rng.permutation(len(rea))[:MAX_REAL_PER_RENDERED * len(ren)]
    rea, rea_groups = rea[keep], rea_groups[keep]
    x = np.stack([phrase_features(p) for p in np.concatenate([rea, ren])])
    if group is not None:
        x = x[:, group_columns(group)]
    if without is not None:
        x = np.delete(x, np.arange(x.shape[1])[group_columns(without)], axis=1)
    labels = np.r_[np.zeros(len(rea), dtype=np.int64), np.ones(len(ren), dtype=np.int64)]
    groups = np.concatenate([rea_groups, ren_groups])
    n_groups = min(len(np.unique(rea_groups)), len(rendered))
    return cross_validated(x, labels, groups, min(folds, max(n_groups, 2)), seed)


def repeated(rendered, real, folds: int, repeats: int, group: str | None = None,
             without: str | None = None) -> dict:
    """`phrase_test` over `repeats` seeds: the mean, lowest and highest."""
    runs = [phrase_test(rendered, real, folds, seed, group, without) for seed in range(repeats)]
    return {"mean": round(float(np.mean(runs)), 3), "lowest": round(min(runs), 3), "highest": round(max(runs), 3)}


def halves(named: dict[str, np.ndarray], seed: int = 0) -> tuple[dict, dict]:
    """Two random halves of the groups (tunes), for the real-against-real floor."""
    names = np.random.default_rng(seed).permutation(list(named))
    half = len(names) // 2
    return {n: named[n] for n in names[:half]}, {n: named[n] for n in names[half:]}


def parse_seed(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=MUSIC_MODEL, help=f"the music model (default: {MUSIC_MODEL})")
    ap.add_argument("--style", help="score in one style of the model's data prior (default: the whole prior)")
    ap.add_argument("--key", default="auto", help="the soundtracks' key, as render's --key (default: auto, from the "
                    "picture's colour: with one long clip, every phrase is in that one mode)")
    ap.add_argument("--clip", "--clips", dest="clips", nargs="+", action="extend", type=Path, metavar="CLIP",
                    help=CLIP_HELP.format(default="every clip in ../shared/clips") + "; repeatable")
    ap.add_argument("--seeds", nargs="+", type=parse_seed, default=[None, *range(1, 10)],
                    help="mapping seeds, 'none' for score-av's default (default: none 1 2 ... 9)")
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    ap.add_argument("--repeats", type=int, default=5, help="shuffles of the folds averaged (default: 5)")
    ap.add_argument("--all-meters", action="store_true", help="keep Ryan's 2/4 tunes too")
    args = ap.parse_args()

    from music_vae.corpus import COLLECTIONS, DEFAULT_TRAINING_DATA, load_corpus
    from score_av.models import Models

    clips = clips_to_score("bench/phrase_test.py", args.clips, shared_clips())
    began = time.perf_counter()
    ryans = load_corpus(["ryans"], progress=False)
    meters = tune_meters("ryans")
    kept = None if args.all_meters else {t for t, m in meters.items() if m in COMMON_TIME}
    real = real_phrases(ryans, kept)
    corpus_test = real_phrases(load_corpus(DEFAULT_TRAINING_DATA, progress=False).split("test"))
    models = Models.load(args.model, "video", "cpu")
    own = real_phrases(*training_test_split(models.music.config))  # the model's own held-out tunes, common time
    rendered = rendered_phrases(models, clips, args.seeds, args.style, args.key)
    if len(rendered) < 2:
        print(f"bench/phrase_test.py: the clips gave {len(rendered)} clip-and-seed pieces of at least "
              f"{PHRASE_BARS} bars; the test needs two (a longer clip, or more --seeds)", file=sys.stderr)
        return 2
    n_rendered = sum(len(p) for p in rendered.values())
    n_real = sum(len(p) for p in real.values())

    rendered_bars = [p.reshape(-1, STEPS_PER_BAR) for p in rendered.values()]
    real_bars = np.concatenate([p.reshape(-1, STEPS_PER_BAR) for p in real.values()])
    per_piece = [figures(b) for b in rendered_bars]
    def test(a, b, group=None, without=None):
        return repeated(a, b, args.folds, args.repeats, group, without)

    out = {
        "model": args.model, "style": args.style, "key": args.key, "clips": [Path(c).name for c in clips], "seeds": args.seeds,
        "folds": args.folds, "repeats": args.repeats,
        "real": "Ryan's Mammoth, " + ("every meter" if args.all_meters else "tunes in " + ", ".join(COMMON_TIME)),
        "clips_with_phrases": sorted({k.rsplit("@", 1)[0] for k in rendered}),
        "reference": {"training_collections_test_split": {
                          "collections": [COLLECTIONS[c].about for c in DEFAULT_TRAINING_DATA],
                          "names": list(DEFAULT_TRAINING_DATA), "meters": "every meter the corpus reads",
                          "tunes": len(corpus_test)},
                      "model_trained_on": [str(d) for d in models.music.config.train.data]},
        "phrases": {"rendered": n_rendered, "rendered_groups": {k: len(p) for k, p in rendered.items()},
                    "real": min(n_real, MAX_REAL_PER_RENDERED * n_rendered), "real_available": n_real,
                    "real_tunes": len(real)},
        "rendered_vs_real": test(rendered, real),
        "real_vs_real": test(*halves(real)),
        "rendered_vs_training_collections_test_split": test(rendered, corpus_test),
        "rendered_vs_real_by_feature_group": {name: test(rendered, real, name)["mean"] for name, _ in FEATURE_GROUPS},
        f"rendered_vs_real_without_{ORDER_GROUP}": test(rendered, real, without=ORDER_GROUP),
        "own_training_collections_test_split": {
            "names": [str(d) for d in models.music.config.train.data], "meters": ", ".join(COMMON_TIME),
            "tunes": len(own), "phrases": sum(len(p) for p in own.values())},
        "rendered_vs_own_training_collections_test_split": test(rendered, own),
        f"rendered_vs_own_training_collections_test_split_without_{ORDER_GROUP}": test(rendered, own,
                                                                                        without=ORDER_GROUP),
        "own_training_collections_test_split_halves": test(*halves(own)),
        "rendered_vs_own_training_collections_test_split_by_feature_group": {
            name: test(rendered, own, name)["mean"] for name, _ in FEATURE_GROUPS},
        "rendered_figures_mean_over_pieces": {k: round(float(np.nanmean([f[k] for f in per_piece])), 3)
                                              for k in per_piece[0]},
        "notes_per_bar": {"rendered": round(float((np.concatenate(rendered_bars) >= FIRST_PITCH_TOKEN).sum(1).mean()), 2),
                          "real": round(float((real_bars >= FIRST_PITCH_TOKEN).sum(1).mean()), 2)},
        "rhythm_distance_to_real": {k: round(v, 3) for k, v in
                                    rhythm_distance(np.concatenate(rendered_bars), real_bars).items()},
    }
    out["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
