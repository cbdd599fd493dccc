"""`score-av render CLIP`: the same clip back, with a soundtrack that follows the picture."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from .common import add_model_option, add_style_option, summary

EXAMPLES = """\
examples:
  score-av render clip.mp4                          writes clip.scored.mp4 beside it
  score-av render clip.mp4 --bpm 90 --seed 3        slower, and other music for the same picture
  score-av render clip.mp4 --program 40 --wav score.wav --midi score.mid --report score.png
  score-av render clip.mov --fit                    adapt the video model to this footage first
  score-av render old.avi -o old.scored.mkv --keep-audio

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
    add_model_option(p)
    add_style_option(p)
    p.add_argument("--video-model", default="video", metavar="NAME_OR_PATH",
                   help="the video VAE: a shipped name or a checkpoint path (default: video)")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo; one bar is 240/bpm seconds (default: 120)")
    p.add_argument("--seed", type=int, default=None,
                   help="pick another rotation from picture to music space (default: none, the identity)")
    p.add_argument("--program", type=int, default=0, choices=range(128), metavar="0-127",
                   help="General MIDI program for the melody (default: 0, piano)")
    p.add_argument("--soundfont", type=Path, metavar="SF2",
                   help="soundfont (default: $SCORE_AV_SOUNDFONT, then a GM font on the system)")
    p.add_argument("--midi", type=Path, metavar="OUT.mid", help="also write the music as MIDI")
    p.add_argument("--wav", type=Path, metavar="OUT.wav", help="also write the soundtrack as WAV")
    p.add_argument("--report", type=Path, metavar="OUT.png",
                   help="draw frames, latent path and piano roll on one time axis")
    p.add_argument("--keep-audio", action="store_true",
                   help="keep the clip's own audio as a second track (default: replaced by the music)")
    p.add_argument("--fit", action="store_true",
                   help="fine-tune the video model on this clip's frames first (see --fit-seconds)")
    p.add_argument("--fit-seconds", type=float, default=60.0, metavar="S",
                   help="time allowed for --fit (default: 60)")
    p.add_argument("--smooth", type=float, default=0.0, metavar="0-0.99",
                   help="smooth the music code over bars (0 = none, default; 0.5 = gentle)")
    p.add_argument("--steady", type=float, default=1.0, metavar="D",
                   help="a bar keeps the music of the bar before when its code moved less than D "
                        "(0 = every flicker counts; default: 1.0, where a typical code has length 5.6)")
    p.add_argument("--analysis-fps", type=float, default=8.0, metavar="F",
                   help="frames per second the video model looks at (default: 8; 0 = every frame); the "
                        "decoder skips frames the analysis does not need")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_render)


def run_render(args: argparse.Namespace) -> int:
    started = time.time()
    from music_vae.trained_model import MusicVAE
    from video_vae.trained_model import VideoVAE

    from .. import synth
    from ..errors import ScoreAVError
    from ..mux import check_writable, mux, plan_output
    from ..score import SAMPLE_RATE, score_clip
    from ..sources import probe

    if not args.bpm > 0:
        raise ScoreAVError(f"--bpm must be positive, got {args.bpm}")
    if not 0 <= args.smooth < 1:
        raise ScoreAVError(f"--smooth must be in [0, 1), got {args.smooth}")
    if args.analysis_fps < 0:
        raise ScoreAVError(f"--analysis-fps must be >= 0, got {args.analysis_fps}")
    if args.steady < 0:
        raise ScoreAVError(f"--steady must be >= 0, got {args.steady}")
    info = probe(args.clip)
    plan = plan_output(info, args.out)
    for path in [plan.path, args.midi, args.wav, args.report]:
        if path is not None:
            check_writable(path)
    font = synth.find_soundfont(args.soundfont)
    music = MusicVAE(args.model, args.device)
    video = VideoVAE(args.video_model, args.device)
    if plan.note:
        print(f"score-av: {plan.note}")

    total = info.duration or None
    with tqdm(total=total, unit="s", desc="reading picture", disable=args.quiet,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"
              if total else None) as bar:
        def on_frame(t: float) -> None:
            bar.update(max(0.0, t - info.start - bar.n))

        score = score_clip(args.clip, music, video, bpm=args.bpm, seed=args.seed, program=args.program,
                           soundfont=font, smoothing=args.smooth, steady=args.steady, fps=args.analysis_fps or None,
                           fit_seconds=args.fit_seconds if args.fit else 0.0, on_frame=on_frame,
                           progress=not args.quiet, style=args.style)
    tl = score.timeline
    with tqdm(total=round(tl.duration, 1), unit="s", desc="writing clip", disable=args.quiet,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]") as bar:
        def on_packet(t: float) -> None:
            bar.update(max(0.0, min(tl.duration, t - tl.start) - bar.n))

        mux(info, score.audio, SAMPLE_RATE, plan, start=tl.start, keep_audio=args.keep_audio,
            on_packet=on_packet)
    written = [plan.path]
    if args.midi:
        from music_vae.midi_io import write_midi

        written.append(write_midi(args.midi, score.notes, bpm=args.bpm, program=args.program))
    if args.wav:
        synth.write_wav(args.wav, score.audio, SAMPLE_RATE)
        written.append(args.wav)
    if args.report:
        from ..report import draw_report

        written.append(draw_report(score, args.report))
    summary(f"scored clip, {tl.n_bars} bars at {args.bpm:g} bpm over {tl.duration:.1f} s of picture",
            written, started)
    return 0
