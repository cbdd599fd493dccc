"""Synthetic footage that score-av draws itself, so the shipped video VAE can be retrained anywhere.

A scene has a kind (what happens in it) and a palette (which colours it may use):

- field: smooth gradients and colour fields that turn and drift;
- shapes: circles, rectangles, ellipses, lines and polygons moving and turning over a background;
- texture: stripes, checkers or soft blobs, scrolling;
- pan: a camera panning and zooming over a larger picture;
- lighting: a still picture under a fade, a pulse, a colour shift or a moving spotlight;
- walker: a person-like figure walking across a room;
- still: a near-still picture with sensor noise.

Everything comes from the numpy generator given, so a seed is the whole recipe. Motion is a path
over t in [0, 1]: a scene of 16 frames and one of 100 show the same movement, sampled more or less
finely. Frames are uint8 RGB (n, height, width, 3).

The same seed gives the same bytes on every machine: sin, cos, exp and tanh go through _sin, _cos,
_exp and _tanh (float64, rounded to float32), never numpy's float32 loops, whose SIMD code paths
(AVX2, AVX-512, none) differ in the last bits and so move a pixel by a grey level now and then; the
rest is exact IEEE arithmetic, integer cv2 drawing and cv2 area resizing, whatever the thread count.
"""
from __future__ import annotations

import colorsys
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

KINDS = ("field", "shapes", "texture", "pan", "lighting", "walker", "still")
PALETTES = {  # (saturation range, value range) in HSV
    "dark": ((0.2, 0.9), (0.05, 0.35)),
    "bright": ((0.05, 0.45), (0.75, 1.0)),
    "saturated": ((0.8, 1.0), (0.55, 1.0)),
    "grey": ((0.0, 0.0), (0.05, 0.95)),
    "muted": ((0.15, 0.5), (0.25, 0.8)),
}
SHIFT = 4  # cv2 drawing with 4 fractional bits: shapes move smoothly, not pixel by pixel
ONE = 1 << SHIFT


def _exact(fn, x):
    """fn (a numpy ufunc) of x, the same on every CPU: a float32 x is evaluated in float64 and rounded
    back to float32, which absorbs the last-bit differences of float64 code paths; other dtypes as is."""
    x = np.asarray(x)
    if x.dtype != np.float32:
        return fn(x)[()]
    return fn(x, dtype=np.float64, out=np.empty(x.shape, np.float32), casting="same_kind")[()]  # in small blocks


def _sin(x):
    return _exact(np.sin, x)


def _cos(x):
    return _exact(np.cos, x)


def _exp(x):
    return _exact(np.exp, x)


def _tanh(x):
    return _exact(np.tanh, x)


