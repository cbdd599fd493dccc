"""`score-av batch INPUT... -o OUTDIR`: many clips scored at once, on this machine's cores or a Ray cluster."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import summary
from .render import add_scoring_options, scoring_options

EXAMPLES = """\
examples:
  score-av batch ~/clips -o scored/                     every video below ~/clips, on all cores
  score-av batch a.mp4 b.mov list.txt -o scored/ --workers 2 --seed 3 --midi
  score-av batch /shared/clips -o /shared/scored --backend ray --ray-address 10.0.0.5:6379

INPUT is a clip, a folder (searched recursively for video files, or --pattern), or a text file
listing clips one per line. Each clip becomes OUTDIR/.../NAME.scored.mp4 (a folder's layout is
kept), written under a temporary name and renamed when complete. A rerun skips the clips whose
outputs are all there (--overwrite redoes them), so an interrupted batch is finished by running
it again. OUTDIR/batch.json records every clip: status, outputs, seconds of video, wall time and
the reason when it failed. A clip that fails never stops the others, and is not tried again
until it changes (or --overwrite); the exit status is 1 while any clip of the batch has failed. With --backend ray, inputs and OUTDIR must be on storage every node can read.
"""


def register(sub) -> None:
    p = sub.add_parser("batch", help="score many clips: a folder, a list, on all cores or a Ray cluster",
                       description="Score many clips at once, each exactly as `score-av render` would.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="clips, folders, or .txt lists of clips")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUTDIR", help="where the scored clips go")
    p.add_argument("--workers", type=int, metavar="N", help="clips scored at once (default: the machine's cores)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: processes on this machine (default); ray: Ray tasks (pip install 'score-av[ray]')")
    p.add_argument("--ray-address", metavar="ADDR", help="a Ray cluster to join (HOST:PORT or auto; default: "
                                                       "start Ray on this machine)")
    p.add_argument("--pattern", metavar="GLOB", help="in folders, score the files matching GLOB (e.g. '*.mov') "
                                                    "instead of every video file")
    p.add_argument("--overwrite", action="store_true", help="score again the clips already done")
    p.add_argument("--midi", action="store_true", help="also write NAME.mid beside each scored clip")
    p.add_argument("--wav", action="store_true", help="also write NAME.wav")
    p.add_argument("--report", action="store_true", help="also write NAME.png, the report picture")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_scoring_options(p)
    p.set_defaults(run=run_batch_command)


def run_batch_command(args: argparse.Namespace) -> int:
    from installations.batch.runner import run_batch

    if args.workers is not None and args.workers < 1:
        from score_av.errors import ScoreAVError

        raise ScoreAVError(f"--workers must be at least 1, got {args.workers}")
    started = time.time()
    result = run_batch(args.inputs, args.out, scoring_options(args), workers=args.workers, backend=args.backend,
                       ray_address=args.ray_address, pattern=args.pattern, overwrite=args.overwrite,
                       midi=args.midi, wav=args.wav, report=args.report, progress=not args.quiet)
    for failure in result.failures:
        error = failure["error"]
        print(f"failed: {error}" if error.startswith(failure["clip"]) else f"failed: {failure['clip']}: {error}")
    before = f", {result.failed_before} failed before (unchanged, not tried again)" if result.failed_before else ""
    summary(f"batch: {result.scored} scored, {result.failed} failed, {result.skipped} done before{before}; "
            f"{result.seconds_of_video:.0f} s of video at {result.video_seconds_per_second:.2f} s/s",
            [result.outdir / "batch.json"], started)
    return 1 if result.failures else 0
