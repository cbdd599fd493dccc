"""The model card: a JSON file beside each checkpoint (NAME.pt -> NAME.json) saying how it was made.

The parts every model's card has alike live here: where the card is, reading and writing it,
the parameter count and the record of the machine that trained it (so a wall time means something).
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_write_json


def card_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".json")


def write_model_card(checkpoint: Path, card: dict) -> Path:
    path = card_path(checkpoint)
    atomic_write_json(path, card)
    return path


def read_model_card(checkpoint: Path) -> dict:
    """The card beside the checkpoint; {} when it has none."""
    path = card_path(checkpoint)
    return json.loads(path.read_text()) if path.exists() else {}


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def machine_record(device: torch.device | str) -> dict:
    """The card's "machine": where a model was trained, with which torch, on which device and threads."""
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "device": str(device),
            "threads": torch.get_num_threads()}