def palette_colours(rng: np.random.Generator, palette: str, k: int = 4) -> np.ndarray:
    """k RGB colours (k, 3), float32 in 0..255, around one random hue."""
    (s0, s1), (v0, v1) = PALETTES[palette]
    hue, spread = rng.random(), rng.uniform(0.03, 0.5)
    hsv = [((hue + rng.uniform(-spread, spread)) % 1.0, rng.uniform(s0, s1), rng.uniform(v0, v1)) for _ in range(k)]
    return np.array([colorsys.hsv_to_rgb(*c) for c in hsv], np.float32) * 255.0


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as (h, 1) and (1, w) arrays; the shorter side spans [-1, 1]."""
    scale = 2.0 / min(h, w)
    y = ((np.arange(h, dtype=np.float32) - (h - 1) / 2) * scale)[:, None]
    x = ((np.arange(w, dtype=np.float32) - (w - 1) / 2) * scale)[None, :]
    return y, x


def _blend(a, b, s: np.ndarray) -> np.ndarray:
    """a where s = 0, b where s = 1; s (..., h, w), a and b colours (3,) or images (..., h, w, 3)."""
    return a + (b - a) * s[..., None]


def _u8(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(a + 0.5, 0, 255), dtype=np.uint8)


def _path(rng: np.random.Generator, t: np.ndarray, spread: float, speed: float) -> np.ndarray:
    """A value that starts anywhere in [-spread, spread] and drifts linearly by up to +-speed over t."""
    return np.float32(rng.uniform(-spread, spread)) + np.float32(rng.uniform(-speed, speed)) * t


def _field(rng, t, h, w, cols) -> np.ndarray:
    """Float frames: a linear or radial wave between two colours, with a soft glow of a third."""
    t = t[:, None, None]
    y, x = _coords(h, w)
    phase = _path(rng, t, np.pi, 3.0)
    freq = np.float32(rng.uniform(0.2, 1.2) * np.pi)
    if rng.random() < 0.5:
        a = _path(rng, t, np.pi, 1.5)
        u = x * _cos(a) + y * _sin(a)
    else:
        u = np.sqrt((x - _path(rng, t, 1.0, 0.8)) ** 2 + (y - _path(rng, t, 1.0, 0.8)) ** 2)
    img = _blend(cols[0], cols[1], 0.5 + 0.5 * _sin(freq * u + phase))
    r2 = np.float32(2 * rng.uniform(0.2, 0.8) ** 2)
    glow = _exp(-((x - _path(rng, t, 1.0, 1.0)) ** 2 + (y - _path(rng, t, 1.0, 1.0)) ** 2) / r2)
    return _blend(img, cols[2], glow * np.float32(rng.uniform(0.0, 0.9)))


def _background(rng, t, h, w, cols) -> np.ndarray:
    if rng.random() < 0.3:
        return np.tile(cols[0], (len(t), h, w, 1))
    return _field(rng, t, h, w, cols)


def _texture_mask(rng, t, h, w) -> np.ndarray:
    """(n, h, w) in [0, 1]: stripes, checkers or soft blobs, moving along t."""
    t3 = t[:, None, None]
    y, x = _coords(h, w)
    mode = rng.integers(3)
    if mode < 2:
        a = _path(rng, t3, np.pi, 0.6 * (mode == 0))
        u = x * _cos(a) + y * _sin(a) + _path(rng, t3, 1.0, 1.0)
        v = -x * _sin(a) + y * _cos(a) + _path(rng, t3, 1.0, 1.0)
        f = np.float32(rng.uniform(1.5, 8.0) * np.pi)
        wave = _sin(f * u) if mode == 0 else _sin(f * u) * _sin(f * v)
        return 0.5 + 0.5 * _tanh(np.float32(rng.uniform(0.7, 6.0)) * wave)
    s = np.zeros((len(t), h, w), np.float32)
    for _ in range(rng.integers(4, 16)):
        cx, cy = _path(rng, t3, 1.6, 1.0), _path(rng, t3, 1.2, 1.0)
        r2 = np.float32(2 * rng.uniform(0.08, 0.5) ** 2)
        s += np.float32(rng.uniform(0.4, 1.0)) * _exp(-((x - cx) ** 2 + (y - cy) ** 2) / r2)
    return np.clip(s, 0, 1)


def _texture(rng, t, h, w, cols) -> np.ndarray:
    img = _blend(cols[0], cols[1], _texture_mask(rng, t, h, w))
    if rng.random() < 0.5:
        img = _blend(img, cols[2], _texture_mask(rng, t, h, w) * np.float32(rng.uniform(0.3, 0.8)))
    return img


def _bounce(p: np.ndarray, size: float) -> np.ndarray:
    """Positions folded back into [0, size], as a ball bounces off the walls."""
    p = np.mod(p, 2 * size)
    return np.where(p > size, 2 * size - p, p)


def _draw_shapes(rng, frames: np.ndarray, t: np.ndarray, cols: np.ndarray, count: int, motion: float = 1.0) -> None:
    """Draw `count` shapes onto uint8 frames in place, each on its own straight, bouncing, turning path."""
    n, h, w, _ = frames.shape
    m = min(h, w)
    for _ in range(count):
        kind = rng.integers(5)
        colour = cols[rng.integers(len(cols))] if rng.random() < 0.7 else palette_colours(rng, "saturated", 1)[0]
        colour = tuple(float(c) for c in colour)
        size = rng.uniform(0.06, 0.3) * m
        px = _bounce(rng.uniform(0, w) + rng.uniform(-1.2, 1.2) * w * motion * t, w)
        py = _bounce(rng.uniform(0, h) + rng.uniform(-1.2, 1.2) * h * motion * t, h)
        angle = rng.uniform(0, 2 * np.pi) + rng.uniform(-2 * np.pi, 2 * np.pi) * motion * t
        thick = -1 if rng.random() < 0.65 else max(1, int(rng.uniform(0.01, 0.06) * m))
        vertices = rng.integers(3, 8)
        corners = np.sort(rng.uniform(0, 2 * np.pi, vertices)) if kind == 3 else np.pi / 4 + np.arange(4) * np.pi / 2
        radii = rng.uniform(0.5, 1.0, len(corners)) * size if kind == 3 else np.full(4, size)
        aspect = rng.uniform(0.3, 1.0)
        for i in range(n):
            img, c = frames[i], (int(px[i] * ONE), int(py[i] * ONE))
            if kind == 0:
                cv2.circle(img, c, int(size * ONE), colour, thick, cv2.LINE_AA, SHIFT)
            elif kind == 1:
                axes = (int(size * ONE), int(size * aspect * ONE))
                cv2.ellipse(img, c, axes, float(np.degrees(angle[i])), 0, 360, colour, thick, cv2.LINE_AA, SHIFT)
            elif kind == 2:
                d = np.array([_cos(angle[i]), _sin(angle[i])]) * size * 1.5
                a, b = ((np.array([px[i], py[i]]) + s * d) * ONE for s in (-1, 1))
                cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), colour,
                         max(1, int(size * 0.15)), cv2.LINE_AA, SHIFT)
            else:  # polygon or rotated rectangle
                ang = corners + angle[i]
                pts = np.stack([px[i] + radii * _cos(ang), py[i] + radii * aspect * _sin(ang)], 1)
                pts = (pts * ONE).astype(np.int32)[None]
                if thick < 0:
                    cv2.fillPoly(img, pts, colour, cv2.LINE_AA, SHIFT)
                else:
                    cv2.polylines(img, pts, True, colour, thick, cv2.LINE_AA, SHIFT)


def _shapes(rng, t, h, w, cols) -> np.ndarray:
    frames = _u8(_background(rng, t, h, w, cols))
    _draw_shapes(rng, frames, t, cols, int(rng.integers(2, 8)))
    return frames


def _picture(rng, h, w, cols) -> np.ndarray:
    """One still composition (h, w, 3) uint8: a background, perhaps a texture, a few shapes."""
    t = np.zeros(1, np.float32)
    img = _background(rng, t, h, w, cols)
    if rng.random() < 0.5:
        img = _blend(img, cols[3], _texture_mask(rng, t, h, w) * np.float32(rng.uniform(0.2, 0.7)))
    frames = _u8(img)
    _draw_shapes(rng, frames, t, cols, int(rng.integers(1, 7)))
    return frames[0]


def _pan(rng, t, h, w, cols) -> np.ndarray:
    """A camera window moving and zooming over a picture two to three times the frame's size."""
    big_h, big_w = int(h * rng.uniform(2.0, 3.0)), int(w * rng.uniform(2.0, 3.0))
    big = _picture(rng, big_h, big_w, cols)
    full = min(big_w, big_h * w / h)  # widest window of the frame's aspect
    zoom = np.float32(rng.uniform(0.3, 0.9)) + np.float32(rng.uniform(-0.3, 0.3)) * t
    win_w = np.clip(zoom, 0.25, 1.0) * full
    win_h = win_w * h / w
    fx, fy = rng.uniform(0, 1, 2)[:, None] + rng.uniform(-0.9, 0.9, 2)[:, None] * t
    frames = np.empty((len(t), h, w, 3), np.uint8)
    for i in range(len(t)):
        ww, hh = int(win_w[i]), int(win_h[i])
        x0 = int(np.clip(fx[i], 0, 1) * (big_w - ww))
        y0 = int(np.clip(fy[i], 0, 1) * (big_h - hh))
        frames[i] = cv2.resize(big[y0:y0 + hh, x0:x0 + ww], (w, h), interpolation=cv2.INTER_AREA)
    return frames


