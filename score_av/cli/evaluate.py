"""`score-av eval music | compare | inpaint`: a model's figures (docs/architecture.md), several models side by side,
or the inpainting model beside its baselines."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..models import MUSIC_MODEL

FIGURES = [  # (key, what a person reads in the table, better when)
    ("teacher_forced_accuracy", "teacher-forced accuracy", "higher"),
    ("sampled_accuracy", "sampled accuracy", "higher"),
    ("interp_mean_step_change", "interpolation: mean step change", "lower"),
    ("interp_max_step_change", "interpolation: max step change", "lower"),
    ("interp_evenness", "interpolation: evenness", "higher"),
    ("flatness_condition_number", "flatness: condition number of G", "lower"),
    ("flatness_logdet_std", "flatness: std of log sqrt det G", "lower"),
    ("style_probe_accuracy", "style: linear probe accuracy", "higher"),
    ("style_sample_accuracy", "style: samples recognised", "higher"),
]


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", nargs="+", metavar="PATH",
                   help=".mid/.abc files, folders of them, or collection names (default: the test split of "
                        "the model's training data)")
    p.add_argument("--pairs", type=int, default=128, help="interpolation pairs (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="seed that draws pairs and bars (default: 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


def register(sub) -> None:
    ev = sub.add_parser("eval", help="measure a model", description="Measure trained models.")
    esub = ev.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    p = esub.add_parser(
        "music", help="all figures of one music model, as JSON",
        description="Print one JSON object with the figures of docs/architecture.md: reconstruction (teacher_forced_accuracy, "
                    "sampled_accuracy), interpolation (interp_mean_step_change, interp_max_step_change, "
                    "interp_evenness), flatness (flatness_condition_number, flatness_logdet_std) and style "
                    "(style_probe_accuracy; style_sample_accuracy for musae). The style probe is fitted on the "
                    "training split of the data and scored on its test split.")
    p.add_argument("--model", default=MUSIC_MODEL, metavar="NAME_OR_PATH",
                   help=f"dance, vae, flat, musae or a checkpoint (default: {MUSIC_MODEL})")
    _data_options(p)
    p.set_defaults(run=run_eval_music)

    p = esub.add_parser(
        "compare", help="several music models on the same bars: one table, and a picture",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure several music models on the same bars and print one table (--json for the\n"
                    "numbers). --plot draws the interpolations of the same pairs of bars with each model,\n"
                    "side by side, with the share of notes that changed at each step under each one;\n"
                    "--midi writes them as MIDI so you can hear the difference.\n\n"
                    "  score-av eval compare --models vae flat musae --plot compare.png --midi compare/")
    p.add_argument("--models", nargs="+", default=["vae", "flat", "musae"], metavar="NAME_OR_PATH",
                   help="default: vae flat musae")
    _data_options(p)
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="draw the interpolations and their step changes")
    p.add_argument("--plot-pairs", type=int, default=4, metavar="N", help="pairs drawn in the plot (default: 4)")
    p.add_argument("--midi", type=Path, metavar="DIR", help="write each model's interpolations as DIR/MODEL.mid")
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    p.set_defaults(run=run_eval_compare)

    p = esub.add_parser(
        "inpaint", help="the inpainting model beside its baselines on the same gaps, as JSON",
        description="Draw gaps of 4 bars with a fixed seed (6 bars of context before and after at most; at least "
                    "4 before and 1 after), fill them with the inpainting model and with each baseline (repeat: the "
                    "last bar before the gap; copy4: the bar four before; linear and slerp: between the codes of the "
                    "last bar before and the first after, decoded greedily), and print one JSON object: "
                    '{"methods": {"model": {...}, "repeat": ..., "copy4": ..., "linear": ..., "slerp": ...}, '
                    '"windows": N}, each with token_accuracy (share of the missing tokens, holds and rests '
                    "included, equal to the truth), bar_accuracy (share of missing bars reproduced exactly) and "
                    "out_of_key (share of their note onsets outside the major scale that best fits the whole true "
                    "window).")
    p.add_argument("--input", nargs="+", metavar="PATH",
                   help=".mid/.abc files, folders of them, or collection names (default: the test split of the "
                        "model's training data)")
    p.add_argument("--model", default="inpaint", metavar="NAME_OR_PATH",
                   help="the inpainting model (default: inpaint, the shipped one)")
    p.add_argument("--windows", type=int, default=512, metavar="N", help="gaps drawn, at most (default: 512)")
    p.add_argument("--seed", type=int, default=0, help="seed that draws the gaps (default: 0)")
    p.add_argument("--full-context", action="store_true",
                   help="only gaps with all 6 bars before and all 6 after (fewer of them)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.set_defaults(run=run_eval_inpaint)


def _data(args: argparse.Namespace, vae):
    """Bars to measure on, (train, test) corpora for the style probe, and a description."""
    from music_vae.corpus import load_corpus
    from music_vae.errors import MusicInputError

    if args.input:
        corpus = load_corpus(args.input, progress=False)
        bars, what = corpus.bars, " ".join(args.input)
        style_data = (corpus.subset(corpus.sides() != "test"), corpus.split("test"))  # probe fitted off the test tunes
    else:
        cfg = vae.config.train
        corpus = load_corpus(list(cfg.data), progress=False)
        test = corpus.split("test", cfg.split_seed)
        bars, what = test.bars, f"test split of {' '.join(cfg.data)} (split seed {cfg.split_seed})"
        style_data = (corpus.split("train", cfg.split_seed), test)
    if len(bars) < 2:
        raise MusicInputError(f"{what}: need at least two bars to evaluate, found {len(bars)}")
    return bars, style_data, what


def _figures(vae, bars, style_data, args) -> dict:
    from music_vae.metrics import evaluate

    return evaluate(vae.model, bars, n_pairs=args.pairs, seed=args.seed, style_data=style_data)


def run_eval_music(args: argparse.Namespace) -> int:
    from music_vae.trained_model import MusicVAE

    vae = MusicVAE(args.model, device=args.device)
    bars, style_data, what = _data(args, vae)
    print(json.dumps({"model": str(vae.path), "input": what, **_figures(vae, bars, style_data, args)}, indent=2))
    return 0


def _table(names: list[str], results: list[dict]) -> str:
    width = max(len(label) for _, label, _ in FIGURES) + 2
    lines = [f"{'':<{width}}" + "".join(f"{n:>12}" for n in names)]
    for key, label, better in FIGURES:
        if not any(key in r for r in results):
            continue
        cells = "".join(f"{r[key]:>12.4g}" if key in r else f"{'-':>12}" for r in results)
        lines.append(f"{label:<{width}}{cells}   ({better} is better)")
    return "\n".join(lines)


def run_eval_compare(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from music_vae.trained_model import MusicVAE

    started = time.time()
    models = [MusicVAE(m, device=args.device) for m in args.models]
    bars, style_data, what = _data(args, models[0])
    results = [_figures(vae, bars, style_data, args) for vae in tqdm(models, desc="measuring", unit="model")]
    names = [vae.path.stem for vae in models]
    if args.json:
        print(json.dumps({"input": what, "models": dict(zip(names, results))}, indent=2))
    else:
        print(f"{len(bars)} bars: {what}\n{_table(names, results)}")
    written = []
    if args.plot or args.midi:
        from ..compare import draw_comparison, interpolation_sets, write_interpolation_midi

        sets = interpolation_sets(models, bars, args.plot_pairs, args.seed)
        if args.plot:
            written.append(draw_comparison(names, sets, args.plot))
        if args.midi:
            written += write_interpolation_midi(names, sets, args.midi)
    print(f"compared {', '.join(names)} on {len(bars)} bars"
          + (f": {', '.join(map(str, written))}" if written else "") + f" ({time.time() - started:.0f} s)")
    return 0


def run_eval_inpaint(args: argparse.Namespace) -> int:
    from music_vae.corpus import load_corpus
    from music_vae.errors import MusicInputError
    from music_vae.inpaint import Inpainter, evaluate

    if args.windows < 1:
        raise MusicInputError("--windows must be at least 1")
    inpainter = Inpainter(args.model, device=args.device)
    if args.input:
        corpus, what = load_corpus(args.input, progress=False), " ".join(args.input)
    else:
        corpus = load_corpus(inpainter.data, progress=False).split("test", inpainter.split_seed)
        what = f"the test split of {' '.join(inpainter.data)} (split seed {inpainter.split_seed})"
    print(json.dumps(evaluate(inpainter, corpus.bars, corpus.tune, args.windows, args.seed, what,
                              args.full_context), indent=2))
    return 0
