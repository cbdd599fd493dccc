"""Does a render's memory grow with the clip's length? Peak RSS of `render_clip` on long clips.

Loops a real clip (`--clip`, any video FFmpeg reads; by default the shared clip
`one-by-one-person-detection.mp4` from ../shared/clips, and with neither it says so in one line and
exits 2) with stream copy (nothing re-encoded) to 7 and to 60 minutes (made once, cached), renders
each in a fresh Python process (what `score-av render` calls, with the default options and the
shipped models) and reads that process's peak resident memory from the kernel (wait4's rusage).
FFmpeg's own decode of the same clip is measured the same way beside it, as the reference. Prints
JSON; the soundtrack is streamed into the muxer bar by bar, so the two peaks should be about the
same. Needs the `ffmpeg` program (`make bench` installs Debian's).
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

from looped_clips import CLIP_HELP, PERSON, clips_to_score, looped, seconds_of

RENDER = ("import sys; from score_av.render import RenderOptions, render_clip; "
          "render_clip(sys.argv[1], sys.argv[2], RenderOptions(device='cpu', wav=sys.argv[3] if len(sys.argv) > 3 else None))")


def peak(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"{cmd[:3]} failed: {child.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started  # ru_maxrss is in KB on Linux


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[7.0, 60.0], help="clip lengths (default: 7 60)")
    ap.add_argument("--wav", action="store_true", help="also write the soundtrack as WAV (--wav)")
    ap.add_argument("--clip", type=Path, help=CLIP_HELP.format(default=PERSON.name) + ", looped")
    args = ap.parse_args()
    base, = clips_to_score("bench/render_memory.py", args.clip and [args.clip], [PERSON])
    if not shutil.which("ffmpeg"):
        sys.exit("bench/render_memory.py needs the ffmpeg program: `apt-get install ffmpeg` (make bench does)")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            clip = looped(base, minutes)
            extra = [str(Path(tmp) / "scored.wav")] if args.wav else []
            rss, wall = peak([sys.executable, "-c", RENDER, str(clip), str(Path(tmp) / "scored.mp4"), *extra])
            ff_rss, ff_wall = peak(["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"])
            runs.append({"clip": clip.name, "video_seconds": round(seconds_of(clip), 1),
                         "render_peak_rss_mb": round(rss, 1), "render_wall_s": round(wall, 1),
                         "ffmpeg_decode_peak_rss_mb": round(ff_rss, 1), "ffmpeg_decode_wall_s": round(ff_wall, 1),
                         "ratio_render_to_ffmpeg_time": round(wall / ff_wall, 2)})
    print(json.dumps({
        "runs": runs,
        "peak_ratio_longest_to_shortest": round(runs[-1]["render_peak_rss_mb"] / runs[0]["render_peak_rss_mb"], 3),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
