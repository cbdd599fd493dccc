"""The `score-av` command line: one parser, subcommands registered by the modules beside this one.

Every foreseeable problem (a missing file, a model that is not ours, no soundfont) ends as one
line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys

from modelkit import UserError

from . import batch, demo, evaluate, live, music, render, train

USER_ERRORS = UserError  # the base of every error whose message is for the person (modelkit.errors)

DESCRIPTION = """\
score-av turns moving images into music: frames -> image VAE -> music VAE -> FluidSynth.

Start with the shipped models:
  score-av render clip.mp4                              clip.scored.mp4: the clip with music that follows it
  score-av demo                                         the demo clip, scored (MIDI, WAV, report beside it)
  score-av music sample -o bars.mid --wav bars.wav      eight bars from the music VAE on its own
  score-av train video ~/footage/*.mp4 --out mine.pt    a video model for your own footage
  score-av eval music --model vae                       the music model's figures on its test split
  score-av live --source clip.mp4 --audio-driver file   an installation: the camera (here a file) scored live
  score-av batch ~/clips -o scored/                     a folder of clips, on all cores (or --backend ray)
Each subcommand has its own --help.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="score-av", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    render.register(sub)
    music.register(sub)
    train.register(sub)
    evaluate.register(sub)
    demo.register(sub)
    live.register(sub)
    batch.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except USER_ERRORS as exc:
        print(f"score-av: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("score-av: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
