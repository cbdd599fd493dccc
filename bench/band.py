"""The band under the melody, measured on real clips: what each layer does, and what it costs.

For each clip (by default the shared person-detection clip and the demo clip), renders it through
`render_clip` (the call `score-av render` makes) with the melody alone, with every layer
(`--layers melody,bass,harmony,drums`) and with each shipped preset, interleaved, `--repeats`
times each, after one warm-up render that is not counted. Prints one JSON:

- `render_seconds` and `all_layers_over_melody`: the median wall time of each and their ratio
  (issue 30's aim: at most 1.15), models loaded once before, as in a batch;
- per layer, from the all-layers MIDI: notes per bar; the bass's notes per bar against each bar's
  motion and its mean pitch against each bar's brightness (Spearman: the picture steers its 2-D
  code, arrangement.bass_steering), the share of its notes in the piece's key and of its notes on
  beats 1 and 3 that are tones of the chord above them, the drums' notes per bar against motion,
  and the share of the melody's strong-beat notes (beats 1 and 3) that are tones of the chord under
  them;
- `melody_unchanged`: whether every run played the same melody bars (a layer never changes it);
- per preset: its layers, programs and levels, and its median render time over the melody alone's.

    PYTHONPATH=. python bench/band.py [--clip CLIP ...] [--repeats 3]

Clips are any video FFmpeg reads; with none found it says so in one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import mido
import numpy as np

from looped_clips import CLIP_HELP, PERSON, clips_to_score
from music_vae.harmony import chord_at, chord_tone_share
from music_vae.representation import STEPS_PER_BAR
from video_response import spearman

def track_notes(midi: mido.MidiFile) -> dict[str, list[tuple[int, int]]]:
    """(step, pitch) of each note-on, per named track, in sixteenths."""
    out = {}
    for track in midi.tracks:
        now, notes = 0, []
        for m in track:
            now += m.time
            if m.type == "note_on" and m.velocity:
                notes.append((now * 4 // midi.ticks_per_beat, m.note))
        out[track.name or "melody"] = notes
    return out


def per_bar(notes, n_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Notes per bar and mean pitch per bar (NaN without a note)."""
    count, total = np.zeros(n_bars), np.zeros(n_bars)
    for step, pitch in notes:
        if step // STEPS_PER_BAR < n_bars:
            count[step // STEPS_PER_BAR] += 1
            total[step // STEPS_PER_BAR] += pitch
    with np.errstate(invalid="ignore"):
        return count, np.where(count > 0, total / np.maximum(count, 1), np.nan)


def layer_figures(result, midi_path: Path) -> dict:
    from score_av.arrangement import harmony_spans

    score = result.score
    n = len(score.bars)
    notes = track_notes(mido.MidiFile(midi_path))
    bass_count, bass_pitch = per_bar(notes.get("bass", []), n)
    drum_count, _ = per_bar(notes.get("drums", []), n)
    lit = ~np.isnan(bass_pitch)
    spans = harmony_spans(score.bars, score.conducted.keys)
    tones, total = chord_tone_share(score.bars, spans)
    bass = notes.get("bass", [])
    keys = score.conducted.keys
    in_key = [keys[min(step // STEPS_PER_BAR, n - 1)].contains(np.array([pitch]))[0] for step, pitch in bass
              if keys[min(step // STEPS_PER_BAR, n - 1)] is not None]
    strong = [(step, pitch) for step, pitch in bass if step % (STEPS_PER_BAR // 2) == 0]
    chord_tone = [chord_at(spans, step) is not None and pitch % 12 in chord_at(spans, step).pitch_classes
                  for step, pitch in strong]
    r = lambda x: None if x is None else round(x, 3)
    return {
        "bars": n,
        "notes_per_bar": {name: round(len(v) / n, 2) for name, v in notes.items()},
        "bass_notes_vs_motion_spearman": r(spearman(score.motion, bass_count)),
        "bass_pitch_vs_brightness_spearman": r(spearman(score.brightness[lit], bass_pitch[lit])) if lit.sum() > 2 else None,
        "bass_pitch_range": [round(float(np.nanmin(bass_pitch)), 1), round(float(np.nanmax(bass_pitch)), 1)] if lit.any() else None,
        "brightness_range": [round(float(score.brightness.min()), 3), round(float(score.brightness.max()), 3)],
        "drum_notes_vs_motion_spearman": r(spearman(score.motion, drum_count)),
        "melody_strong_beat_chord_tones": round(tones / total, 3) if total else None,
        "bass_notes_in_key": round(float(np.mean(in_key)), 3) if in_key else None,
        "bass_strong_beat_chord_tones": round(float(np.mean(chord_tone)), 3) if chord_tone else None,
    }


def main() -> int:
    from score_av.band import LAYERS, load_preset, preset_names
    from score_av.demo import DEMO_CLIP, make_demo_clip
    from score_av.models import Models
    from score_av.render import RenderOptions, render_clip

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", "--clips", dest="clips", nargs="+", type=Path,
                    help=CLIP_HELP.format(default=f"{PERSON.name} and the demo clip"))
    ap.add_argument("--repeats", type=int, default=3,
                    help="renders of each of melody alone, all layers and each preset (default: 3)")
    args = ap.parse_args()
    demo = DEMO_CLIP if DEMO_CLIP.is_file() else make_demo_clip()
    clips = clips_to_score("bench/band.py", args.clips, [PERSON, demo])
    models = Models.load()
    out = {"clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for clip in clips:
            runs = {"melody": RenderOptions(layers=("melody",)), "all_layers": RenderOptions(layers=LAYERS),
                    **{name: RenderOptions(preset=name) for name in preset_names()}}
            render_clip(clip, tmp / "o.mp4", runs["all_layers"], models=models)  # warm-up: caches, soundfont
            times, bars = {k: [] for k in runs}, []
            for i in range(args.repeats):
                for label, options in runs.items():  # interleaved: a slow moment of the machine hits all alike
                    print(f"{clip.name}: {label} {i + 1}/{args.repeats}", file=sys.stderr)
                    midi = tmp / f"{label}.mid"
                    began = time.perf_counter()
                    result = render_clip(clip, tmp / "o.mp4", replace(options, midi=midi), models=models)
                    times[label].append(time.perf_counter() - began)
                    bars.append(result.score.bars)
                    if label == "all_layers":
                        figures = layer_figures(result, midi)
            median = {k: float(np.median(v)) for k, v in times.items()}
            presets = {}
            for name in preset_names():
                band = load_preset(name)
                presets[name] = {"layers": list(band.layers),
                                 "programs": {k: band.part(k).program for k in band.layers if k != "drums"},
                                 "levels": {k: band.part(k).level for k in band.layers},
                                 "over_melody_alone": round(median[name] / median["melody"], 3)}
            out["clips"][clip.name] = {
                "render_seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
                "all_layers_over_melody": round(median["all_layers"] / median["melody"], 3),
                "melody_unchanged": all(np.array_equal(b, bars[0]) for b in bars),
                "layers": figures, "presets": presets}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
