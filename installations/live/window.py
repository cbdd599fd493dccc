"""The window in the room: the camera picture with what the music is doing drawn over it.

`draw` makes the picture and is a pure function of its inputs, so it is tested without a screen
and the runner can save the same image for a remote check. `Window` only puts that image on a
screen. An installation must keep playing when there is no screen (a headless box, a service
started before the desktop, or the opencv-python-headless wheel the project depends on), so
`Window.open` says so once in the log and returns False instead of failing, and the rest of
`Window` then does nothing.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Sequence

import cv2
import numpy as np

from music_vae.representation import HOLD, MAX_PITCH, MIN_PITCH, STEPS_PER_BAR, tokens_to_notes

log = logging.getLogger("score_av.live.window")

SIZE = (960, 540)          # (width, height) of the image draw() returns: a 16:9 screen, scaled by the window
PATH_PANEL = 0.26          # the latent-path panel's side, as a fraction of the image height
ROLL_HEIGHT = 0.17         # the piano-roll strip's height, as a fraction of the image height
ROLL_BARS = 4              # at most this many recent bars in the strip: enough to see phrases, notes still readable
ROLL_MIN_RANGE = 12        # the roll shows at least an octave, so a one-note bar is not a full-height block
MARGIN = 10

# BGR colours
NOTE = (235, 205, 120)
NOTE_NOW = (120, 230, 255)
CURSOR = (80, 200, 255)
PATH = (150, 255, 180)
FADED = (60, 80, 65)       # the oldest part of the path: just visible on the darkened panel
TEXT = (245, 245, 245)
SHADOW = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX

QUIT_KEYS = (ord("q"), ord("Q"), 27)   # q or Esc


def draw(frame: np.ndarray | None, path: np.ndarray, bars: Sequence[np.ndarray], step: int, status: str,
         size: tuple[int, int] = SIZE) -> np.ndarray:
    """The image for the room: `frame` (H, W, 3 RGB uint8; None when the camera is lost) fitted into
    `size` (width, height) with black bars, the latent `path` ((n, 2), oldest first) in a corner
    panel, the recent `bars` (oldest first; the last is the one playing) as a piano roll along the
    bottom with a cursor on sixteenth `step`, and `status` in the top-left corner.

    Returns a BGR uint8 image of shape (height, width, 3), ready for cv2.imshow or cv2.imwrite.
    Nothing here draws outside the image or raises on odd input (an empty path, no bars, NaNs in
    the path), since an exception in the drawing would stop the music of an unattended room."""
    width, height = size
    image = _fit(frame, width, height)
    _draw_path(image, np.asarray(path, dtype=np.float64).reshape(-1, 2) if np.size(path) else np.zeros((0, 2)))
    _draw_roll(image, bars, step)
    _draw_status(image, status)
    return image


def _fit(frame: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """The frame as BGR, scaled to fit (width, height) with its aspect kept, centred on black."""
    canvas = np.zeros((height, width, 3), np.uint8)
    if frame is None or np.size(frame) == 0:
        return canvas
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    bgr = cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2BGR)
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(bgr, (new_w, new_h), interpolation=interpolation)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    canvas[y:y + new_h, x:x + new_w] = scaled
    return canvas


def _darken(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, keep: float = 0.35) -> None:
    """Darken a rectangle in place, so lines drawn on it read over any picture."""
    region = image[y0:y1, x0:x1]
    region[:] = (region.astype(np.float32) * keep).astype(np.uint8)


def _draw_path(image: np.ndarray, path: np.ndarray) -> None:
    """The last points of the music code as a polyline in the top-right corner, fading with age:
    the bright end is where the music is now. Scaled to the path's own extent, because only its
    shape (still, drifting, jumping at a cut) means something to a visitor."""
    height, width = image.shape[:2]
    side = max(40, int(height * PATH_PANEL))
    x0, y0 = width - side - MARGIN, MARGIN
    _darken(image, x0, y0, x0 + side, y0 + side)
    points = path[np.isfinite(path).all(axis=1)]
    if len(points) == 0:
        return
    low, high = points.min(axis=0), points.max(axis=0)
    span = float(max((high - low).max(), 1e-9))
    inner = side - 2 * MARGIN
    centre = (low + high) / 2
    # one scale for both axes keeps the path's shape; y grows upwards as on a plot
    xy = (points - centre) / span * inner
    px = np.round(x0 + side / 2 + xy[:, 0]).astype(np.int32)
    py = np.round(y0 + side / 2 - xy[:, 1]).astype(np.int32)
    n = len(points)
    faded, bright = np.array(FADED, np.float32), np.array(PATH, np.float32)
    for i in range(1, n):
        age = i / (n - 1)                       # 0 oldest .. 1 newest
        colour = faded + (bright - faded) * age
        cv2.line(image, (int(px[i - 1]), int(py[i - 1])), (int(px[i]), int(py[i])),
                 tuple(int(c) for c in colour), 2 if age > 0.5 else 1, cv2.LINE_AA)
    cv2.circle(image, (int(px[-1]), int(py[-1])), 4, PATH, -1, cv2.LINE_AA)


def _bar_tokens(bar: np.ndarray) -> np.ndarray:
    """One bar as exactly STEPS_PER_BAR tokens (cut or padded with holds), whatever the caller sent."""
    tokens = np.asarray(bar, dtype=np.int64).reshape(-1)[:STEPS_PER_BAR]
    return np.pad(tokens, (0, STEPS_PER_BAR - len(tokens)), constant_values=HOLD)


def _draw_roll(image: np.ndarray, bars: Sequence[np.ndarray], step: int) -> None:
    """The recent bars as a piano roll along the bottom: the bar playing now (the last) lit, its
    notes brighter, and a cursor on the sixteenth that sounds now."""
    height, width = image.shape[:2]
    strip = max(24, int(height * ROLL_HEIGHT))
    y0, y1 = height - strip, height
    _darken(image, 0, y0, width, y1)
    shown = [_bar_tokens(bar) for bar in list(bars)[-ROLL_BARS:]]
    if not shown:
        return
    bar_w = width / ROLL_BARS
    step_w = bar_w / STEPS_PER_BAR
    left = width - bar_w * len(shown)             # the newest bar always ends at the right edge
    now = len(shown) - 1
    now_x0 = int(left + now * bar_w)
    _lighten(image, now_x0, y0, int(left + len(shown) * bar_w), y1)
    for i in range(len(shown) + 1):               # bar lines
        x = int(round(left + i * bar_w))
        cv2.line(image, (min(x, width - 1), y0), (min(x, width - 1), y1 - 1), (90, 90, 90), 1)

    tokens = np.concatenate(shown)
    notes = [n for n in tokens_to_notes(tokens) if MIN_PITCH <= n.pitch <= MAX_PITCH]
    if notes:
        low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    else:
        low = high = 60
    if high - low < ROLL_MIN_RANGE:
        low = (low + high) // 2 - ROLL_MIN_RANGE // 2
        high = low + ROLL_MIN_RANGE
    row = (strip - 8) / (high - low + 1)
    for note in notes:
        nx0 = int(round(left + note.start * step_w)) + 1
        nx1 = int(round(left + note.end * step_w)) - 1
        ny1 = int(round(y1 - 4 - (note.pitch - low) * row))
        ny0 = int(round(ny1 - max(row, 2)))
        colour = NOTE_NOW if note.end > now * STEPS_PER_BAR else NOTE
        cv2.rectangle(image, (nx0, ny0), (max(nx0, nx1), ny1), colour, -1)

    step = min(max(int(step), 0), STEPS_PER_BAR - 1)
    cx = int(round(left + (now * STEPS_PER_BAR + step) * step_w))
    cv2.rectangle(image, (cx, y0), (min(width - 1, int(round(cx + step_w))), y1 - 1), CURSOR, 1)
    cv2.line(image, (cx, y0), (cx, y1 - 1), CURSOR, 2)


def _lighten(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    region = image[y0:y1, x0:x1]
    region[:] = np.minimum(region.astype(np.int16) + 45, 255).astype(np.uint8)


def _draw_status(image: np.ndarray, status: str) -> None:
    """The status line top left, white on a black outline so it reads on any picture."""
    scale = max(0.4, image.shape[0] / 900)
    origin = (MARGIN, MARGIN + int(22 * scale))
    text = " ".join(str(status).splitlines())     # one line: Hershey fonts draw no newlines
    cv2.putText(image, text, origin, FONT, scale, SHADOW, 4, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, scale, TEXT, 1, cv2.LINE_AA)


def _display_missing() -> str | None:
    """Why no window can be shown on this machine, or None when one might be."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display ($DISPLAY and $WAYLAND_DISPLAY are not set)"
    return None


