"""`score-av train music|video|inpaint|bass`: train a model and write its checkpoint and model card."""
from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from music_vae.configs import CONFIGS, INPAINT_CONFIGS, VARIANTS, get_config, get_inpaint_config

from ..footage import IMAGE_SUFFIXES

VIDEO_EXAMPLES = """\
examples:
  score-av train video --synthetic --out media/models/video.pt   reproduces the shipped model
  score-av train video ~/footage/*.mp4 --out runs/mine.pt        your own clips
  score-av train video ~/stills/ --fps 2 --out runs/mine.pt      a folder of images and clips
  score-av train video --synthetic --config tiny --steps 20      a few seconds, to try it out

What it learns: every frame is squashed to 64x64 and encoded to a 32-number code (the music
VAE's latent size), and decoded back; a small weight on the KL term keeps the codes near
N(0, I) while most of the 32 dimensions carry something about the picture. Whole scenes (or
blocks of 64 consecutive frames of your footage) are held out to measure the reconstruction.
The checkpoint OUT.pt also stores the mean and std of each code dimension over the training
frames, which `score-av render` uses to spread any footage over the whole music space; the
model card OUT.json beside it has the data, the machine, the time and the figures.
Use the model with `score-av render CLIP --video-model OUT.pt`.
"""


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model", description="Train the models score-av uses.")
    tsub = train.add_subparsers(dest="train_command", metavar="WHAT", required=True)
    p = tsub.add_parser(
        "music", help="train a music VAE on bars of melody",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a music VAE. The corpus is parsed once and cached; training shows a progress "
                    "bar, checkpoints every few minutes (OUT.pt, and OUT.train.pt for --resume), and "
                    "writes the model card OUT.json with the figures on the test split at the end.\n\n"
                    "  score-av train music --variant vae --out media/models/vae.pt     the shipped model\n"
                    "  score-av train music --config dance --out media/models/dance.pt  fiddle tunes only\n"
                    "  score-av train music --data ~/tunes --out runs/mine.pt           your own MIDI/ABC")
    p.add_argument("--variant", choices=VARIANTS, default="vae", help="which model (default: vae)")
    p.add_argument("--config", choices=sorted(CONFIGS), help="named configuration (default: the variant's)")
    p.add_argument("--data", nargs="+", metavar="SOURCE",
                   help="collection names or .mid/.abc files, folders, .txt lists (default: the config's)")
    p.add_argument("--out", type=Path, help="checkpoint to write (default: runs/VARIANT.pt)")
    add_training_options(p, "bars", resume=True)
    p.set_defaults(run=run_train_music)
    register_video(tsub)
    register_inpaint(tsub)
    register_bass(tsub)
    register_harmony(tsub)


def add_training_options(p: argparse.ArgumentParser, unit: str, resume: bool = False) -> None:
    """The options every `train` command shares; `unit` is what one step's batch counts."""
    p.add_argument("--steps", type=int, help="training steps (default: the config's)")
    p.add_argument("--batch-size", type=int, help=f"{unit} per step (default: the config's)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's)")
    if resume:
        p.add_argument("--resume", action="store_true", help="continue from OUT.train.pt if it exists")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


def register_inpaint(tsub) -> None:
    p = tsub.add_parser(
        "inpaint", help="train the inpainting model: the codes of missing bars from the bars around them",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the latent inpainting model (Pati, Lerch and Hadjeres) over a frozen music model:\n"
                    "up to 6 bars before and 6 after a gap of 1 to 8 bars are encoded to codes, and a recurrent\n"
                    "network learns the codes of the missing bars from the token loss through the music model's\n"
                    "decoder, on the music model's own training tunes and split. Training shows a progress bar,\n"
                    "checkpoints every few hundred steps (OUT.pt, and OUT.train.pt for --resume), and writes\n"
                    "the model card OUT.json with every method's figures on the test split at the end.\n\n"
                    "  score-av train inpaint --out media/models/inpaint.pt    reproduces the shipped model\n"
                    "  score-av eval inpaint                                   its figures beside the baselines")
    p.add_argument("--config", choices=sorted(INPAINT_CONFIGS), default="inpaint",
                   help="named configuration (default: inpaint, the shipped model's)")
    p.add_argument("--music-model", metavar="NAME_OR_PATH", help="the frozen music model (default: the config's, dance)")
    p.add_argument("--out", type=Path, default=Path("runs") / "inpaint.pt",
                   help="checkpoint to write (default: runs/inpaint.pt)")
    add_training_options(p, "windows", resume=True)
    p.set_defaults(run=run_train_inpaint)


