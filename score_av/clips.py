"""Writing clips from frames with PyAV: the demo clip, and the test clips of every kind a user
may bring (H.264 in MP4 or MKV, an old AVI codec, variable frame rate, odd sizes, with audio)."""
from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from .mux import AudioWriter

CONTAINER_OF = {".mp4": "mp4", ".mkv": "matroska", ".avi": "avi", ".mov": "mov"}

# An exact clip (write_clip(..., exact=True)): x264 at fixed settings, one thread (x264's output
# depends on its thread count, which by default follows the machine's cores: threads and slices),
# cpu-independent (no CPU-specific analysis shortcuts), and muxed bitexact (no Lavf version tag).
EXACT_X264 = {"preset": "medium", "crf": "23", "x264-params": "cpu-independent=1"}


# BT.601 limited range in 16-bit fixed point, as lookup tables (rounding and offsets in the R table):
# Y from one pixel (0..255), U and V from the sum of a 2x2 block (0..1020), so 2 more bits of shift.
_PX, _BLOCK = np.arange(256, dtype=np.int32), np.arange(1021, dtype=np.int32)
_Y_LUT = (16829 * _PX + (16 << 16) + (1 << 15), 33039 * _PX, 6416 * _PX)
_U_LUT = (-9714 * _BLOCK + (128 << 18) + (1 << 17), -19070 * _BLOCK, 28784 * _BLOCK)
_V_LUT = (28784 * _BLOCK + (128 << 18) + (1 << 17), -24103 * _BLOCK, -4681 * _BLOCK)


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (h, w, 3), h and w even, to yuv420p as PyAV lays it out: (h * 3 // 2, w) uint8.

    BT.601 limited range (what swscale does for rgb24 -> yuv420p by default), chroma from the mean
    of each 2x2 block, all in integers: the same bytes on every machine, unlike swscale, whose SIMD
    code paths round differently (one level apart in ~4% of samples with and without x86 SIMD).
    """
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {w}x{h}")
    out = np.empty(h * w * 3 // 2, np.uint8)
    y = np.take(_Y_LUT[0], rgb[..., 0])  # np.take: twice as fast as indexing here
    y += np.take(_Y_LUT[1], rgb[..., 1])
    y += np.take(_Y_LUT[2], rgb[..., 2])
    out[:h * w] = (y >> 16).ravel()  # 16..235: no clipping needed
    c = rgb.astype(np.uint16)
    q = c[0::2, 0::2] + c[0::2, 1::2]
    q += c[1::2, 0::2]
    q += c[1::2, 1::2]
    n = h * w // 4
    for k, lut in enumerate((_U_LUT, _V_LUT)):
        p = np.take(lut[0], q[..., 0])
        p += np.take(lut[1], q[..., 1])
        p += np.take(lut[2], q[..., 2])
        out[h * w + k * n:h * w + (k + 1) * n] = (p >> 18).ravel()  # 16..240
    return out.reshape(h * 3 // 2, w)


def write_clip(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0,
               times: Iterable[float] | None = None, codec: str = "libx264",
               pix_fmt: str = "yuv420p", audio: np.ndarray | None = None, sample_rate: int = 44100,
               options: dict | None = None, exact: bool = False) -> Path:
    """Encode RGB uint8 frames (h, w, 3) to `path`, the container from its suffix.

    `times` (seconds, increasing) gives each frame its own timestamp: a variable-rate clip.
    `audio` (n, 2) float32 adds an AAC soundtrack. Written under a temporary name, then renamed.

    exact=True (libx264, yuv420p, no audio) writes the same bytes on every run and every machine,
    whatever its cores, CPU or clock: RGB -> YUV in integer numpy (rgb_to_yuv420p), x264 on one
    thread at EXACT_X264 (`options` added on top), no time or library version in the container.
    The x264 and FFmpeg builds still count: x264 names itself (version, options) in the stream, and
    another x264 may encode differently, so another PyAV/FFmpeg/x264 build may give other bytes.
    """
    import av

    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    rate = Fraction(fps).limit_denominator(1001)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    if exact and (codec != "libx264" or pix_fmt != "yuv420p" or audio is not None):
        raise ValueError("exact=True writes libx264 yuv420p video without audio")
    try:
        with av.open(str(tmp), "w", format=CONTAINER_OF[path.suffix.lower()],
                     container_options={"fflags": "+bitexact"} if exact else None) as out:
            video = out.add_stream(codec, rate=rate)
            video.width, video.height, video.pix_fmt = width, height, pix_fmt
            if exact:
                video.codec_context.thread_count = 1
                video.codec_context.flags |= int(av.codec.context.Flags.bitexact)
                options = {**EXACT_X264, **(options or {})}
            if options:
                video.options = dict(options)
            stamps = iter(times) if times is not None else None
            if stamps is not None:
                video.codec_context.time_base = Fraction(1, 1000)
            sound = AudioWriter(out, audio, sample_rate, start=0.0) if audio is not None else None
            for i, rgb in enumerate(itertools.chain([first], frames)):
                if exact:
                    frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(rgb), format="yuv420p")
                else:
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                if stamps is not None:
                    frame.pts = int(round(next(stamps) * 1000))
                    frame.time_base = Fraction(1, 1000)
                else:
                    frame.pts = i
                    frame.time_base = 1 / rate
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
            if sound is not None:
                sound.finish()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