class Window:
    """The OpenCV window for the room. When there is no screen, `open` says why once and returns
    False, and show/poll/close do nothing: the music goes on headless."""

    def __init__(self, title: str = "score-av", fullscreen: bool = False):
        self.title = title
        self.fullscreen = fullscreen
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> bool:
        """Make the window (full screen when asked). False, with one warning, when it cannot be."""
        why = _display_missing()
        if why is None:
            try:
                cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
                if self.fullscreen:
                    cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
                self._open = True
                return True
            except cv2.error:
                why = ("this OpenCV has no window support (opencv-python-headless; "
                       "install opencv-python in its place for a window)")
        log.warning("no window: %s; the installation runs headless, the music goes on", why)
        return False

    def show(self, image: np.ndarray) -> None:
        """Put a BGR image on the screen. A display lost while running (the X server restarted)
        is logged once and the window closes itself, rather than stopping the music."""
        if not self._open:
            return
        try:
            cv2.imshow(self.title, image)
        except cv2.error as error:
            log.warning("the window failed (%s); running headless from now on", str(error).strip().splitlines()[-1])
            self._open = False

    def poll(self) -> bool:
        """Let the window draw (waitKey(1)); True when the person pressed q or Esc."""
        if not self._open:
            return False
        try:
            key = cv2.waitKey(1)
        except cv2.error:
            return False
        return key != -1 and (key & 0xFF) in QUIT_KEYS

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)   # lets the GUI loop actually take the window down
        except cv2.error:
            pass
