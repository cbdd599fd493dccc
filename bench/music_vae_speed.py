"""Benchmark: how fast the music VAE trains and decodes on this machine.

Prints one JSON object. Times are medians of repeated runs; each is set beside its reference
measured in the same run, so the ratios carry across machines:
- training: bars per second, and the epochs of the shipped training split that fit in an hour;
- decoding: one bar and a batch of 64 bars, as a share of the time they have when played live
  (one sixteenth note = 125 ms and one bar = 2 s at 120 bpm).

    python bench/music_vae_speed.py [--model vae] [--steps 20]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace

import torch

from modelkit import parameter_count
from music_vae.configs import VaeSettings, get_config
from music_vae.midi_io import bar_seconds
from music_vae.model import BarVAE
from music_vae.train import training_step
from music_vae.variants import build_loss


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vae", help="shipped model name or checkpoint (default: vae)")
    ap.add_argument("--steps", type=int, default=20, help="training steps to time (default: 20)")
    ap.add_argument("--bpm", type=float, default=120.0)
    args = ap.parse_args()

    try:
        from music_vae.trained_model import MusicVAE
        vae = MusicVAE(args.model, device="cpu")
        model, config, train_bars = vae.model, vae.config, vae.card.get("data", {}).get("bars", {}).get("train")
    except Exception as exc:  # no shipped model yet: the default configuration, untrained, is as fast
        print(f"# {args.model}: {exc}; timing the default configuration untrained", flush=True)
        config = get_config("vae")
        model, train_bars = BarVAE(config.model).eval(), None

    cfg = config.train
    x = torch.randint(2, 90, (cfg.batch_size, 16))
    trainee = BarVAE(config.model)
    trainee.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(trainee.parameters(), lr=1e-4)
    plain = replace(config, train=replace(cfg, loss=VaeSettings()))  # the plain VAE's step, whatever the model
    loss, gen = build_loss(plain, (), None, "cpu"), torch.Generator().manual_seed(0)
    step_s = median_seconds(lambda: training_step(trainee, opt, x, None, plain.train, 5000, gen, loss), args.steps)
    bar = bar_seconds(args.bpm)
    sixteenth = bar / 16
    z1, z64 = torch.randn(1, config.model.latent_dim), torch.randn(64, config.model.latent_dim)
    model.eval()
    one = median_seconds(lambda: model.decode(z1), 30)
    batch = median_seconds(lambda: model.decode(z64), 10)
    bars_per_s = cfg.batch_size / step_s
    print(json.dumps({
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "model": {"name": args.model, "parameters": parameter_count(model)},
        "training": {"batch_size": cfg.batch_size, "step_seconds": round(step_s, 4),
                     "bars_per_second": round(bars_per_s, 1),
                     "epochs_per_hour": round(3600 * bars_per_s / train_bars, 1) if train_bars else None},
        "decode": {"one_bar_seconds": round(one, 5), "batch64_seconds": round(batch, 5),
                   "one_bar_over_a_sixteenth": round(one / sixteenth, 4),
                   "one_bar_over_a_bar": round(one / bar, 5),
                   "batch64_over_a_bar": round(batch / bar, 4),
                   "batch64_per_bar_over_one_bar": round(batch / 64 / one, 4)},
    }, indent=2))


if __name__ == "__main__":
    main()