def _lighting(rng, t, h, w, cols) -> np.ndarray:
    """A still picture under changing light: fade in or out, a pulse, a colour shift, a spotlight."""
    pic = _picture(rng, h, w, cols).astype(np.float32)
    mode = rng.integers(5)
    tt = t[:, None, None, None]
    if mode == 0:
        gain = 0.15 + 0.85 * tt
    elif mode == 1:
        gain = 1.0 - 0.85 * tt
    elif mode == 2:
        gain = 0.6 + 0.4 * _sin(2 * np.pi * (rng.uniform(1, 3) * tt + rng.random()))
    elif mode == 3:
        a, b = rng.uniform(0.4, 1.3, 3).astype(np.float32), rng.uniform(0.4, 1.3, 3).astype(np.float32)
        gain = a + (b - a) * tt
    else:
        y, x = _coords(h, w)
        r2 = np.float32(2 * rng.uniform(0.3, 0.8) ** 2)
        cx, cy = _path(rng, t[:, None, None], 1.2, 2.0), _path(rng, t[:, None, None], 0.8, 1.0)
        gain = (0.15 + 1.0 * _exp(-((x - cx) ** 2 + (y - cy) ** 2) / r2))[..., None]
    return pic * gain


def _fx(x: float, y: float) -> tuple[int, int]:
    """A point (or a pair of lengths) in cv2's fixed-point coordinates."""
    return int(x * ONE), int(y * ONE)


