"""Is scoring a clip bounded by decoding the video? `render_clip` against `ffmpeg -f null`, on the kinds of clip
users bring.

Makes (once, cached; see bench/looped_clips.py) real clips of each kind from the shared clip
`one-by-one-person-detection.mp4` in ../shared/clips, each looped (`ffmpeg -stream_loop N -c copy`) to at least
`--minutes`:

- `720p`: 1280x720 H.264 with B-frames at 30 fps;
- `1080p`: 1920x1080 H.264 with B-frames at 24 fps;
- `4k`: 3840x2160 H.264 with B-frames at 30 fps (`--minutes-4k` makes it shorter when its renders are too slow);
- `avi`: an old AVI, 640x480 MPEG-4 Part 2 (XVID) at 25 fps with MP3 audio,

or takes the clip given with `--clip` as it is (any video FFmpeg reads; with neither, it says so in one line and
exits 2). For each clip, in the same run, alternating, `--repeats` times (the median is kept):

- `ffmpeg -i CLIP -f null -`: FFmpeg decoding every frame, the reference;
- a render of the clip in a fresh Python process (`score_av.render.render_clip`, what `score-av render` calls),
  start-up included (imports, loading both models, scoring, muxing), with the default options (the band the user
  gets) and with the melody alone (`preset='none'`), see `--configs`;
- the start-up alone (imports and loading both models), in a process of its own.

Each is timed and its peak resident memory read from the kernel (wait4's rusage). Prints JSON: one entry per clip
under `clips`, with the ratios render / ffmpeg with and without the start-up, and at the top level the 720p clip's
default render under the keys the README's figures read (bench/readme_figures.py). Progress goes to stderr.
Needs the `ffmpeg` and `ffprobe` programs (`make bench` installs Debian's).
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

from looped_clips import PERSON, clips_to_score, looped, person_1080p, person_4k, person_720p, person_avi

KINDS = {"720p": person_720p, "1080p": person_1080p, "4k": person_4k, "avi": person_avi}
CONFIGS = {"default": {}, "melody-alone": {"preset": "none"}}  # RenderOptions besides device='cpu'
STARTUP = ("import time; t = time.time(); "  # what a default render does before its first frame
           "from score_av.render import render_clip; from score_av.models import Models; "
           "import av, fluidsynth; Models.load(device='cpu'); print(time.time() - t)")
RENDER = ("import json, sys; from score_av.render import RenderOptions, render_clip; "
          "render_clip(sys.argv[1], sys.argv[2], RenderOptions(device='cpu', **json.loads(sys.argv[3])))")


def measured(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak resident MB, stdout) of one child process; exits with its stderr's end if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            err.seek(0)
            sys.exit(f"{' '.join(cmd[:4])} ... failed:\n{err.read().decode()[-3000:]}")
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, out.read().decode()  # ru_maxrss is in KB on Linux


def probe(clip: Path) -> dict:
    """What the clip is: size, frame rate, length, video codec and ffprobe's has_b_frames (0: no B-frames)."""
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,avg_frame_rate,has_b_frames:format=duration", "-of", "json", str(clip)],
        check=True, capture_output=True, text=True).stdout)
    v = info["streams"][0]
    num, den = map(int, v["avg_frame_rate"].split("/"))
    return {"size": f"{v['width']}x{v['height']}", "fps": round(num / den, 3),
            "video_seconds": round(float(info["format"]["duration"]), 1), "codec": v["codec_name"],
            "has_b_frames": v["has_b_frames"]}


def timed(kind: str, clip: Path, configs: dict[str, dict], repeats: int, tmp: Path) -> dict:
    """One clip's entry: FFmpeg's decode, each render and the start-up, alternating, the medians kept."""
    cmds = {"ffmpeg": ["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"],
            **{name: [sys.executable, "-c", RENDER, str(clip), str(tmp / "scored.mp4"), json.dumps(options)]
               for name, options in configs.items()},
            "startup": [sys.executable, "-c", STARTUP]}
    runs = {name: [] for name in cmds}  # name -> [(seconds, peak MB)] a run
    for k in range(repeats):
        for name, cmd in cmds.items():
            wall, mb, out = measured(cmd)
            if name == "startup":
                wall = float(out.split()[-1])  # the snippet's own clock, as the renders' start-up is
            runs[name].append((wall, mb))
        print(f"{kind} run {k + 1}/{repeats}: " + ", ".join(f"{name} {runs[name][-1][0]:.1f} s "
                                                            f"{runs[name][-1][1]:.0f} MB" for name in cmds),
              file=sys.stderr)
    (ff, ff_mb), (st, st_mb) = median(runs.pop("ffmpeg")), median(runs.pop("startup"))
    entry = {"kind": kind, "clip": str(clip), **probe(clip), "ffmpeg_decode_s": round(ff, 2),
             "ffmpeg_peak_mb": round(ff_mb, 1), "startup_s": round(st, 2), "startup_peak_mb": round(st_mb, 1),
             "renders": {}}
    for name, times in runs.items():
        rn, mb = median(times)
        entry["renders"][name] = {"render_s": round(rn, 2), "render_peak_mb": round(mb, 1),
                                  "ratio_render_to_ffmpeg": round(rn / ff, 2),
                                  "ratio_without_startup": round((rn - st) / ff, 2),
                                  "video_seconds_scored_per_second": round(entry["video_seconds"] / rn, 1)}
    return entry


def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The median of the times and, on its own, of the peaks."""
    return tuple(sorted(xs)[len(xs) // 2] for xs in zip(*runs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help=f"time this clip, as it is, instead of the ones made from the "
                    f"shared {PERSON.name} (../shared/clips)")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="the clips to make and time "
                    "(default: all)")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the looped clips (default: 5)")
    ap.add_argument("--minutes-4k", type=float, help="length of the looped 4k clip (default: --minutes)")
    ap.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS),
                    help="the renders to time: the default options, the melody alone (default: both)")
    ap.add_argument("--repeats", type=int, default=1, help="alternate runs of each, the median is kept")
    ap.add_argument("--every-frame", action="store_true",
                    help="also time the default render with --analysis-fps 0 (the video model looks at every frame)")
    args = ap.parse_args()
    given = clips_to_score("bench/render_speed.py", args.clip and [args.clip], [PERSON])[0]
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        sys.exit("bench/render_speed.py needs the ffmpeg and ffprobe programs: `apt-get install ffmpeg` (make bench does)")
    minutes = {kind: (args.minutes_4k if kind == "4k" else None) or args.minutes for kind in args.kinds}
    configs = {name: CONFIGS[name] for name in args.configs} | \
        ({"every-frame": {"analysis_fps": 0.0}} if args.every_frame else {})
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ["given"] if args.clip else args.kinds:
            started = time.perf_counter()
            clip = given if args.clip else looped(KINDS[kind](), minutes[kind])
            print(f"{kind}: {clip} ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            clips.append(timed(kind, clip, configs, args.repeats, Path(tmp)))
    head = next((c for c in clips if c["kind"] == "720p"), clips[0])  # what the README quotes
    readme = {key: head[key] for key in ("clip", "video_seconds", "size", "fps", "ffmpeg_decode_s", "startup_s")} | \
        head["renders"].get("default", {})
    if "every-frame" in head["renders"]:
        every = head["renders"]["every-frame"]
        readme |= {"render_every_frame_s": every["render_s"],
                   "ratio_every_frame_to_ffmpeg": every["ratio_render_to_ffmpeg"]}
    print(json.dumps({
        **readme,
        "clips": clips,
        "minutes": None if args.clip else minutes,
        "repeats": args.repeats,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
