"""Video model checkpoints (one file: weights, config, latent statistics) and the JSON model card beside each.

This file says what is particular to the video model: its format name, what a checkpoint holds,
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
from .model import ConvVAE

FORMAT = CheckpointFormat("score-av/video_vae", version=1, what="score-av video model", error=CheckpointError)

__all__ = ["FORMAT", "card_path", "load_model", "models_dir", "read_checkpoint", "read_model_card",
           "resolve_model", "save_checkpoint", "write_model_card"]


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    return _resolve_model(name_or_path, CheckpointError, train="score-av train video")


def save_checkpoint(path: Path, model: ConvVAE, config: Config, step: int) -> None:
    """Weights, config and the latent statistics, written whole or not at all."""
    FORMAT.write(path, {"config": config.to_dict(), "step": step,
                        "model": {k: v.cpu() for k, v in model.state_dict().items()},
                        "latent_mean": model.latent_mean.tolist(), "latent_std": model.latent_std.tolist()})


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, checked to be a video model's; a CheckpointError in one line otherwise."""
    return FORMAT.read(path)


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[ConvVAE, Config, dict]:
    """The model (in eval mode, latent statistics set), its config and the checkpoint's contents."""
    ckpt = read_checkpoint(path)
    with FORMAT.building(path):
        config = Config.from_dict(ckpt["config"])
        model = ConvVAE(config.model)
        model.load_state_dict(ckpt["model"])
        model.latent_mean.copy_(torch.tensor(ckpt["latent_mean"]))
        model.latent_std.copy_(torch.tensor(ckpt["latent_std"]))
    return model.to(device).eval(), config, ckpt
