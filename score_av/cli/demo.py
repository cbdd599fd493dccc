"""`score-av demo`: the whole pipeline on the demo clip, in one command (`make demo`)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import BarProgress, summary


def register(sub) -> None:
    p = sub.add_parser("demo", help="score the demo clip with the shipped models",
                       description="Make the demo clip (media/demo-clip.mp4: four synthetic shots joined "
                                   "by hard cuts, generated the same way every time) if it is not there, "
                                   "and score it: the scored clip, its MIDI, WAV and report picture go to "
                                   "--out-dir. Then try `score-av render YOUR_CLIP`.")
    p.add_argument("--out-dir", type=Path, default=Path("demo-output"), help="default: demo-output/")
    p.add_argument("--soundfont", type=Path, metavar="SF2")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from ..demo import score_demo

    started = time.time()
    result = score_demo(args.out_dir, args.soundfont, BarProgress())
    summary("demo: open the scored clip", [result.clip], started)
    return 0
