"""Is scoring a clip bounded by decoding the video? `render_clip` against `ffmpeg -f null`.

Makes (once, cached) a real 720p H.264 clip of at least five minutes from the shared clip
`one-by-one-person-detection.mp4` in ../shared/clips (scaled to 1280x720 at 30 fps, then looped with
`ffmpeg -stream_loop N -c copy`), or takes the clip given with `--clip` as it is (any video FFmpeg
reads; with neither, it says so in one line and exits 2), then in the same run times:

- `ffmpeg -i CLIP -f null -`: FFmpeg decoding every frame, the reference;
- a render of the clip in a fresh Python process (`score_av.render.render_clip`, what
  `score-av render` calls), start-up included: imports, loading both models, scoring, muxing;
- the start-up alone (imports and loading both models), in a process of its own.

Prints JSON with the times and the ratios render / ffmpeg, with and without the start-up.
Needs the `ffmpeg` program (`make bench` installs Debian's).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from looped_clips import PERSON, clips_to_score, looped, person_720p

STARTUP = ("import time; t = time.time(); "
           "from score_av.render import render_clip; from score_av.models import Models; "
           "import av, fluidsynth; Models.load('vae', 'video', 'cpu'); print(time.time() - t)")
RENDER = ("import sys; from score_av.render import RenderOptions, render_clip; "
          "render_clip(sys.argv[1], sys.argv[2], RenderOptions(device='cpu', analysis_fps=float(sys.argv[3])))")


def run(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def render(clip: Path, out: Path, analysis_fps: float = 8.0) -> float:
    return run([sys.executable, "-c", RENDER, str(clip), str(out), str(analysis_fps)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help=f"time this clip, as it is, instead of the 720p one made from the "
                    f"shared {PERSON.name} (../shared/clips)")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the looped clip (default: 5)")
    ap.add_argument("--repeats", type=int, default=1, help="alternate runs of each, the median is kept")
    ap.add_argument("--every-frame", action="store_true",
                    help="also time render --analysis-fps 0 (the video model looks at every frame)")
    args = ap.parse_args()
    given = clips_to_score("bench/render_speed.py", args.clip and [args.clip], [PERSON])[0]
    if not shutil.which("ffmpeg"):
        sys.exit("bench/render_speed.py needs the ffmpeg program: `apt-get install ffmpeg` (make bench does)")
    clip = given if args.clip else looped(person_720p(), args.minutes)
    ffmpeg_s, render_s, startup_s, every_s = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            ffmpeg_s.append(run(["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"]))
            render_s.append(render(clip, Path(tmp) / "scored.mp4"))
            out = subprocess.run([sys.executable, "-c", STARTUP], check=True, capture_output=True, text=True)
            startup_s.append(float(out.stdout.strip().splitlines()[-1]))
            if args.every_frame:
                every_s.append(render(clip, Path(tmp) / "every.mp4", analysis_fps=0))
        import av

        with av.open(str(clip)) as c:
            v = c.streams.video[0]
            seconds = float(v.duration * v.time_base)
            size = f"{v.codec_context.width}x{v.codec_context.height}"
            fps = float(v.average_rate)
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    ff, rn, st = med(ffmpeg_s), med(render_s), med(startup_s)
    every = {"render_every_frame_s": round(med(every_s), 2),
             "ratio_every_frame_to_ffmpeg": round(med(every_s) / ff, 2)} if every_s else {}
    print(json.dumps({
        "clip": str(clip), "video_seconds": round(seconds, 1), "size": size, "fps": fps,
        "ffmpeg_decode_s": round(ff, 2),
        "render_s": round(rn, 2),
        "startup_s": round(st, 2),
        "ratio_render_to_ffmpeg": round(rn / ff, 2),
        "ratio_without_startup": round((rn - st) / ff, 2),
        "video_seconds_scored_per_second": round(seconds / rn, 1),
        **every,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
