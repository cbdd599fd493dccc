"""Real clips for the benchmarks: which clip a benchmark scores (`--clip PATH`, else the clips the
README's figures were measured on, when they are there), and long clips made from one: a clip
looped with `ffmpeg -stream_loop -c copy` (the packets repeated, nothing re-encoded), made once and
kept in the cache.

The README's figures were measured on two clips from Intel's sample videos (CC BY 4.0,
github.com/intel-iot-devkit/sample-videos), kept outside the repository in `../shared/clips`:
`one-by-one-person-detection.mp4` (people walking into a still room, 768x432, 139 s) and
`asl_book_webcam.mkv`. Any real clip FFmpeg reads will do: pass `--clip PATH`. `montage()` assembles a
longer clip of both, cut together as an editor would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIPS = ROOT.parent / "shared" / "clips"
PERSON = SHARED_CLIPS / "one-by-one-person-detection.mp4"
CACHE = Path(os.environ.get("SCORE_AV_CACHE", Path.home() / ".cache" / "score-av")) / "bench"
CLIP_HELP = ("a real clip to score, any video FFmpeg reads (default: {default}, "
             "the clip the README's figures were measured on, from ../shared/clips beside the checkout)")


def no_clip(script: str, message: str) -> SystemExit:
    """The one line a benchmark prints when it has no clip to score, and exit status 2."""
    print(f"{script}: {message}", file=sys.stderr)
    return SystemExit(2)


def clips_to_score(script: str, given: list[Path] | None, default: list[Path]) -> list[Path]:
    """The clips named by `--clip`, else the default ones found; one line and exit 2 when a clip named is
    not a file or none is given and none of the default ones is there."""
    if given:
        missing = [str(p) for p in given if not Path(p).is_file()]
        if missing:
            raise no_clip(script, f"no such clip: {', '.join(missing)}")
        return [Path(p) for p in given]
    found = [p for p in default if p.is_file()]
    if not found:
        where = " or ".join(str(p) for p in default) or SHARED_CLIPS / "*"
        raise no_clip(script, f"needs a real clip: pass --clip PATH (any video FFmpeg reads); the default, {where}, "
                              "is not there")
    return found


def shared_clips() -> list[Path]:
    """The clips in ../shared/clips (the README's figures were measured on these)."""
    return sorted(SHARED_CLIPS.glob("*.m*"))


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


ASL = SHARED_CLIPS / "asl_book_webcam.mkv"
MONTAGE = [(PERSON, 0, 30), (ASL, 0, 3.7), (ASL, 0, 3.7), (PERSON, 30, 75), (ASL, 0, 3.7), (PERSON, 75, 139),
           (ASL, 0, 3.7)]  # (clip, from, to seconds): long still shots, cut against short busy ones


def montage() -> Path:
    """The two shared clips cut together (MONTAGE: 2 min 30 s of real footage, 7 shots, the room's three
    long shots between close-ups of a person signing), at 768x432 and 20 fps, H.264: a long real clip
    with cuts and holds, for figures over more than one clip's worth of phrases."""
    def make(tmp: Path) -> None:
        inputs, parts = [], []
        for k, (clip, start, end) in enumerate(MONTAGE):
            inputs += ["-ss", str(start), "-t", str(end - start), "-i", str(clip)]
            parts.append(f"[{k}:v]scale=768:432:force_original_aspect_ratio=decrease,pad=768:432:-1:-1,"
                         f"setsar=1,fps=20,format=yuv420p[v{k}]")
        graph = ";".join(parts) + ";" + "".join(f"[v{k}]" for k in range(len(MONTAGE))) + \
            f"concat=n={len(MONTAGE)}:v=1:a=0[out]"
        subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
                        "-c:v", "libx264", "-preset", "fast", "-crf", "23", "-f", "mp4", str(tmp)], check=True)
    return cached(CACHE / "montage-person-asl.mp4", make)


def real_footage() -> list[Path]:
    """The shared clips and, when both are there, their montage: the musical benchmarks' default."""
    clips = shared_clips()
    return clips + [montage()] if PERSON in clips and ASL in clips else clips


def from_person(name: str, *options: str, inputs: tuple[str, ...] = ()) -> Path:
    """PERSON re-encoded with these ffmpeg output options (after any other `inputs`), made once into the cache."""
    return cached(CACHE / name, lambda tmp: subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(PERSON), *inputs, *options, str(tmp)], check=True))


def person_720p() -> Path:
    """The shared person-detection clip scaled to 1280x720 at 30 fps (H.264), the render benchmark's base."""
    return from_person("person-720p30.mp4", "-vf", "scale=1280:720,fps=30", "-c:v", "libx264", "-preset", "medium",
                       "-crf", "23", "-pix_fmt", "yuv420p", "-an", "-f", "mp4")


def person_1080p() -> Path:
    """The shared person-detection clip scaled up to 1920x1080 at 24 fps, H.264 with libx264's default B-frames:
    full HD at the film rate, as a camera or an editor exports it."""
    return from_person("person-1080p24.mp4", "-vf", "scale=1920:1080,fps=24", "-c:v", "libx264", "-preset", "medium",
                       "-crf", "23", "-pix_fmt", "yuv420p", "-an", "-f", "mp4")


def person_4k() -> Path:
    """40 s of the shared person-detection clip scaled up to 3840x2160 at 30 fps, H.264 with 3 B-frames: a phone's
    4K clip (the fast preset keeps its making to minutes on two cores)."""
    return from_person("person-2160p30-40s.mp4", "-t", "40", "-vf", "scale=3840:2160,fps=30", "-c:v", "libx264",
                       "-preset", "veryfast", "-bf", "3", "-crf", "23", "-pix_fmt", "yuv420p", "-an", "-f", "mp4")


def person_avi() -> Path:
    """The shared person-detection clip as an old AVI: letterboxed to 640x480 at 25 fps, MPEG-4 Part 2 tagged XVID,
    with a 440 Hz tone as MP3 (PCM where this FFmpeg has no libmp3lame), as a camcorder or DivX rip left it."""
    encoders = subprocess.run(["ffmpeg", "-v", "error", "-encoders"], check=True, capture_output=True, text=True).stdout
    audio = ["-c:a", "libmp3lame", "-b:a", "128k"] if " libmp3lame " in encoders else ["-c:a", "pcm_s16le"]
    return from_person("person-480p25-xvid.avi", "-vf", "scale=640:480:force_original_aspect_ratio=decrease,"
                       "pad=640:480:-1:-1,setsar=1,fps=25", "-c:v", "mpeg4", "-vtag", "xvid", "-q:v", "5", *audio,
                       "-shortest", "-f", "avi", inputs=("-f", "lavfi", "-i", "sine=frequency=440"))
