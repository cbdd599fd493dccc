"""The frame encoder stage: timed frames in, one video code per frame out.

Offline, the source decodes in this thread while batches of frames are encoded in another (torch
and FFmpeg both release the GIL), so the two cores share the work.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterable

import numpy as np

from .models import VideoModel

ENCODE_BATCH = 64


def encode_frames(frames: Iterable[tuple[float, np.ndarray]], video: VideoModel,
                  batch: int = ENCODE_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """(seconds (n,), codes (n, latent_dim)) of every (seconds, RGB frame) the source yields."""
    batches: queue.Queue = queue.Queue(maxsize=4)
    codes: list[np.ndarray] = []
    failure: list[BaseException] = []

    def encoder():
        while (frames_batch := batches.get()) is not None:
            try:
                if not failure:
                    codes.append(video.encode(frames_batch))
            except BaseException as exc:  # handed to the decoding thread
                failure.append(exc)

    worker = threading.Thread(target=encoder, name="encode-frames", daemon=True)
    worker.start()
    stamps, pending = [], []
    try:
        for t, frame in frames:
            stamps.append(t)
            pending.append(frame)
            if len(pending) == batch:
                batches.put(np.stack(pending))
                pending = []
            if failure:
                break
        if pending:
            batches.put(np.stack(pending))
    finally:
        batches.put(None)
        worker.join()
    if failure:
        raise failure[0]
    return np.asarray(stamps), np.concatenate(codes)
