"""What each render option does to what a listener hears, measured on one clip.

Renders the clip with the default options, then with each option changed on its own, and prints
JSON: per run, the analysis rate the video model got, and of the music the notes a bar, the mean
share of notes that change from bar to bar (the step change of docs/architecture.md), the distinct
bars, the bar lines where nothing changes, the bar lines where the look held (the picture within
`--steady`: the conductor develops those, or repeats the bar with `--no-development`), the video
response (`spearman`, `spearman_changed_bars`, `spearman_moved_bars`, as bench/video_response.py),
the programs in the MIDI and the audio tracks of the output. Everything through `render_clip`, the call `score-av render` makes.

    python bench/render_options.py [--clip CLIP]

The clip is any video FFmpeg reads (default: the shared person-detection clip, ../shared/clips);
with none, it says so in one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import av
import mido
import numpy as np

from looped_clips import CLIP_HELP, PERSON, clips_to_score
from music_vae.metrics import step_changes
from music_vae.representation import FIRST_PITCH_TOKEN
from score_av.models import MUSIC_MODEL, Models
from score_av.render import RenderOptions, render_clip
from video_response import response

RUNS = {  # label: (options, what --help claims)
    "defaults": ({}, "the reference"),
    "--smooth 0.5": ({"smooth": 0.5}, "a change in the picture must last before the music follows"),
    "--smooth 0.7": ({"smooth": 0.7}, "the same, slower"),
    "--steady 0": ({"steady": 0.0}, "every change of the picture is heard"),
    "--steady 2": ({"steady": 2.0}, "the music keeps playing until the picture moves 2 away"),
    "--analysis-fps 4": ({"analysis_fps": 4.0}, "4 frames a second"),
    "--analysis-fps 0": ({"analysis_fps": 0.0}, "every frame"),
    "--seed 3": ({"seed": 3}, "other music for the same picture"),
    "--bpm 90": ({"bpm": 90.0}, "bars of 240/90 s"),
    "--program 40": ({"program": 40}, "the melody on GM program 40 (violin)"),
    "--no-variation": ({"variation": False}, "every new bar decoded whole: more change inside a shot"),
    "--no-development": ({"development": False}, "a held look repeats its bar: the loop"),
    "--bridge-cuts": ({"bridge_cuts": True}, "the bar before each cut inpainted between the two shots"),
    "--model vae": ({"model": "vae"}, "the vae trained on five collections: fewer notes a bar"),
    "--model flat": ({"model": "flat"}, "the flat music model"),
    "--model musae --style irish": ({"model": "musae", "style": "irish"}, "music from the Irish region"),
    "--keep-audio": ({"keep_audio": True}, "the clip's own sound kept as a second track"),
    "--preset none": ({"preset": "none"}, "the melody alone, on the piano: the same melody without the band"),
}


def measure(result, midi: Path) -> dict:
    score = result.score
    times, bars = score.frame_times, score.bars
    change = step_changes(bars)
    with av.open(str(result.clip)) as c:
        tracks = len(c.streams.audio)
    programs = sorted({m.program for t in mido.MidiFile(midi).tracks for m in t if m.type == "program_change"})
    return {"analysis_fps": round((len(times) - 1) / (times[-1] - times[0]), 2), "bars": len(bars),
            "notes_per_bar": round(float((bars >= FIRST_PITCH_TOKEN).sum(axis=1).mean()), 2),
            "mean_bar_change": round(float(np.mean(change)), 3), "distinct_bars": len({b.tobytes() for b in bars}),
            "audio_tracks": tracks, "programs": programs,
            "looks_held": int(score.conducted.held[1:].sum()),
            **response(score),
            "messages": result.notes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help=CLIP_HELP.format(default=PERSON.name))
    args = ap.parse_args()
    args.clip, = clips_to_score("bench/render_options.py", args.clip and [args.clip], [PERSON])
    shipped = Models.load(device="cpu")  # the default models
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (options, claim) in RUNS.items():
            midi = Path(tmp) / "music.mid"
            models = shipped if "model" not in options else None
            result = render_clip(args.clip, Path(tmp) / "scored.mp4",
                                 RenderOptions(device="cpu", midi=midi, **options), models=models)
            out[label] = {"claims": claim, **measure(result, midi)}
    print(json.dumps({"clip": args.clip.name, "model": MUSIC_MODEL, "runs": out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
