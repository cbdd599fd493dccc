"""`score-av demo`: the whole pipeline on the demo clip, in one command (`make demo`)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import summary

MEDIA = Path(__file__).resolve().parents[2] / "media"
DEMO_CLIP = MEDIA / "demo-clip.mp4"
SHOTS = [6.0, 6.0, 4.0, 8.0]   # seconds: four shots of different scenes, cut on bar lines at 120 bpm
DEMO_SEED = 7


def register(sub) -> None:
    p = sub.add_parser("demo", help="score the demo clip with the shipped models",
                       description="Make the demo clip (media/demo-clip.mp4: four synthetic shots joined "
                                   "by hard cuts, generated the same way every time) if it is not there, "
                                   "and score it: the scored clip, its MIDI, WAV and report picture go to "
                                   "--out-dir. Then try `score-av render YOUR_CLIP`.")
    p.add_argument("--out-dir", type=Path, default=Path("demo-output"), help="default: demo-output/")
    p.add_argument("--soundfont", type=Path, metavar="SF2")
    p.set_defaults(run=run_demo)


def make_demo_clip(path: Path = DEMO_CLIP) -> Path:
    """Write the demo clip: deterministic, 24 s of 320x240 H.264 at 25 fps."""
    from video_vae.scenes import clip_with_cuts

    from ..clips import write_clip

    frames, _cuts = clip_with_cuts(DEMO_SEED, SHOTS, fps=25.0, height=240, width=320)
    return write_clip(path, frames, fps=25.0)


def run_demo(args: argparse.Namespace) -> int:
    from . import build_parser

    started = time.time()
    clip = DEMO_CLIP if DEMO_CLIP.is_file() else make_demo_clip()
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    render = ["render", str(clip), "-o", str(out / "demo-clip.scored.mp4"), "--midi", str(out / "demo-clip.mid"),
              "--wav", str(out / "demo-clip.wav"), "--report", str(out / "demo-clip.png")]
    if args.soundfont:
        render += ["--soundfont", str(args.soundfont)]
    render_args = build_parser().parse_args(render)
    render_args.run(render_args)
    summary("demo: open the scored clip", [out / "demo-clip.scored.mp4"], started)
    return 0
