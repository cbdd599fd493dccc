"""People seen: the counter finds visitors in the shared person-detection clip and counts two at once."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from score_av import presence
from score_av.presence import PeopleCounter

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "clips" / "one-by-one-person-detection.mp4"
TRUTH = ROOT / "bench" / "presence_truth.json"
SECONDS = 48  # the first three visits and the empty room between them


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    """The frame at the start of each of the first SECONDS seconds."""
    if not CLIP.exists():
        pytest.skip(f"{CLIP} is not here (the shared clips sit beside the checkout)")
    out = {}
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            if int(t) >= SECONDS:
                break
            out.setdefault(int(t), frame.to_ndarray(format="rgb24"))
    return out


def truth() -> np.ndarray:
    data = json.loads(TRUTH.read_text())
    out = np.zeros(data["seconds"], int)
    for a, b in data["someone_there_seconds"]:
        out[a:b + 1] = 1
    return out[:SECONDS]


def test_someone_there_is_told_from_an_empty_room(frames):
    counter = PeopleCounter()
    found = np.array([counter.count(frames[s]).count for s in range(SECONDS)])
    there = truth()
    balanced = ((found[there == 1] > 0).mean() + (found[there == 0] == 0).mean()) / 2
    assert balanced >= 0.85, (balanced, "".join(map(str, found)), "".join(map(str, there)))


def person_cut_out(empty: np.ndarray, full: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The person of `full`: the largest blob of pixels that differ clearly from the empty room, as
    (pixels, mask, top-left); the camera's small changes of exposure elsewhere are left out."""
    import cv2

    differs = (np.abs(full.astype(int) - empty.astype(int)).sum(axis=2) > 90).astype(np.uint8)
    differs = cv2.morphologyEx(differs, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(differs)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x0, y0, w, h = (int(v) for v in stats[biggest, :4])
    return full[y0:y0 + h, x0:x0 + w], labels[y0:y0 + h, x0:x0 + w] == biggest, (y0, x0)


def pasted(empty: np.ndarray, frames: dict, visitors: list[tuple[int, int]]) -> np.ndarray:
    """The empty room with the visitor of each (second, x) pasted at x, at the height they stood."""
    room = empty.copy()
    for second, x in visitors:
        pixels, mask, (y, _) = person_cut_out(empty, frames[second])
        region = room[y:y + mask.shape[0], x:x + mask.shape[1]]
        keep = mask[:region.shape[0], :region.shape[1]]
        region[keep] = pixels[:region.shape[0], :region.shape[1]][keep]
    return room


def test_one_two_and_no_visitors_are_counted(frames):
    """Made frames: the empty room with the visitors of real frames pasted side by side."""
    empty, width = frames[2], frames[2].shape[1]
    man, woman = (30, width // 5), (12, 3 * width // 5)  # the man in black, the woman in grey
    for visitors, expected in (([man], 1), ([man, woman], 2), ([], 0)):
        counter = PeopleCounter()
        for s in range(4):  # the empty room first, as a camera would see it
            counter.count(frames[s])
        people = counter.count(pasted(empty, frames, visitors))
        assert people.count == expected, (visitors, people)
        if expected == 2:
            assert people.centre_x is not None and 0.3 < people.centre_x < 0.7


class CountingHog:
    """The counter's HOG detector, counting the times it is asked to look."""

    def __init__(self, hog):
        self.hog, self.calls = hog, 0

    def detectMultiScale(self, *args, **kwargs):
        self.calls += 1
        return self.hog.detectMultiScale(*args, **kwargs)


def test_hog_is_skipped_where_no_body_can_count_and_the_counts_stay_the_same(frames, monkeypatch):
    """Too few pixels differing from the room for any body's box: the detector does not look (most of
    a gallery's empty hours), and every count is what it is when the detector always looks."""
    gated = PeopleCounter()
    gated.hog = hog = CountingHog(gated.hog)
    counts = [gated.count(frames[s]).count for s in range(SECONDS)]
    monkeypatch.setattr(presence, "BODY_MIN_PIXELS", 0)
    always = PeopleCounter()
    assert [always.count(frames[s]).count for s in range(SECONDS)] == counts
    assert hog.calls < SECONDS - 1, "the empty room's seconds are looked at by the detector"


def test_a_frame_that_is_not_rgb_is_a_clear_error():
    with pytest.raises(ValueError, match="expected an RGB frame"):
        PeopleCounter().count(np.zeros((10, 10), np.uint8))
