"""Are people seen? `score_av.presence.PeopleCounter` against a truth labelled by hand. One JSON.

Plays the shared person-detection clip (people walk one at a time into a still room, stand at a
table and leave) through the counter PRESENCE_HZ times a second, as the live engine runs it, and
compares "someone there" with bench/presence_truth.json (each whole second labelled by hand from
its first frame; the file says how). Prints the balanced accuracy (the mean of the share of
seconds with someone that are found and of the empty ones that are left empty: always saying yes
scores 0.5; issue 31's aim is 0.85), both shares, the mean count where someone is there, the
counter's time per frame, and the seconds it got wrong.

    python bench/presence.py [--clip CLIP]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from looped_clips import PERSON, clips_to_score

TRUTH = Path(__file__).with_name("presence_truth.json")
CLIP_FPS = 10  # the labelled clip's frame rate


def truth_per_second() -> np.ndarray:
    data = json.loads(TRUTH.read_text())
    out = np.zeros(data["seconds"], int)
    for a, b in data["someone_there_seconds"]:
        out[a:b + 1] = 1
    return out


def figures(found: np.ndarray, truth: np.ndarray) -> dict:
    hit, empty = found[truth == 1] > 0, found[truth == 0] == 0
    return {"balanced_accuracy": round(float((hit.mean() + empty.mean()) / 2), 3),
            "someone_there_found": round(float(hit.mean()), 3), "empty_left_empty": round(float(empty.mean()), 3),
            "wrong_seconds": [int(s) for s in np.flatnonzero((found > 0) != (truth == 1))]}


def main() -> int:
    import av

    from score_av.presence import PRESENCE_HZ, PeopleCounter

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help=f"the labelled clip (default: ../shared/clips/{PERSON.name})")
    args = ap.parse_args()
    clip = clips_to_score("bench/presence.py", [args.clip] if args.clip else None, [PERSON])[0]
    truth = truth_per_second()
    counter = PeopleCounter()
    every = max(1, round(CLIP_FPS / PRESENCE_HZ))  # frames between two counts
    counts, spent = {}, []
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every:
                continue
            t = float(frame.pts * frame.time_base)
            rgb = frame.to_ndarray(format="rgb24")
            began = time.perf_counter()
            people = counter.count(rgb)
            spent.append(time.perf_counter() - began)
            second = int(t)
            if second < len(truth) and second not in counts:  # the first count in each second
                counts[second] = people.count
    found = np.array([counts.get(s, 0) for s in range(len(truth))])
    out = {"clip": clip.name, "truth": json.loads(TRUTH.read_text())["how"], "counts_per_second": round(CLIP_FPS / every, 2),
           **figures(found, truth),
           "mean_count_where_someone_is_there": round(float(found[truth == 1].mean()), 2),
           "ms_per_frame": {"median": round(1000 * float(np.median(spent)), 1),
                            "p95": round(1000 * float(np.percentile(spent, 95)), 1)}}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
