"""Options and small steps that several subcommands share."""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from music_vae.midi_io import bar_seconds, notes_to_midi, write_midi
from music_vae.representation import tokens_to_notes

from .. import synth
from ..models import MUSIC_MODEL
from ..render import Progress


def add_model_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=MUSIC_MODEL, metavar="NAME_OR_PATH",
                   help="the music model: dance (the default: a vae trained on Irish and Scottish fiddle tunes "
                        "alone, with their rhythm and density), vae (the same network trained on five collections: "
                        "German songs, Bach chorales, Chinese, Irish and Scottish tunes), flat (smoother steps: a "
                        "small change in the picture is a small change in the music) or musae (organised by "
                        "style, see --style), shipped in media/models/; or a checkpoint path")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")


def add_style_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", metavar="NAME",
                   help="draw the music from one style's region of the model's data prior (dance: irish, scottish; "
                        "vae, flat, musae: bach, chinese, german, irish, lorraine, luxembourg, scottish; a musae model "
                        "without a data prior: bach, chinese, german, irish, scottish)")


def add_sound_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUT.mid", help="MIDI file to write")
    p.add_argument("--wav", type=Path, metavar="OUT.wav", help="also render the MIDI through FluidSynth to a WAV")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo (default: 120)")
    p.add_argument("--program", type=int, default=0, choices=range(128), metavar="0-127",
                   help="General MIDI program (default: 0, piano)")
    p.add_argument("--soundfont", type=Path, metavar="SF2",
                   help="soundfont for --wav (default: $SCORE_AV_SOUNDFONT, then a GM font on the system)")


RELEASE_SECONDS = 1.0  # after the last bar, so the last note can ring out


def write_music(bars: np.ndarray, args: argparse.Namespace) -> list[Path]:
    """Write bars (n, 16) as MIDI, and as a WAV of exactly n bars plus the release when asked."""
    notes = tokens_to_notes(bars)
    written = [write_midi(args.out, notes, bpm=args.bpm, program=args.program)]
    if args.wav:
        font = synth.find_soundfont(args.soundfont)
        seconds = len(bars) * bar_seconds(args.bpm) + RELEASE_SECONDS
        audio = synth.render(notes_to_midi(notes, bpm=args.bpm, program=args.program), font, duration=seconds)
        synth.write_wav(args.wav, audio)
        written.append(args.wav)
    return written


def summary(what: str, paths: list[Path], started: float) -> None:
    """The one line at the end of a command: what was made, where, how long it took."""
    print(f"{what}: {', '.join(str(p) for p in paths)} ({time.time() - started:.1f} s)")


class BarProgress(Progress):
    """A render's stages as progress bars over seconds of picture, and its notes as lines."""

    def __init__(self, quiet: bool = False):
        self.shown = not quiet

    def note(self, text: str) -> None:
        print(f"score-av: {text}")

    @contextmanager
    def stage(self, name: str, total: float | None):
        from tqdm import tqdm

        fmt = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]" if total else None
        with tqdm(total=total, unit="s", desc=name, disable=not self.shown, bar_format=fmt) as bar:
            yield lambda done: bar.update(max(0.0, done - bar.n))
