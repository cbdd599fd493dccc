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
run a few times a second, off the audio path, it takes a third to a half of a core (live: 59% of
two cores with it, 19% without). The figures (bench/presence.py) come from the shared
person-detection clip against a truth labelled by hand, second by second; LEARNING and the HOG
threshold were chosen on that clip (two learning rates tried), so the figure is not a held-out one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WIDTH = 512             # pixels across the detectors look at
HIT_THRESHOLD = -0.3    # HOG's SVM margin a window needs (below 0: more people found, and more furniture)
LEARNING = 0.0005       # share of the background replaced by each frame
FOREGROUND = 0.15       # share of a body's box that must differ from the background
FACE_MIN = 24           # smallest face, in pixels at WIDTH
MERGE = 0.3             # boxes overlapping by more than this share of the smaller are one person


@dataclass(frozen=True)
class People:
    count: int                                   # people in the frame: bodies or faces, whichever are more
    boxes: tuple[tuple[int, int, int, int], ...]  # (x, y, w, h) of each, in the frame's own pixels
    centre_x: float | None                        # where they are, 0 (left) to 1 (right); None when nobody


class PeopleCounter:
    """Counts people frame by frame; keeps the background it learns between calls (one per camera)."""

    def __init__(self, width: int = WIDTH, learning: float = LEARNING):
        import cv2

        if not hasattr(cv2, "HOGDescriptor") or not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError("this OpenCV has no HOG people detector or Haar cascades: install "
                               "opencv-contrib-python-headless (OpenCV 5 moved them there)")
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
        if self.frames > 1:  # the first frame is the empty room
            rects, _ = self.hog.detectMultiScale(gray, winStride=(4, 4), padding=(8, 8), scale=1.05,
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
