"""Options and small steps that several subcommands share."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from music_vae.midi_io import notes_to_midi, write_midi
from music_vae.representation import Note

from .. import synth


def add_model_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vae", metavar="NAME_OR_PATH",
                   help="a shipped model's name (media/models/NAME.pt) or a checkpoint path (default: vae)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")


def add_sound_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUT.mid", help="MIDI file to write")
    p.add_argument("--wav", type=Path, metavar="OUT.wav", help="also render the MIDI through FluidSynth to a WAV")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo (default: 120)")
    p.add_argument("--program", type=int, default=0, choices=range(128), metavar="0-127",
                   help="General MIDI program (default: 0, piano)")
    p.add_argument("--soundfont", type=Path, metavar="SF2",
                   help="soundfont for --wav (default: $SCORE_AV_SOUNDFONT, then a GM font on the system)")


def write_music(notes: list[Note], args: argparse.Namespace) -> list[Path]:
    """Write the MIDI file, and the WAV when asked; returns what was written."""
    written = [write_midi(args.out, notes, bpm=args.bpm, program=args.program)]
    if args.wav:
        font = synth.find_soundfont(args.soundfont)
        audio = synth.render(notes_to_midi(notes, bpm=args.bpm, program=args.program), font)
        synth.write_wav(args.wav, audio)
        written.append(args.wav)
    return written


def summary(what: str, paths: list[Path], started: float) -> None:
    """The one line at the end of a command: what was made, where, how long it took."""
    print(f"{what}: {', '.join(str(p) for p in paths)} ({time.time() - started:.1f} s)")
