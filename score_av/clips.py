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


def write_clip(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0,
               times: Iterable[float] | None = None, codec: str = "libx264",
               pix_fmt: str = "yuv420p", audio: np.ndarray | None = None, sample_rate: int = 44100,
               options: dict | None = None) -> Path:
    """Encode RGB uint8 frames (h, w, 3) to `path`, the container from its suffix.

    `times` (seconds, increasing) gives each frame its own timestamp: a variable-rate clip.
    `audio` (n, 2) float32 adds an AAC soundtrack. Written under a temporary name, then renamed.
    """
    import av

    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    rate = Fraction(fps).limit_denominator(1001)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    try:
        with av.open(str(tmp), "w", format=CONTAINER_OF[path.suffix.lower()]) as out:
            video = out.add_stream(codec, rate=rate)
            video.width, video.height, video.pix_fmt = width, height, pix_fmt
            if options:
                video.options = dict(options)
            stamps = iter(times) if times is not None else None
            if stamps is not None:
                video.codec_context.time_base = Fraction(1, 1000)
            sound = AudioWriter(out, audio, sample_rate, start=0.0) if audio is not None else None
            for i, rgb in enumerate(itertools.chain([first], frames)):
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