def register_video(tsub) -> None:
    from video_vae.configs import CONFIGS as VIDEO_CONFIGS

    p = tsub.add_parser(
        "video", help="train the video VAE on clips, image folders or synthetic scenes",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=VIDEO_EXAMPLES,
        description="Train the video VAE that turns frames into codes. Give clips, images or folders\n"
                    "(searched recursively for both), or --synthetic for the scenes score-av draws itself\n"
                    "(what the shipped model is trained on).")
    p.add_argument("inputs", nargs="*", type=Path, metavar="CLIP_OR_DIR",
                   help=f"video files, images ({' '.join(IMAGE_SUFFIXES)}) or folders of either")
    p.add_argument("--synthetic", action="store_true", help="train on generated scenes instead of inputs")
    p.add_argument("--config", choices=sorted(VIDEO_CONFIGS), default="video",
                   help="named configuration (default: video, the shipped model's)")
    p.add_argument("--out", type=Path, default=Path("runs") / "video.pt", help="checkpoint to write (default: runs/video.pt)")
    add_training_options(p, "frames")
    p.add_argument("--max-frames", type=int, metavar="N",
                   help="use at most N frames, evenly spaced over the inputs (default: all)")
    p.add_argument("--fps", type=float, metavar="F", help="frames per second taken from clips (default: every frame)")
    p.set_defaults(run=run_train_video)


def run_train_music(args: argparse.Namespace) -> int:
    from music_vae.train import train

    started = time.time()
    config = get_config(args.config or args.variant, steps=args.steps, batch_size=args.batch_size,
                        seed=args.seed, data=tuple(args.data) if args.data else None)
    out = args.out or Path("runs") / f"{args.variant}.pt"
    card = train(config, out, resume=args.resume, device=args.device, reproduce=_reproduce_music(args, out))
    m = card["metrics"]["test"]
    print(f"model: {out}, card: {out.with_suffix('.json')}; test split: teacher-forced "
          f"{m.get('teacher_forced_accuracy', float('nan')):.3f}, sampled {m.get('sampled_accuracy', float('nan')):.3f} "
          f"({time.time() - started:.0f} s)")
    return 0


def _reproduce_music(args: argparse.Namespace, out: Path) -> str:
    parts = ["score-av", "train", "music"] + (["--config", args.config] if args.config else ["--variant", args.variant])
    parts += ["--data", *args.data] if args.data else []
    for flag, value in (("--steps", args.steps), ("--batch-size", args.batch_size), ("--seed", args.seed)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts + ["--out", str(out)])


def _reproduce(args: argparse.Namespace, out: Path) -> str:
    parts = ["score-av", "train", "video", *map(str, args.inputs)] + (["--synthetic"] if args.synthetic else [])
    for flag, value in (("--config", None if args.config == "video" else args.config), ("--steps", args.steps),
                        ("--batch-size", args.batch_size), ("--seed", args.seed),
                        ("--max-frames", args.max_frames), ("--fps", args.fps)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts + ["--out", str(out)])


