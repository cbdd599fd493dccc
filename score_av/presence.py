"""Who is in front of the camera: people counted in a frame with OpenCV's bundled detectors.

Nothing is downloaded: the HOG people detector (Dalal and Triggs' linear SVM, built into OpenCV)
finds whole bodies, and the Haar frontal-face cascade that ships in `cv2.data` finds faces close
to the camera (a visitor at a webcam shows a face, not a body). Both run on the frame shrunk to
WIDTH pixels across.

HOG alone, at a threshold that finds people seen from behind in grey clothes, also takes still
things of a room (a table's stem and feet, a door frame) for people. So a body counts only where
the picture differs from the room as it usually is: a background learned slowly (OpenCV's MOG2,
LEARNING a frame, about 11 minutes at three frames a second) that every frame updates, so a
person standing still for a minute is still counted, and a day's change of light is learned.
A box counts when at least FOREGROUND of it differs from that background. The first frame seen is
taken as the empty room.

`count(frame)` takes about 130 ms (median) on one core of the 2-core test machine at WIDTH 512:
run PRESENCE_HZ times a second, off the audio path, it takes about two thirds of a core (live, someone in
the room most of the time: 34% of two cores at three counts a second, 27% at two; bench/live_latency.py,
the live figures in the README). Where too few pixels differ from the background for any
body's box to count, HOG does not look at all (the count is the same), so an empty room costs
only the background and the faces. The figures (bench/presence.py) come from the shared
person-detection clip against a truth labelled by hand, second by second; LEARNING and the HOG
threshold were chosen on that clip (two learning rates tried), so the figure is not a held-out one.

What the people do to the music is one rule, written here for live and offline alike (`entered`,
`BarPeople`): people are counted PRESENCE_HZ times a second, and each bar's count is the most
counted in it (a bar in which anyone was seen counts them).

- **Someone entering is heard.** A bar with anyone in it after a bar with nobody (`entered`: 1 or
  more after 0) is decided anew, as after a cut: a new phrase starts there, the bar is neither held
  nor a theme brought back, and nothing of the bar before is kept (conductor.conduct's `cuts`).
- **An empty room settles.** A bar in which nobody was counted plays as a still bar: its motion is
  taken as 0 (its notes at the quiet end of the loudness, the drums and bass at their calmest), and
  it keeps the music playing while its look stays within the cut distance (conductor.CUT) of it, not
  only within `--steady`: no new bars while nobody is there, and development grows the phrase.

Live (installations/live/) counts the latest camera frame on a thread of its own and answers an
entrance at the next bar (an emptied room is quieted there by its motion alone, so far); offline
(`score-av render --presence`) `count_clip` reads the clip's frames on the same grid
(sources.iter_frames, at the counter's width) and `BarPeople` applies the whole rule to every bar.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .conductor import CUT
from .errors import ScoreAVError
from .sources import iter_frames, probe
from .timeline import Timeline

PRESENCE_HZ = 3.0       # people counted this many times a second (live's --presence-hz default; render --presence):
                        # at 2 the counter took 27% of two cores live, not 34%, but render --presence heard
                        # 5 of the labelled clip's 6 entrances within a bar, not 6 (bench/render_presence.py)
WIDTH = 512             # pixels across the detectors look at
STRIDE = 4              # pixels between two of HOG's windows
SCALE = 1.05            # each size HOG looks for a body at is this much larger than the last
HIT_THRESHOLD = -0.3    # HOG's SVM margin a window needs (below 0: more people found, and more furniture)
LEARNING = 0.0005       # share of the background replaced by each frame
FOREGROUND = 0.15       # share of a body's box that must differ from the background
FACE_MIN = 24           # smallest face, in pixels at WIDTH
BODY_MIN_PIXELS = 48 * 112  # the least of a body's box inside the frame: HOG's 64x128 window, less the
                            # padding it may reach past the frame's edges
MERGE = 0.3             # boxes overlapping by more than this share of the smaller are one person


class PresenceError(ScoreAVError):
    """People cannot be counted on this machine (an OpenCV without the HOG people detector)."""


def check_counter() -> None:
    """A PresenceError, in one line, when this OpenCV cannot count people; nothing otherwise."""
    try:
        import cv2
    except ImportError as exc:
        raise PresenceError(f"people cannot be counted: OpenCV does not load ({exc}); "
                            "install opencv-contrib-python-headless") from None
    if not hasattr(cv2, "HOGDescriptor") or not hasattr(cv2, "CascadeClassifier"):
        raise PresenceError("this OpenCV has no HOG people detector or Haar cascades: install "
                            "opencv-contrib-python-headless (OpenCV 5 moved them there)")


@dataclass(frozen=True)
class People:
    count: int                                   # people in the frame: bodies or faces, whichever are more
    boxes: tuple[tuple[int, int, int, int], ...]  # (x, y, w, h) of each, in the frame's own pixels
    centre_x: float | None                        # where they are, 0 (left) to 1 (right); None when nobody


class PeopleCounter:
    """Counts people frame by frame; keeps the background it learns between calls (one per camera)."""

    def __init__(self, width: int = WIDTH, learning: float = LEARNING):
        check_counter()
        import cv2

        self.cv2, self.width, self.learning = cv2, width, learning
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.faces = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self.background = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=25, detectShadows=False)
        self.frames = 0

    def count(self, frame: np.ndarray) -> People:
        """People in an RGB frame (h, w, 3) uint8, and the background learned from it."""
        cv2 = self.cv2
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an RGB frame (h, w, 3) of uint8, got {frame.shape} {frame.dtype}")
        scale = self.width / frame.shape[1]
        small = cv2.resize(frame, (self.width, max(1, int(round(frame.shape[0] * scale)))), interpolation=cv2.INTER_AREA)
        moving = self.background.apply(small, learningRate=1.0 if self.frames == 0 else self.learning) > 0
        self.frames += 1
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        bodies = []
        # the first frame is the empty room; and where fewer pixels differ from the room than the
        # smallest box's share (FOREGROUND of BODY_MIN_PIXELS) no body can count: HOG is skipped,
        # and the count is the same
        if self.frames > 1 and np.count_nonzero(moving) >= FOREGROUND * BODY_MIN_PIXELS:
            rects, _ = self.hog.detectMultiScale(gray, winStride=(STRIDE, STRIDE), padding=(8, 8), scale=SCALE,
                                                 hitThreshold=HIT_THRESHOLD)
            bodies = [tuple(int(v) for v in r) for r in rects
                      if moving[r[1]:r[1] + r[3], r[0]:r[0] + r[2]].mean() >= FOREGROUND]
            bodies = _merged(bodies)
        faces = [tuple(int(v) for v in r) for r in
                 self.faces.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(FACE_MIN, FACE_MIN))]
        found = bodies if len(bodies) >= len(faces) else faces
        boxes = tuple(tuple(int(round(v / scale)) for v in box) for box in found)
        centre = float(np.mean([(x + w / 2) / frame.shape[1] for x, _, w, _ in boxes])) if boxes else None
        return People(len(boxes), boxes, centre)


def entered(before: int | None, count: int) -> bool:
    """Whether someone came into a room counted empty: `count` 1 or more after `before` 0. Nothing
    counted before (None) is no entrance: the room was not seen empty."""
    return before == 0 and count >= 1


@dataclass(frozen=True)
class Counts:
    """People counted in a clip, in time order."""
    times: np.ndarray    # (n,) seconds of each frame counted, in the clip's own clock
    counts: np.ndarray   # (n,) people in it


def count_clip(path: str | os.PathLike, hz: float = PRESENCE_HZ, counter: PeopleCounter | None = None,
               on_frame: Callable[[float], None] | None = None) -> Counts:
    """Count the people in a clip `hz` times a second, frame after frame in time order (the counter
    learns its background as it goes; the first frame is taken as the empty room). The frames are
    read by the pipeline's source (sources.iter_frames) on its even grid, scaled straight to the
    counter's width with the clip's aspect: the analysis frames (64x64, squashed) are far too small
    to find a person in. A second of picture takes 0.5 to 0.7 s on the shared 2-core test machine
    (bench/render_presence.py), several times the rest of a render. `on_frame(seconds)` as
    iter_frames' (progress)."""
    info = probe(path)
    counter = counter if counter is not None else PeopleCounter()
    width = min(counter.width, info.width)
    size = (width, max(1, int(round(info.height * width / max(info.width, 1)))))
    times, counts = [], []
    for t, frame in iter_frames(path, size, fps=hz, on_frame=on_frame):
        times.append(t)
        counts.append(counter.count(frame).count)
    return Counts(np.asarray(times, np.float64), np.asarray(counts, np.int64))


