"""Frames as the network sees them: the whole picture squashed to a small square, values in [0, 1].

Squashing (no crop) keeps everything that is in the shot: a person entering at the edge of a wide
frame should move the code. INTER_AREA averages the pixels each output pixel covers, so a large
frame shrinks without aliasing.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch


def _as_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB, (n, h, w, 3) or (h, w, 3); got {frames.dtype} {frames.shape}")
    return frames


def resize_frames(frames, size: int) -> np.ndarray:
    """uint8 RGB frames (n, h, w, 3) of any size, or one frame (h, w, 3), as (n, size, size, 3)."""
    frames = _as_frames(frames)
    if frames.shape[1:3] == (size, size):
        return np.ascontiguousarray(frames)
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, frame in enumerate(frames):
        out[i] = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return out


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (n, h, w, 3) as float32 (n, 3, h, w) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def prepare(frames, size: int = 64) -> torch.Tensor:
    """uint8 RGB frames of any size (or one frame) as the network's input, float32 (n, 3, size, size)."""
    return to_tensor(resize_frames(frames, size))


def to_frames(images: torch.Tensor) -> np.ndarray:
    """The network's output (n, 3, h, w) in [0, 1] as uint8 RGB frames (n, h, w, 3)."""
    return (images.detach().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy())
