"""`score-av train music`: train a music VAE and write its checkpoint and model card."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from music_vae.configs import CONFIGS, get_config

VARIANTS = ["vae"]


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model", description="Train the models score-av uses.")
    tsub = train.add_subparsers(dest="train_command", metavar="WHAT", required=True)
    p = tsub.add_parser(
        "music", help="train a music VAE on bars of melody",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a music VAE. The corpus is parsed once and cached; training shows a progress "
                    "bar, checkpoints every few minutes (OUT.pt, and OUT.train.pt for --resume), and "
                    "writes the model card OUT.json with the figures on the test split at the end.\n\n"
                    "  score-av train music --variant vae --out media/models/vae.pt     the shipped model\n"
                    "  score-av train music --data ~/tunes --out runs/mine.pt           your own MIDI/ABC")
    p.add_argument("--variant", choices=VARIANTS, default="vae", help="which model (default: vae)")
    p.add_argument("--config", choices=sorted(CONFIGS), help="named configuration (default: the variant's)")
    p.add_argument("--data", nargs="+", metavar="SOURCE",
                   help="collection names or .mid/.abc files, folders, .txt lists (default: the config's)")
    p.add_argument("--out", type=Path, help="checkpoint to write (default: runs/VARIANT.pt)")
    p.add_argument("--steps", type=int, help="training steps (default: the config's)")
    p.add_argument("--batch-size", type=int, help="bars per step (default: the config's)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.train.pt if it exists")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.set_defaults(run=run_train_music)


def run_train_music(args: argparse.Namespace) -> int:
    from music_vae.train import train

    started = time.time()
    config = get_config(args.config or args.variant, steps=args.steps, batch_size=args.batch_size,
                        seed=args.seed, data=tuple(args.data) if args.data else None)
    out = args.out or Path("runs") / f"{args.variant}.pt"
    card = train(config, out, resume=args.resume, device=args.device)
    m = card["metrics"]["test"]
    print(f"model: {out}, card: {out.with_suffix('.json')}; test split: teacher-forced "
          f"{m.get('teacher_forced_accuracy', float('nan')):.3f}, sampled {m.get('sampled_accuracy', float('nan')):.3f} "
          f"({time.time() - started:.0f} s)")
    return 0