@dataclass(frozen=True)
class BarPeople:
    """The presence rule applied to a clip's bars (see the module's docstring): which bars someone
    enters (`entrances`), which are empty (`empty`), the motion and the holding distance each bar
    then has. Made from no counts (`people` None) it changes nothing, so the pipeline applies it
    whether people were counted or not."""
    bars: int
    people: np.ndarray | None = None   # (bars,) the most people counted in each bar; None: not counted

    @classmethod
    def of(cls, timeline: Timeline, counts: Counts | None) -> "BarPeople":
        """Each bar's count, the most counted in it (a bar no count fell in takes the count on screen
        when it begins, as the bar clock does for codes); `counts` None: not counted."""
        if counts is None:
            return cls(timeline.n_bars)
        most = timeline.bar_codes(counts.times, np.asarray(counts.counts, np.float32)[:, None], reduce=np.max)
        return cls(timeline.n_bars, most[:, 0].astype(np.int64))

    @property
    def entrances(self) -> np.ndarray:
        """(bars,) bool: someone came in (`entered`), so the bar is decided anew, as after a cut."""
        if self.people is None:
            return np.zeros(self.bars, bool)
        return np.r_[False, [entered(int(b), int(c)) for b, c in zip(self.people[:-1], self.people[1:])]].astype(bool)

    @property
    def empty(self) -> np.ndarray:
        """(bars,) bool: nobody was counted in the bar, so it plays as a still bar."""
        return np.zeros(self.bars, bool) if self.people is None else self.people == 0

    def motion(self, motion: np.ndarray) -> np.ndarray:
        """Each bar's motion (0 still to 1 busy), 0 where the room is empty."""
        return np.where(self.empty, 0.0, np.asarray(motion, np.float32)).astype(np.float32)

    def hold_distance(self, steady: float) -> np.ndarray:
        """(bars,) how far a bar's look must move from the one playing before it plays its own
        (mapping.hold_steady): `steady`; at least the cut distance where the room is empty; 0 where
        someone enters (never held)."""
        empty = np.where(self.empty, max(steady, CUT), steady)
        return np.where(self.entrances, 0.0, empty)


def _merged(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Boxes that overlap by more than MERGE of the smaller one are one person (HOG finds a body at
    several scales and shifts, and sometimes its legs on their own)."""
    kept: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        x, y, w, h = box
        if all(_overlap(box, k) <= MERGE * min(w * h, k[2] * k[3]) for k in kept):
            kept.append(box)
    return kept


def _overlap(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return float(max(w, 0) * max(h, 0))
