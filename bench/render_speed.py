"""Is scoring a clip bounded by decoding the video? `score-av render` against `ffmpeg -f null`.

Makes (once, cached) a real 720p H.264 clip of at least five minutes from the shared clip
`one-by-one-person-detection.mp4` (scaled to 1280x720 at 30 fps, then looped with
`ffmpeg -stream_loop N -c copy`), then in the same run times:

- `ffmpeg -i CLIP -f null -`: FFmpeg decoding every frame, the reference;
- `score-av render CLIP -o OUT`: the whole command, start-up included;
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

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "clips" / "one-by-one-person-detection.mp4"
CACHE = Path(os.environ.get("SCORE_AV_CACHE", Path.home() / ".cache" / "score-av")) / "bench"
STARTUP = ("import time; t = time.time(); "
           "from score_av.cli import main; from score_av.cli import render; "
           "from music_vae.trained_model import MusicVAE; from video_vae.trained_model import VideoVAE; "
           "import av, fluidsynth; MusicVAE('vae', 'cpu'); VideoVAE('video', 'cpu'); print(time.time() - t)")


def run(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def make_clip(minutes: float) -> Path:
    """The looped 720p clip, made once and kept in the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    base = CACHE / "person-720p30.mp4"
    if not base.exists():
        tmp = base.with_name(".partial." + base.name)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(SOURCE), "-vf", "scale=1280:720,fps=30",
                        "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
                        "-an", str(tmp)], check=True)
        os.replace(tmp, base)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(base)], check=True, capture_output=True, text=True)
    loops = max(0, int(minutes * 60 // float(probe.stdout) + 1) - 1)
    looped = CACHE / f"person-720p30-x{loops + 1}.mp4"
    if not looped.exists():
        tmp = looped.with_name(".partial." + looped.name)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(base),
                        "-c", "copy", str(tmp)], check=True)
        os.replace(tmp, looped)
    return looped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help="time this clip instead of the looped 720p one")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the looped clip (default: 5)")
    ap.add_argument("--repeats", type=int, default=1, help="alternate runs of each, the median is kept")
    ap.add_argument("--every-frame", action="store_true",
                    help="also time render --analysis-fps 0 (the video model looks at every frame)")
    args = ap.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("bench/render_speed.py needs the ffmpeg program: `apt-get install ffmpeg` (make bench does)")
    if args.clip is None and not SOURCE.exists():
        sys.exit(f"{SOURCE} is missing: pass --clip A_720P_CLIP")
    clip = args.clip or make_clip(args.minutes)
    score_av = str(Path(sys.executable).with_name("score-av"))
    ffmpeg_s, render_s, startup_s, every_s = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            ffmpeg_s.append(run(["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"]))
            render_s.append(run([score_av, "render", str(clip), "-o", str(Path(tmp) / "scored.mp4"), "--quiet"]))
            out = subprocess.run([sys.executable, "-c", STARTUP], check=True, capture_output=True, text=True)
            startup_s.append(float(out.stdout.strip().splitlines()[-1]))
            if args.every_frame:
                every_s.append(run([score_av, "render", str(clip), "-o", str(Path(tmp) / "every.mp4"), "--quiet",
                                    "--analysis-fps", "0"]))
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
