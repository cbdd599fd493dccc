"""Training footage as the video model learns from it: clips, images and folders of either, read
into one array of frames at the model's size. Clips are read by the pipeline's own source."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from video_vae.errors import VideoVAEError

from .sources import clip_frames

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
CLIP_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts")


def _input_files(paths: list[Path]) -> list[Path]:
    """The files the inputs name: files as given, folders searched recursively for images and clips."""
    files = []
    for path in paths:
        path = path.expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + CLIP_SUFFIXES)
            if not found:
                raise VideoVAEError(f"{path}: no images ({' '.join(IMAGE_SUFFIXES)}) or clips "
                                    f"({' '.join(CLIP_SUFFIXES)}) in this folder or below")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise VideoVAEError(f"{path}: no such file or folder")
    return files


def _read_image(path: Path, size: int) -> np.ndarray:
    import cv2

    from video_vae.preprocess import resize_frames

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise VideoVAEError(f"{path}: cannot read this image (damaged, or not really {path.suffix}); "
                            "remove it or convert it to PNG")
    return resize_frames(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)


def read_training_frames(paths: list[Path], size: int, fps: float | None = None,
                         max_frames: int | None = None) -> tuple[np.ndarray, str]:
    """uint8 RGB frames (n, size, size, 3) from clips, images and folders, in order; and a description."""
    if not paths:
        raise VideoVAEError("nothing to train on: give clips, images or folders, or --synthetic")
    chunks, n_images, n_clips = [], 0, 0
    for path in _input_files(paths):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            chunks.append(_read_image(path, size))
            n_images += 1
        else:
            chunks.append(clip_frames(path, size=size, fps=fps)[1])
            n_clips += 1
    frames = np.concatenate(chunks)
    if max_frames is not None and len(frames) > max_frames > 0:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    shown = ", ".join(str(p) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return frames, f"{len(frames)} frames from {n_clips} clips and {n_images} images: {shown}"
