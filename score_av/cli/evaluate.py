"""`score-av eval music`: the model's figures (DESIGN.md) as one JSON object on stdout."""
from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    ev = sub.add_parser("eval", help="measure a model", description="Measure a trained model.")
    esub = ev.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    p = esub.add_parser(
        "music", help="reconstruction and interpolation figures of a music VAE",
        description="Print one JSON object: bars, teacher_forced_accuracy, sampled_accuracy, "
                    "interp_mean_step_change, interp_max_step_change, interp_evenness (definitions in "
                    "DESIGN.md). Without --input, on the model's own test split.")
    p.add_argument("--model", default="vae", metavar="NAME_OR_PATH", help="default: vae")
    p.add_argument("--input", nargs="+", metavar="PATH", help=".mid/.abc files, folders of them, or collection names")
    p.add_argument("--pairs", type=int, default=128, help="interpolation pairs (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="seed that draws the interpolation pairs (default: 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.set_defaults(run=run_eval_music)


def run_eval_music(args: argparse.Namespace) -> int:
    from music_vae.corpus import load_corpus
    from music_vae.errors import MusicInputError
    from music_vae.metrics import evaluate
    from music_vae.trained_model import MusicVAE

    vae = MusicVAE(args.model, device=args.device)
    train_cfg = vae.config.train
    if args.input:
        bars, what = load_corpus(args.input, progress=False).bars, args.input
    else:
        bars = load_corpus(list(train_cfg.data), progress=False).split("test", train_cfg.split_seed).bars
        what = f"test split of {' '.join(train_cfg.data)} (split seed {train_cfg.split_seed})"
    if len(bars) < 2:
        raise MusicInputError(f"{' '.join(map(str, args.input or []))}: need at least two bars to evaluate, found {len(bars)}")
    figures = evaluate(vae.model, bars, n_pairs=args.pairs, seed=args.seed)
    print(json.dumps({"model": str(vae.path), "input": what, **figures}, indent=2))
    return 0
