"""How fast does `score-av live` answer the picture, and what does it cost? Prints JSON.

The source is a 640x480, 30 fps file played in real time (FileSource, looping), as a camera would
deliver it: the shared person-detection clip (people walking into a still room) followed by the
demo clip (shots with cuts), scaled and frame-repeated to 30 fps, made once with PyAV and cached;
or any real clip given with `--clip`, played as it is (without either, one line and exit 2).
Audio goes to the file driver, which paces itself by the wall clock as a sound card would.

The figures are those of `--stats`: every change of the picture counted (answered, deferred
because it came within a beat of the last answer or before the next bar was decided, merged into
another answer, withdrawn), the picture-to-note latency of every change answered (from the frame
that showed it to the first changed note heard; median, p95 and max), the picture-to-expression
latency, the jitter of every note against the tick it was scheduled for, the answers struck off
the grid on purpose, underruns, and the CPU share of the two cores. The references are in the same
run: the CPU share of only reading the same file in real time (decode and pace, nothing else),
one sixteenth note, the grid a note waits for, and the machine's own stalls (machine_stalls.py):
how many underruns came as a process of its own also woke later than the audio buffer lasts.

    python bench/live_latency.py [--seconds 120] [--model vae] [--clip PATH] [--layers LIST] [--preset NAME]
                                 [--audio-periods N] [--period-size FRAMES]
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from looped_clips import CACHE, CLIP_HELP, PERSON, clips_to_score
from machine_stalls import MachineStalls
from score_av.models import MUSIC_MODEL

SIZE, FPS = (640, 480), 30


def bench_clip(person: Path = PERSON) -> Path:
    """The person clip's first 60 s and the demo clip, at 640x480 and 30 fps (cached)."""
    from score_av.clips import write_clip
    from score_av.demo import DEMO_CLIP, make_demo_clip
    from score_av.sources import iter_frames

    out = CACHE / "live-640x480-30fps.mp4"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    demo = DEMO_CLIP if DEMO_CLIP.is_file() else make_demo_clip()

    def frames():
        for path, seconds in ((person, 60.0), (demo, 1e9)):
            t_out = 0.0
            for t, frame in iter_frames(path, SIZE):
                if t >= seconds:
                    break
                while t_out <= t:  # repeat each frame for as long as it is shown, at 30 fps
                    yield frame
                    t_out += 1 / FPS

    return write_clip(out, frames(), FPS)


def read_only_cpu(clip: Path, seconds: float) -> float:
    """CPU share of both cores spent only playing the file in real time."""
    import psutil

    from installations.live.capture import FileSource

    source = FileSource(str(clip))
    source.open()
    process = psutil.Process()
    cpu0, t0 = sum(process.cpu_times()[:2]), time.monotonic()
    while time.monotonic() - t0 < seconds:
        source.read()
    source.close()
    return (sum(process.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0) / (psutil.cpu_count() or 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="how long to run live (default: 120)")
    ap.add_argument("--model", default=MUSIC_MODEL, help=f"the music model (default: {MUSIC_MODEL})")
    ap.add_argument("--clip", type=Path, help="play this clip as it is, looping " +
                    CLIP_HELP.format(default=f"{PERSON.name} then the demo clip at 640x480, 30 fps"))
    ap.add_argument("--layers", help="the band's layers, as `score-av live --layers` (default: the melody alone)")
    ap.add_argument("--preset", help="a band preset, as `score-av live --preset`")
    ap.add_argument("--audio-periods", type=int, help="the audio buffer's periods, as `score-av live --audio-periods`")
    ap.add_argument("--period-size", type=int, help="samples a period, as `score-av live --period-size`")
    args = ap.parse_args()
    from installations.live.config import read_config
    from installations.live.runner import LiveRun

    given = clips_to_score("bench/live_latency.py", args.clip and [args.clip], [PERSON])[0]
    clip = given if args.clip else bench_clip(given)
    reference = read_only_cpu(clip, min(20.0, args.seconds))
    wav = CACHE / "live-latency.wav"
    config = read_config(None, dict(source=str(clip), model=args.model, audio_driver="file", wav=wav,
                                    duration=args.seconds, osc_in="off", layers=args.layers, preset=args.preset,
                                    audio_periods=args.audio_periods, audio_period_size=args.period_size))
    run = LiveRun(config)
    with MachineStalls() as stalls:
        figures = run.run(threading.Event())
    machine = stalls.beside(run.player, figures["audio_underruns_at_s"])
    samples = figures.pop("samples")
    figures.pop("hourly", None)
    sixteenth_ms = 240.0 / figures["bpm"] / 16 * 1000
    latency = figures["latency_ms_picture_to_first_changed_note"]
    shown = "as it is" if args.clip else f"{SIZE[0]}x{SIZE[1]}, {FPS} fps"
    over = lambda ms: round(ms / sixteenth_ms, 2) if ms is not None else None
    print(json.dumps({
        "clip": f"{clip.name} ({shown}, looping)", "seconds": args.seconds, "layers_asked": args.layers,
        "preset": args.preset, "audio_buffer": {"periods": config.audio_periods, "period_size": config.audio_period_size,
                                                "ms": round(1000 * config.audio_periods * config.audio_period_size / 44100, 1)},
        **figures,
        "machine_stalls": machine,
        "reference": {"cpu_share_of_all_cores_reading_the_file_only": round(reference, 3),
                      "sixteenth_note_ms": sixteenth_ms},
        "cpu_live_over_reading_only": round(figures["cpu_share_of_all_cores"] / max(reference, 1e-9), 2),
        "latency_p95_over_a_sixteenth": over(latency["p95"]), "latency_max_over_a_sixteenth": over(latency["max"]),
        "rss_mb_over_time": [s["rss_mb"] for s in samples][::6]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