def run_train_video(args: argparse.Namespace) -> int:
    from video_vae.configs import get_config as get_video_config
    from video_vae.errors import VideoVAEError
    from video_vae.train import train

    started = time.time()
    if args.synthetic and args.inputs:
        raise VideoVAEError("give clips, images or folders, or --synthetic, not both")
    config = get_video_config(args.config, steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    frames, source = None, None
    if not args.synthetic:
        from ..footage import read_training_frames

        frames, source = read_training_frames(args.inputs, config.model.image_size, args.fps, args.max_frames)
    card = train(config, frames, args.out, device=args.device, source=source, reproduce=_reproduce(args, args.out))
    m = next(iter(card["metrics"].values()))
    print(f"model: {args.out}, card: {args.out.with_suffix('.json')}; {next(iter(card['metrics']))}: "
          f"PSNR {m.get('psnr_db', float('nan')):.1f} dB, {m.get('active_dims', 0)}/{config.model.latent_dim} "
          f"active dims ({time.time() - started:.0f} s)")
    return 0


def _reproduce_inpaint(args: argparse.Namespace) -> str:
    parts = ["score-av", "train", "inpaint"]
    for flag, value in (("--config", None if args.config == "inpaint" else args.config),
                        ("--music-model", args.music_model), ("--steps", args.steps),
                        ("--batch-size", args.batch_size), ("--seed", args.seed)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts + ["--out", str(args.out)])


def run_train_inpaint(args: argparse.Namespace) -> int:
    from music_vae.inpaint import train

    started = time.time()
    config = get_inpaint_config(args.config, music_model=args.music_model, steps=args.steps,
                                batch_size=args.batch_size, seed=args.seed)
    card = train(config, args.out, resume=args.resume, device=args.device, reproduce=_reproduce_inpaint(args))
    methods = card["metrics"]["test"].get("methods", {})
    if methods:
        best = max((m for m in methods if m != "model"), key=lambda m: methods[m]["token_accuracy"])
        figures = (f"token accuracy {methods['model']['token_accuracy']:.3f} (best baseline, {best}: "
                   f"{methods[best]['token_accuracy']:.3f}) over {card['metrics']['test']['windows']} windows")
    else:
        figures = "no window to measure"
    print(f"model: {args.out}, card: {args.out.with_suffix('.json')}; test split: {figures} "
          f"({time.time() - started:.0f} s)")
    return 0


def register_bass(tsub) -> None:
    from music_vae.configs import BASS_CONFIGS

    p = tsub.add_parser(
        "bass", help="train the bass model: a bass bar from the melody bar and its chords, steered by a 2-D code",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the bass model (after BassNet): a conditional VAE that writes a bass bar from the melody\n"
                    "bar and its chords, with a 2-D code kept stable from bar to bar and each axis tied to a figure\n"
                    "(axis 0: register, axis 1: notes per bar), on music21's Bach chorales in all 12 keys. The\n"
                    "chorales are parsed once and cached; the card OUT.json holds the held-out figures.\n\n"
                    "  score-av train bass --out media/models/bass.pt    reproduces the shipped model\n"
                    "  python bench/bass.py                              its figures beside the rule's")
    p.add_argument("--config", choices=sorted(BASS_CONFIGS), default="bass",
                   help="named configuration (default: bass, the shipped model's)")
    p.add_argument("--out", type=Path, default=Path("runs") / "bass.pt", help="checkpoint to write (default: runs/bass.pt)")
    add_training_options(p, "windows of consecutive bars", resume=True)
    p.set_defaults(run=run_train_bass)


def run_train_bass(args: argparse.Namespace) -> int:
    from music_vae.bass import train
    from music_vae.configs import get_bass_config

    started = time.time()
    config = get_bass_config(args.config, steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    parts = ["score-av", "train", "bass"]
    for flag, value in (("--config", None if args.config == "bass" else args.config), ("--steps", args.steps),
                        ("--batch-size", args.batch_size), ("--seed", args.seed)):
        if value is not None:
            parts += [flag, str(value)]
    card = train(config, args.out, resume=args.resume, device=args.device, reproduce=shlex.join(parts + ["--out", str(args.out)]))
    m = card["metrics"]["test"]
    figures = (f"step accuracy at z = 0 {m['model_z0']['step_accuracy']:.3f} (rule: "
               f"{m['rule_root_beats_1_3']['step_accuracy']:.3f}) over {m['bars']} bars") if m else "no bar to measure"
    print(f"model: {args.out}, card: {args.out.with_suffix('.json')}; test split: {figures} ({time.time() - started:.0f} s)")
    return 0


def register_harmony(tsub) -> None:
    p = tsub.add_parser("harmony", help="fit the chord progression prior of the harmony from the Bach chorales",
                        description="Count chord moves (roman numerals, beat by beat) in the training split of music21's "
                                    "Bach chorales and write the small prior the harmony uses.\n\n"
                                    "  score-av train harmony    reproduces media/models/harmony.json",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("media") / "models" / "harmony.json",
                   help="JSON to write (default: media/models/harmony.json)")
    p.set_defaults(run=run_train_harmony)


def run_train_harmony(args: argparse.Namespace) -> int:
    from music_vae.harmony import fit_progression_prior

    prior = fit_progression_prior(args.out, progress=True)
    print(f"{args.out}: {prior['data']['chorales']} chorales, {prior['data']['beats']} beats")
    return 0
