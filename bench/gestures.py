"""Are gestures heard? `score-av live` on the shared webcam close-up (a person signing to the camera,
looped), with the figure following the motion of the last half beat and without it. Prints JSON.

Per bar once it is over (LiveCounters.bars_heard): its frames' motion (0-1, normalised as loudness
is), the notes it struck and its pitch movement (the sum of the intervals between them, in
semitones), and the changes answered within it (picture changes re-decoded, gestures re-figured,
or a new bar decided from a changed picture or at another figure's level). The figures:

- Spearman of per-bar motion against per-bar note count, and against pitch movement (velocity
  follows motion by design, so it is left out); the bar's motion is that of the frames shown while
  it is heard, and also (`..._answered_window`) that of the frames its figure answers, shown half a
  beat earlier (the figure reads the last half beat's motion: an answer comes after what it answers);
- "bars of movement" are bars whose motion reaches the first gesture level (gesture.LEVELS[0]);
  over every run of four consecutive bars of movement, the share that holds at least one answered
  change (the aim: all of them).

The reference, in the same run, is the same clip with `--no-gestures` (movement sets only the
loudness): what the notes do with motion when gestures are not listened to.

    python bench/gestures.py [--seconds 60] [--clip PATH] [--preset NAME]
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

import numpy as np

from looped_clips import ASL, CACHE
from score_av.gesture import LEVELS
from video_response import spearman

WEBCAM = ASL


def heard_figures(bars: list[tuple]) -> dict:
    """The figures of the module docstring from bars_heard's (index, motion, notes, pitch movement, level,
    answers, motion of the frames answered)."""
    bars = [b for b in bars if b[1] is not None and b[6] is not None]
    motion = np.array([b[1] for b in bars], float)
    answering = np.array([b[6] for b in bars], float)
    notes = np.array([b[2] for b in bars], float)
    moved = np.array([b[3] for b in bars], float)
    answers = np.array([b[5] for b in bars], int)
    moving = motion >= LEVELS[0]
    windows = [answers[k:k + 4].sum() > 0 for k in range(len(bars) - 3) if moving[k:k + 4].all()]
    r = lambda v: None if v is None else round(v, 3)
    return {"bars": len(bars), "bars_of_movement": int(moving.sum()),
            "notes_per_bar_mean": round(float(notes.mean()), 2) if len(notes) else None,
            "spearman_motion_vs_notes": r(spearman(motion, notes)) if len(bars) > 2 else None,
            "spearman_motion_vs_pitch_movement": r(spearman(motion, moved)) if len(bars) > 2 else None,
            "spearman_motion_vs_notes_answered_window": r(spearman(answering, notes)) if len(bars) > 2 else None,
            "spearman_motion_vs_pitch_movement_answered_window": r(spearman(answering, moved)) if len(bars) > 2 else None,
            "windows_of_4_moving_bars": len(windows),
            "share_of_those_with_an_answered_change": round(float(np.mean(windows)), 3) if windows else None,
            "levels_played": {str(level): int(sum(1 for b in bars if b[4] == level)) for level in range(4)}}


def run_once(clip: Path, seconds: float, gestures: bool, preset: str | None) -> dict:
    from installations.live.config import read_config
    from installations.live.runner import LiveRun

    wav = CACHE / ("gestures.wav" if gestures else "gestures-off.wav")  # what was heard, to listen to
    config = read_config(None, dict(source=str(clip), audio_driver="file", wav=wav,
                                    duration=seconds, osc_in="off", gestures=gestures, preset=preset))
    run = LiveRun(config)
    figures = run.run(threading.Event())
    return {**heard_figures(list(run.engine.counters.bars_heard)), "wav": str(wav),
            "gestures_answered": figures["gestures_answered"], "picture_changes": figures["picture_changes"],
            "picture_changes_answered": figures["picture_changes_answered"],
            "people_mean": figures["people"].get("mean"), "cpu_share_of_all_cores": figures["cpu_share_of_all_cores"],
            "audio_underruns": figures["audio_underruns"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of live per run (default: 60; two runs)")
    ap.add_argument("--clip", type=Path, default=WEBCAM, help=f"a clip played looping (default: {WEBCAM.name})")
    ap.add_argument("--preset", help="a band preset, as `score-av live --preset` (default: the melody alone)")
    args = ap.parse_args()
    if not args.clip.is_file():
        print(f"bench/gestures.py: no clip at {args.clip}; give one with --clip", file=sys.stderr)
        return 2
    CACHE.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"clip": f"{args.clip.name} (looping)", "seconds": args.seconds, "preset": args.preset,
                      "gestures": run_once(args.clip, args.seconds, True, args.preset),
                      "reference_without_gestures": run_once(args.clip, args.seconds, False, args.preset)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
