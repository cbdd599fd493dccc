"""Benchmark: what one epoch of training costs for each music VAE variant, beside the plain VAE.

Every variant starts from the same weights (the shipped vae) and takes the same batches of real
training bars; the timed step is the training loop's own (`music_vae.train.training_step`):
for flat the penalty on mixup points included, for musae the critic's updates included. The
variants are timed in turn, round after round, so that a noisy machine slows them alike.
Prints JSON: seconds per step and per epoch of the shipped training split, and the ratio of each
to the plain VAE (the issue asks for flat within 2x).

    python bench/music_variant_cost.py [--steps 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import asdict

import numpy as np
import torch

from music_vae.checkpoint import load_model, resolve_model
from music_vae.configs import VARIANTS, get_config
from music_vae.corpus import load_corpus
from music_vae.model import BarVAE
from music_vae.styles import style_labels
from music_vae.train import training_step
from music_vae.variants import build_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant per round (default: 10)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all variants (default: 3)")
    args = ap.parse_args()

    base, _, _ = load_model(resolve_model("vae"), "cpu")
    corpus = load_corpus(list(get_config("vae").train.data), progress=False).split("train")
    styles, labels = style_labels(corpus)
    rng = np.random.default_rng(0)
    runs = {}
    for variant in VARIANTS:
        loss = build_loss(get_config(variant), styles, labels, "cpu")
        model = BarVAE(loss.config.model)
        model.load_state_dict(base.state_dict())
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        runs[variant] = (model, opt, loss.config.train, loss, torch.Generator().manual_seed(0))

    batch = get_config("vae").train.batch_size
    batches = [rng.integers(0, len(corpus), batch) for _ in range(args.steps)]
    times = {v: [] for v in VARIANTS}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for variant, (model, opt, cfg, loss, gen) in runs.items():
            model.train()
            t = time.perf_counter()
            for i, idx in enumerate(batches):
                x = torch.as_tensor(corpus.bars[idx].astype(np.int64))
                training_step(model, opt, x, torch.as_tensor(labels[idx]), cfg, 5000 + i, gen, loss)
            if round_:
                times[variant].append((time.perf_counter() - t) / args.steps)

    card_bars = json.loads(resolve_model("vae").with_suffix(".json").read_text())["data"]["bars"]["train"]
    step_s = {v: statistics.median(t) for v, t in times.items()}
    print(json.dumps({
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "batch_size": batch, "epoch_bars": card_bars, "timed_steps": args.steps * args.rounds,
        "variants": {v: {"step_seconds": round(s, 4), "epoch_seconds": round(s * card_bars / batch, 1),
                         "over_vae": round(s / step_s["vae"], 3),
                         "settings": asdict(runs[v][2].loss)}
                     for v, s in step_s.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
