"""`score-av demo`: hear the shipped music VAE on a real tune, in one command."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .common import summary, write_music

DEMO_TUNES = "oneills"  # music21 ships it: no download


def register(sub) -> None:
    p = sub.add_parser("demo", help="hear the shipped models on a real tune",
                       description="Take a reel from O'Neill's collection (shipped with music21), play it "
                                   "back through the music VAE, walk the latent line between two of its "
                                   "bars, and sample new bars; MIDI and WAV for each.")
    p.add_argument("--model", default="vae", metavar="NAME_OR_PATH", help="default: vae")
    p.add_argument("--out-dir", type=Path, default=Path("demo-output"), help="default: demo-output/")
    p.add_argument("--bpm", type=float, default=120.0)
    p.add_argument("--soundfont", type=Path, metavar="SF2")
    p.set_defaults(run=run_demo)


def _a_reel(min_bars: int = 8) -> tuple[str, np.ndarray]:
    from music_vae.corpus.dataset import extract_item
    from music_vae.corpus.sources import collection_items

    for item in collection_items(DEMO_TUNES)[:200]:
        tune = extract_item(item)
        if tune.skipped is None and len(tune.bars) >= min_bars:
            return tune.tune_id, tune.bars[:min_bars]
    raise RuntimeError("no 4/4 tune with 8 bars in the first 200 of O'Neill's collection")


def run_demo(args: argparse.Namespace) -> int:
    from music_vae.trained_model import MusicVAE

    started = time.time()
    vae = MusicVAE(args.model)
    tune_id, bars = _a_reel()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, music in [("tune", bars),
                        ("tune-through-the-vae", vae.decode(vae.encode(bars))),
                        ("interpolation", vae.interpolate(bars[0], bars[-1], n=8)),
                        ("samples", vae.sample(8, temperature=0.5, seed=0))]:
        ns = argparse.Namespace(out=args.out_dir / f"{name}.mid", wav=args.out_dir / f"{name}.wav",
                                bpm=args.bpm, program=0, soundfont=args.soundfont)
        write_music(music, ns)
    summary(f"demo on {tune_id}", [args.out_dir], started)
    return 0
