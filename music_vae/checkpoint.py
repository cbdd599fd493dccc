"""Music model checkpoints (one file: weights and config) and the JSON model card beside each.

This file says what is particular to the music model: its format name, what a checkpoint holds,
and how the model is built from it. The file format, model lookup, cards and atomic writes are
modelkit's (see there for where a model name is looked up).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from modelkit import CheckpointFormat, card_path, models_dir, read_model_card, write_model_card
from modelkit import resolve_model as _resolve_model

from .configs import Config
from .errors import CheckpointError
from .model import BarVAE

FORMAT = CheckpointFormat("score-av/music_vae", version=1, what="score-av music model", error=CheckpointError)

__all__ = ["FORMAT", "card_path", "load_model", "models_dir", "read_checkpoint",
           "read_model_card", "resolve_model", "save_checkpoint", "write_model_card"]


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    return _resolve_model(name_or_path, CheckpointError, train="score-av train music")


def save_checkpoint(path: Path, model: BarVAE, config: Config, step: int, extra: dict | None = None) -> None:
    """Weights stored as float16, half the size (the figures agree to three decimals); loaded as float32.

    Shipped models must fit media/models' 20 MB. Training resumes from OUT.train.pt, which keeps
    float32, so only what is shipped and played is rounded.
    """
    FORMAT.write_model(path, model, config, step, extra)


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, checked to be a music model's; a CheckpointError in one line otherwise."""
    return FORMAT.read(path)


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[BarVAE, Config, dict]:
    return FORMAT.read_model(path, Config, BarVAE, device)
