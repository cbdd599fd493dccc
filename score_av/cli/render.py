"""`score-av render CLIP`: the same clip back, with a soundtrack that follows the picture."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..band import DEFAULT_PRESET, NONE, parse_layers, preset_names
from ..render import RenderOptions, render_clip
from ..score import Score
from .common import BarProgress, add_model_option, add_style_option, summary

EXAMPLES = """\
examples:
  score-av render clip.mp4                          writes clip.scored.mp4 beside it
  score-av render clip.mp4 --bpm 90 --seed 3        slower, and other music for the same picture
  score-av render clip.mp4 --program 40 --wav score.wav --midi score.mid --report score.png
  score-av render clip.mov --fit                    adapt the video model to this footage first
  score-av render old.avi -o old.scored.mkv --keep-audio
  score-av render clip.mp4 --preset folk            a band: fiddle, bass, guitar chords, light drums
  score-av render clip.mp4 --layers melody,bass,drums --stems stems/   one WAV per layer as well
  score-av render room.mp4 --presence --report room.png   people coming in are heard; an empty room is still

How it works: every frame the analysis looks at (--analysis-fps per second) is encoded by the
video VAE; the codes are standardised over the clip and rotated (identity by default, another
rotation per --seed) into the music VAE's latent space; each bar (240/bpm seconds) takes the
mean code of the frames inside it, and the music VAE decodes it to a bar of melody. FluidSynth
plays the bars, exactly as long as the picture, and the video packets are copied into the output
unchanged (re-encoded to H.264 only when the output container cannot hold the codec; it says so).
"""


def register(sub) -> None:
    p = sub.add_parser("render", help="score a clip: the clip back with music that follows the picture",
                       description="Score a video clip with music that follows the picture.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", type=Path, metavar="CLIP", help="a video file (MP4, MKV, MOV, AVI, ...)")
    p.add_argument("-o", "--out", type=Path, metavar="OUT",
                   help="scored clip (.mp4, .mov or .mkv; default: CLIP.scored.mp4 beside the input, "
                        ".mkv when MP4 cannot hold the video codec)")
    add_scoring_options(p)
    p.add_argument("--midi", type=Path, metavar="OUT.mid", help="also write the music as MIDI")
    p.add_argument("--wav", type=Path, metavar="OUT.wav", help="also write the soundtrack as WAV")
    p.add_argument("--report", type=Path, metavar="OUT.png",
                   help="draw frames, latent path and piano roll on one time axis")
    p.add_argument("--stems", type=Path, metavar="DIR",
                   help="also write one WAV per layer (DIR/melody.wav, DIR/bass.wav, ...), each as long as the picture")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_render)


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    """How a clip is scored: every render option but the clip and what is written (batch shares them)."""
    add_model_option(p)
    add_style_option(p)
    p.add_argument("--video-model", default="video", metavar="NAME_OR_PATH",
                   help="the video VAE: a shipped name or a checkpoint path (default: video)")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo; one bar is 240/bpm seconds (default: 120)")
    p.add_argument("--seed", type=int, default=None,
                   help="pick another rotation from picture to music space (default: none, the identity)")
    p.add_argument("--program", type=int, default=None, choices=range(128), metavar="0-127",
                   help="General MIDI program for the melody (default: the preset's: 40, violin, in folk; "
                        "0, piano, with --preset none)")
    p.add_argument("--soundfont", type=Path, metavar="SF2",
                   help="soundfont (default: $SCORE_AV_SOUNDFONT, then a GM font on the system)")
    p.add_argument("--keep-audio", action="store_true",
                   help="keep the clip's own audio as a second track (default: replaced by the music)")
    p.add_argument("--fit", action="store_true",
                   help="fine-tune the video model on this clip's frames first (see --fit-seconds)")
    p.add_argument("--fit-seconds", type=float, default=60.0, metavar="S",
                   help="time allowed for --fit (default: 60)")
    p.add_argument("--smooth", type=float, default=0.0, metavar="0-0.99",
                   help="a change in the picture must last before the music follows it, so a flicker "
                        "is not heard (0 = at once, default; 0.5 = a change must hold for a bar or two; "
                        "with --steady above 0)")
    p.add_argument("--steady", type=float, default=1.0, metavar="D",
                   help="a bar keeps the music of the bar before when its code moved less than D "
                        "(0 = every flicker counts; default: 1.0, where a standardised code of 32 numbers "
                        "is about 5.7 long)")
    p.add_argument("--analysis-fps", type=float, default=8.0, metavar="F",
                   help="frames per second the video model looks at, on an even grid (default: 8; 0 = every "
                        "frame; a clip with fewer frames gives all it has): at least 90%% of F over every "
                        "few seconds, while the decoder skips frames the analysis does not need")
    music = p.add_argument_group("the conductor: what makes the decoded bars a piece (all on by default)")
    music.add_argument("--key", default="auto", metavar="KEY",
                       help="the piece's key: a tonic and a mode (major, minor, dorian, mixolydian), e.g. D, "
                            "'E dorian', 'F# minor'; auto (default) reads it from the picture's colour: the hue "
                            "walks the circle of fifths, brightness picks the mode; none: every bar in its own key")
    music.add_argument("--modulate", action="store_true", help="a cut in the picture may move the piece to a related key")
    music.add_argument("--no-phrases", dest="phrases", action="store_false",
                       help="do not place bars near each other nor end each phrase of four bars on the tonic")
    music.add_argument("--no-variation", dest="variation", action="store_false",
                       help="every new bar decoded whole (default: a bar whose picture moved less than a cut keeps "
                            "the first beats of the bar before, more the less it moved, and the rest is new)")
    music.add_argument("--no-development", dest="development", action="store_false",
                       help="where the picture holds one look, repeat its bar (default: the bar is the anchor of "
                            "an 8-bar phrase, back at bar 5, and the bars between are inpainted from the bars "
                            "before towards it, so a still shot is heard as a tune, not a loop)")
    music.add_argument("--bridge-cuts", action="store_true",
                       help="the last bar before each cut is inpainted between the shot before and the shot "
                            "after, so the music leans into the cut; the cut is still heard at its bar line "
                            "(default: off; the report marks bridges)")
    band = p.add_argument_group(f"the band: layers under the melody (default: the {DEFAULT_PRESET} preset)")
    band.add_argument("--preset", default=DEFAULT_PRESET, metavar="NAME|FILE.toml",
                      help=f"a band: {', '.join(preset_names())} (shipped; default: {DEFAULT_PRESET}: fiddle, "
                           f"acoustic bass, guitar chords, a light kit), {NONE} (the melody alone, on the piano), or "
                           "a TOML file with one table per layer ([bass] program = 32, level = 0.8, on = true); "
                           "--layers and --program win over it")
    band.add_argument("--layers", default=None, metavar="LIST",
                      help="the layers that play, comma-separated: melody (always), bass (a bass model under the "
                           "melody and its chords: the picture's brightness moves its register, its motion how many "
                           "notes it plays), harmony (chords for the melody, comped in the middle register), drums "
                           "(a GM kit whose groove follows the motion, fills at phrase ends and before cuts); one "
                           "MIDI track per layer, mixed in the clip (default: the preset's)")
    music.add_argument("--themes", type=float, default=1.0, metavar="R",
                       help="when the picture comes back to a look already scored (its code within R), its bar "
                            "comes back note for note (default: 1.0; 0 = off)")
    music.add_argument("--no-dynamics", dest="dynamics", action="store_false",
                       help="every note at one loudness (default: the picture's motion sets the loudness)")
    music.add_argument("--density", type=float, default=0.0, metavar="W",
                       help="motion also makes new bars denser (busy) or sparser (still), along the model's "
                            "density vector times W (default: 0, off; try 1)")
    music.add_argument("--presence", action="store_true",
                       help="count the people in the picture three times a second, as `score-av live` does, and "
                            "let them steer the music: a bar where someone comes into a room seen empty starts a "
                            "new phrase, decided anew as after a cut; a bar with nobody in it plays still (quiet, "
                            "and its music kept while the picture stays within a cut's distance). Each bar counts "
                            "the most people seen in it; the report draws them and the summary says how many "
                            "entrances were heard. Costs a pass of OpenCV's people detector over the clip, half a "
                            "second or more per second of picture on two cores (default: off)")


def scoring_options(args: argparse.Namespace) -> RenderOptions:
    """The library's options from the parsed command line, without the extra outputs (batch shares this)."""
    return RenderOptions(model=args.model, video_model=args.video_model, device=args.device, style=args.style,
                         bpm=args.bpm, seed=args.seed, program=args.program, soundfont=args.soundfont,
                         smooth=args.smooth, steady=args.steady, analysis_fps=args.analysis_fps,
                         fit_seconds=args.fit_seconds if args.fit else 0.0, keep_audio=args.keep_audio,
                         key=None if args.key.lower() == "none" else args.key, modulate=args.modulate,
                         phrases=args.phrases, variation=args.variation, themes=args.themes, dynamics=args.dynamics,
                         density=args.density, development=args.development, bridge_cuts=args.bridge_cuts,
                         layers=parse_layers(args.layers) if args.layers else None, preset=args.preset,
                         presence=args.presence)


def options_from(args: argparse.Namespace) -> RenderOptions:
    """`render`'s options: the scoring options and the extra outputs asked for."""
    return replace(scoring_options(args), midi=args.midi, wav=args.wav, report=args.report, stems=args.stems)


def people_heard(score: Score) -> str:
    """What the summary says of the people counted (--presence): how many entrances were heard, and
    when; nothing when they were not counted."""
    if score.people is None:
        return ""
    bar, at = score.timeline.bar, np.flatnonzero(score.entrances)
    when = f" (at {', '.join(f'{k * bar:.1f}' for k in at)} s)" if len(at) else ""
    return (f", people counted (at most {int(score.people.max())} in a bar): "
            f"{len(at)} {'entrance' if len(at) == 1 else 'entrances'} heard{when}")


def run_render(args: argparse.Namespace) -> int:
    result = render_clip(args.clip, args.out, options_from(args), progress=BarProgress(args.quiet))
    tl = result.score.timeline
    summary(f"scored clip, {tl.n_bars} bars at {args.bpm:g} bpm over {tl.duration:.1f} s of picture"
            f"{people_heard(result.score)}", result.written, time.time() - result.seconds)
    return 0
