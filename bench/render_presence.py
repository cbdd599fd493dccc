"""What `score-av render --presence` does to a clip's music, and what it costs. One JSON.

Renders the shared person-detection clip (people walk one at a time into a still room, stand at a
table and leave) with the default options, then with `--presence`, both through `render_clip` with
the models loaded once. Prints:

- per bar, the people counted (the most in the bar, presence.BarPeople) and the hand truth of
  bench/presence_truth.json turned into bars (a bar has someone when any of its labelled seconds
  has: at 120 bpm a bar is 2 s, seconds 2k and 2k+1), the share of bars where "someone there"
  agrees, its balanced accuracy, and the bars where it does not;
- the entrances heard (a bar with people after a bar with none) and those of the truth;
- for each entrance heard: whether its phrase starts there with and without --presence, and the
  share of its 16 tokens that differ from the render without (a bar already decided anew by a cut
  of the look may come out the same);
- the empty bars: their mean velocity and how many are held, with and without;
- wall time and CPU time (all of this process's threads) of each render (the one without twice,
  before and after the one with; the ratio is against the quicker of the two), the people
  counting's own stage, and the machine's load average before and after (the timings come from a
  shared machine: the CPU times move less than the wall times when other work runs).

Figures, not a pass or fail.

    python bench/render_presence.py [--clip CLIP] [--truth TRUTH.json]

With another clip, give its truth in the same form (or none: the truth figures are left out).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from looped_clips import CLIP_HELP, PERSON, clips_to_score
from score_av.conductor import VELOCITY
from score_av.models import MUSIC_MODEL, Models
from score_av.presence import BarPeople, entered
from score_av.render import Progress, RenderOptions, render_clip

TRUTH = Path(__file__).with_name("presence_truth.json")


class StageClock(Progress):
    """Wall and CPU seconds of each stage of a render (reading picture, counting people, writing clip)."""

    def __init__(self):
        self.seconds: dict[str, dict[str, float]] = {}

    @contextmanager
    def stage(self, name, total):
        began, cpu = time.perf_counter(), time.process_time()
        try:
            yield lambda done: None
        finally:
            self.seconds[name] = {"wall": round(time.perf_counter() - began, 2),
                                  "cpu": round(time.process_time() - cpu, 2)}


def truth_per_bar(truth_file: Path, n_bars: int, bar_seconds: float) -> np.ndarray:
    """1 where any labelled second inside the bar has someone, else 0 (bars past the labels: 0)."""
    data = json.loads(truth_file.read_text())
    seconds = np.zeros(data["seconds"], int)
    for a, b in data["someone_there_seconds"]:
        seconds[a:b + 1] = 1
    out = np.zeros(n_bars, int)
    for k in range(n_bars):
        inside = seconds[int(np.ceil(k * bar_seconds - 1e-9)):int(np.ceil((k + 1) * bar_seconds - 1e-9))]
        out[k] = int(inside.max()) if len(inside) else 0
    return out


def render(clip: Path, models: Models, out: Path, **options):
    clock = StageClock()
    began, cpu = time.perf_counter(), time.process_time()
    result = render_clip(clip, out, RenderOptions(**options), models=models, progress=clock)
    spent = {"wall": round(time.perf_counter() - began, 2), "cpu": round(time.process_time() - cpu, 2)}
    return result.score, spent, clock.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help=CLIP_HELP.format(default=PERSON.name))
    ap.add_argument("--truth", type=Path, help="its truth, as bench/presence_truth.json (default: that file, "
                                               "for the default clip)")
    args = ap.parse_args()
    clip = clips_to_score("bench/render_presence.py", [args.clip] if args.clip else None, [PERSON])[0]
    truth_file = args.truth or (TRUTH if args.clip is None else None)
    models = Models.load(MUSIC_MODEL, "video", "cpu")
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_s, plain_stages = render(clip, models, Path(tmp) / "plain.mp4")
        counted, counted_s, counted_stages = render(clip, models, Path(tmp) / "presence.mp4", presence=True)
        _, plain_again_s, _ = render(clip, models, Path(tmp) / "plain-again.mp4")
    load_after = [round(v, 2) for v in os.getloadavg()]
    quicker = min((plain_s, plain_again_s), key=lambda s: s["wall"])
    tl, people = counted.timeline, counted.people
    room = BarPeople(tl.n_bars, people)
    heard = np.flatnonzero(room.entrances)
    empty = np.flatnonzero(room.empty)
    out: dict = {"clip": clip.name, "bars": int(tl.n_bars), "bar_seconds": tl.bar,
                 "people_per_bar": people.tolist()}
    if truth_file is not None:
        truth = truth_per_bar(truth_file, tl.n_bars, tl.bar)
        found = people > 0
        hit, left = found[truth == 1], ~found[truth == 0]
        truth_entrances = [k for k in range(1, tl.n_bars) if entered(int(truth[k - 1]), int(truth[k]))]
        out["truth"] = {"how": "bench/presence_truth.json, a bar has someone when any of its labelled seconds has",
                        "someone_there_per_bar": truth.tolist(),
                        "agreement": round(float((found == (truth == 1)).mean()), 3),
                        "balanced_accuracy": round(float((hit.mean() + left.mean()) / 2), 3),
                        "someone_there_found": round(float(hit.mean()), 3),
                        "empty_left_empty": round(float(left.mean()), 3),
                        "wrong_bars": [int(k) for k in np.flatnonzero(found != (truth == 1))],
                        "entrances": truth_entrances,
                        "entrances_heard_within_a_bar": sum(any(abs(int(h) - t) <= 1 for h in heard)
                                                            for t in truth_entrances)}
    out["entrances_heard"] = [
        {"bar": int(k), "seconds": round(float(k * tl.bar), 1), "people": int(people[k]),
         "phrase_starts_here": bool(counted.conducted.phrase_start[k] == k),
         "phrase_started_here_without": bool(plain.conducted.phrase_start[k] == k),
         "tokens_changed_vs_without": round(float((counted.bars[k] != plain.bars[k]).mean()), 3)}
        for k in heard]
    out["entrance_bars_changed"] = int(sum(e["tokens_changed_vs_without"] > 0 for e in out["entrances_heard"]))
    out["empty_bars"] = {
        "count": int(len(empty)),
        "mean_velocity": round(float(counted.conducted.velocities[empty].mean()), 1) if len(empty) else None,
        "mean_velocity_without": round(float(plain.conducted.velocities[empty].mean()), 1) if len(empty) else None,
        "still_velocity": VELOCITY[0],
        "held": int(counted.conducted.held[empty].sum()), "held_without": int(plain.conducted.held[empty].sum()),
        "tokens_changed_vs_without": round(float((counted.bars[empty] != plain.bars[empty]).mean()), 3)
        if len(empty) else None}
    out["all_bars_tokens_changed_vs_without"] = round(float((counted.bars != plain.bars).mean()), 3)
    out["phrases"] = {"with": int(len(set(counted.conducted.phrase_start.tolist()))),
                      "without": int(len(set(plain.conducted.phrase_start.tolist())))}
    counting = counted_stages["counting people"]
    out["seconds"] = {"render_without": [plain_s, plain_again_s], "render_with": counted_s,
                      "ratio_wall": round(counted_s["wall"] / quicker["wall"], 2),
                      "ratio_cpu": round(counted_s["cpu"] / quicker["cpu"], 2),
                      "counting_per_second_of_picture": {k: round(v / tl.duration, 3) for k, v in counting.items()},
                      "stages_without": plain_stages, "stages_with": counted_stages,
                      "load_average_before_after": [load_before, load_after]}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
