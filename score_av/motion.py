"""How much the picture moves, and its colour: read from the small analysis frames as they pass.

Motion energy is the mean absolute difference between consecutive analysed frames, in pixel
levels (0-255), after both are shrunk to 32x32 so that compression noise and grain average out.
A bar's motion is the mean of its frames'. It is normalised by the clip's own busiest bars, but
never by less than `MOVING` (a small figure walking through a fixed shot; a still shot's camera
noise, after compression, is a few hundredths): a still room stays calm however quiet the whole
clip is. Live, the same normalisation runs on running statistics.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import cv2
import numpy as np

MOTION_SIZE = 32
MOVING = 1.0        # pixel levels of mean frame difference that count as clearly moving (a small figure walking)


class FrameFeatures:
    """Watches (seconds, RGB frame) pairs on their way to the encoder; keeps each frame's motion and mean colour."""

    def __init__(self):
        self.motion: list[float] = []
        self.colour: list[np.ndarray] = []
        self._previous: np.ndarray | None = None

    def watch(self, frames: Iterable[tuple[float, np.ndarray]]) -> Iterator[tuple[float, np.ndarray]]:
        for t, frame in frames:
            self.add(frame)
            yield t, frame

    def add(self, frame: np.ndarray) -> None:
        motion, colour = self.measure(frame)
        self.motion.append(motion)
        self.colour.append(colour)

    def measure(self, frame: np.ndarray) -> tuple[float, np.ndarray]:
        """(motion since the frame measured before, mean colour) of one frame, kept nowhere but as the
        next frame's comparison (live measures forever; `add` keeps them for a clip)."""
        small = cv2.resize(frame, (MOTION_SIZE, MOTION_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
        motion = 0.0 if self._previous is None else float(np.abs(small - self._previous).mean())
        self._previous = small
        return motion, small.reshape(-1, 3).mean(axis=0)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(motion (n,), mean colour (n, 3)) of the frames seen."""
        return np.asarray(self.motion, np.float32), np.asarray(self.colour, np.float32).reshape(-1, 3)


def normalise_motion(per_bar: np.ndarray) -> np.ndarray:
    """Bar motion to [0, 1]: by the clip's 90th percentile, or MOVING when the clip moves less."""
    per_bar = np.asarray(per_bar, np.float32)
    scale = max(float(np.percentile(per_bar, 90)) if len(per_bar) else 0.0, MOVING)
    return np.clip(per_bar / scale, 0.0, 1.0)


def luma(colour: np.ndarray) -> np.ndarray:
    """Mean RGB colours (n, 3) in 0..255 as brightness in [0, 1] (Rec. 601 luma): how light the picture is."""
    colour = np.asarray(colour, np.float32).reshape(-1, 3)
    return np.clip(colour @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0, 0.0, 1.0)