def _draw_figure(img: np.ndarray, x: float, base: float, tall: float, swing: float, colour, shade, thick: int) -> None:
    """A person-like figure standing at (x, base): shadow, legs and arms swinging, body, head."""
    aa = cv2.LINE_AA
    hip, shoulder, head = base - 0.45 * tall, base - 0.8 * tall, base - 0.9 * tall
    cv2.ellipse(img, _fx(x, base), _fx(0.15 * tall, 0.03 * tall), 0, 0, 360, shade, -1, aa, SHIFT)
    for s in (1, -1):
        cv2.line(img, _fx(x, hip), _fx(x + s * swing, base), colour, thick, aa, SHIFT)
        cv2.line(img, _fx(x, shoulder), _fx(x - s * swing * 0.8, hip + 0.05 * tall), colour, thick // 2 + 1, aa, SHIFT)
    cv2.ellipse(img, _fx(x, (hip + shoulder) / 2), _fx(0.09 * tall, 0.2 * tall), 0, 0, 360, colour, -1, aa, SHIFT)
    cv2.circle(img, _fx(x, head), int(0.08 * tall * ONE), colour, -1, aa, SHIFT)


def _walker(rng, t, h, w, cols) -> np.ndarray:
    """A person-like figure walking across a room: wall, floor boards, a door or window, a table."""
    floor, door, person = (tuple(float(v) for v in c) for c in cols[1:])
    horizon = int(rng.uniform(0.45, 0.7) * h)
    room = np.empty((h, w, 3), np.uint8)
    room[:horizon], room[horizon:] = _u8(cols[0]), _u8(cols[1])
    shade = tuple(0.75 * v for v in floor)
    vx = rng.uniform(0.2, 0.8) * w
    for k in range(-6, 7):  # floor boards towards a vanishing point
        cv2.line(room, (int(vx), horizon), (int(vx + k * w * 0.3), h), shade, 1, cv2.LINE_AA)
    dx, dw = rng.uniform(0.05, 0.75) * w, rng.uniform(0.12, 0.25) * w
    top = int(horizon - rng.uniform(0.5, 0.9) * horizon)
    bottom = horizon if rng.random() < 0.5 else int(horizon * 0.8)  # a door, or a window
    cv2.rectangle(room, (int(dx), top), (int(dx + dw), bottom), door, -1)
    if rng.random() < 0.5:
        tx, depth = rng.uniform(0, 0.8) * w, h - horizon
        cv2.rectangle(room, (int(tx), int(horizon + 0.1 * depth)), (int(tx + 0.2 * w), int(horizon + 0.3 * depth)),
                      tuple(0.5 * v for v in door), -1)
    tall = rng.uniform(0.35, 0.75) * h
    base = horizon + rng.uniform(0.2, 0.9) * (h - horizon)
    start, end = (-0.15 * w, 1.15 * w) if rng.random() < 0.5 else (1.15 * w, -0.15 * w)
    if rng.random() < 0.3:  # walks in and stops
        end = rng.uniform(0.3, 0.7) * w
    steps = rng.uniform(2.0, 5.0)
    thick = max(1, int(0.07 * tall))
    frames = np.repeat(room[None], len(t), axis=0)
    for i, ti in enumerate(t):
        swing = _sin(2 * np.pi * steps * ti) * 0.15 * tall
        _draw_figure(frames[i], start + (end - start) * ti, base, tall, swing, person, shade, thick)
    return frames


def _still(rng, t, h, w, cols) -> np.ndarray:
    """A picture that does not move, seen through a noisy sensor with a faint flicker."""
    pic = _picture(rng, h, w, cols).astype(np.float32)
    sigma = np.float32(rng.uniform(1.0, 5.0))
    flicker = 1.0 + np.float32(rng.uniform(0, 0.02)) * rng.standard_normal((len(t), 1, 1, 1), np.float32)
    return pic * flicker + sigma * rng.standard_normal((len(t), h, w, 3), np.float32)


_MAKERS = {"field": _field, "shapes": _shapes, "texture": _texture, "pan": _pan,
           "lighting": _lighting, "walker": _walker, "still": _still}


def scene(rng: np.random.Generator, n_frames: int, height: int, width: int, kind: str | None = None,
          palette: str | None = None, still: bool = False, noise: float = 0.0) -> np.ndarray:
    """One scene, uint8 RGB (n_frames, height, width, 3); kind and palette are drawn when not given.

    still=True repeats the scene's first frame (identical frames); noise adds Gaussian noise of that
    many grey levels to every frame independently, as a camera would.
    """
    if kind is None:
        kind = KINDS[rng.integers(len(KINDS))]
    if palette is None:
        palette = list(PALETTES)[rng.integers(len(PALETTES))]
    cols = palette_colours(rng, palette, 4)
    t = np.zeros(1, np.float32) if still else np.linspace(0, 1, n_frames, dtype=np.float32)
    frames = _MAKERS[kind](rng, t, height, width, cols)
    if still:
        frames = np.repeat(frames[:1], n_frames, axis=0)
    if noise > 0:
        frames = frames + np.float32(noise) * rng.standard_normal(frames.shape, np.float32)
    return frames if frames.dtype == np.uint8 else _u8(frames)


def scenes(seed: int, n_scenes: int, frames_per_scene: int, height: int = 64, width: int = 64) -> Iterator[np.ndarray]:
    """n_scenes scenes; scene i depends only on (seed, i), so a longer run starts with the same scenes."""
    for i in range(n_scenes):
        yield scene(np.random.default_rng([seed, i]), frames_per_scene, height, width)


def _neighbours_differ(rng: np.random.Generator, options: Sequence[str], n: int) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        choices = [o for o in options if not out or o != out[-1]]
        out.append(choices[rng.integers(len(choices))])
    return out


def clip_with_cuts(seed: int, shot_seconds: Sequence[float], fps: float = 25.0, height: int = 240,
                   width: int = 320, still: bool | Sequence[bool] = False,
                   noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Shots of different kinds and palettes joined by hard cuts: (frames uint8, cut times in seconds).

    Shot k runs from frame round(sum(shot_seconds[:k]) * fps); a cut time is the time of the first
    frame of a new shot. `still` (one flag, or one per shot) asks for shots of identical frames.
    """
    rng = np.random.default_rng([seed, 1 << 20])
    bounds = np.round(np.concatenate([[0.0], np.cumsum(shot_seconds)]) * fps).astype(int)
    lengths = np.diff(bounds)
    if len(lengths) == 0 or (lengths < 1).any():
        raise ValueError(f"every shot needs at least one frame at {fps} fps: {list(shot_seconds)}")
    stills = [bool(still)] * len(lengths) if isinstance(still, bool) else [bool(s) for s in still]
    if len(stills) != len(lengths):
        raise ValueError(f"still: one flag per shot ({len(lengths)}), got {len(stills)}")
    kinds = _neighbours_differ(rng, KINDS, len(lengths))
    palettes = _neighbours_differ(rng, list(PALETTES), len(lengths))
    shots = [scene(np.random.default_rng([seed, k]), int(n), height, width, kinds[k], palettes[k], stills[k], noise)
             for k, n in enumerate(lengths)]
    return np.concatenate(shots), bounds[1:-1] / fps
