"""Long real clips for the benchmarks: a shared clip looped with `ffmpeg -stream_loop -c copy`
(the packets repeated, nothing re-encoded), made once and kept in the cache."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIPS = ROOT.parent / "shared" / "clips"
PERSON = SHARED_CLIPS / "one-by-one-person-detection.mp4"
CACHE = Path(os.environ.get("SCORE_AV_CACHE", Path.home() / ".cache" / "score-av")) / "bench"


def seconds_of(clip: Path) -> float:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(clip)], check=True, capture_output=True, text=True)
    return float(probe.stdout)


def cached(path: Path, make) -> Path:
    """`make(tmp)` writes the file once; later calls find it."""
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(".partial." + path.name)
        make(tmp)
        os.replace(tmp, path)
    return path


def looped(base: Path, minutes: float) -> Path:
    """`base` repeated (stream copy) until it lasts at least `minutes`."""
    loops = max(0, int(minutes * 60 // seconds_of(base) + 1) - 1)
    return cached(CACHE / f"{base.stem}-x{loops + 1}{base.suffix}", lambda tmp: subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(base), "-c", "copy", str(tmp)],
        check=True))


def person_720p() -> Path:
    """The shared person-detection clip scaled to 1280x720 at 30 fps (H.264), the render benchmark's base."""
    return cached(CACHE / "person-720p30.mp4", lambda tmp: subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(PERSON), "-vf", "scale=1280:720,fps=30", "-c:v", "libx264",
         "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p", "-an", "-f", "mp4", str(tmp)], check=True))
