"""Checkpoints (one file: weights and config) and the JSON model card beside each.

Files are loaded with `torch.load(weights_only=True)`, so a checkpoint can hold tensors and plain
values but never code. A model is named by a path or by a name under media/models/.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .configs import Config
from .errors import CheckpointError
from .model import BarVAE

FORMAT = "score-av/music_vae"
FORMAT_VERSION = 1


def models_dir() -> Path:
    """The shipped models: SCORE_AV_MODELS, else media/models of this checkout."""
    env = os.environ.get("SCORE_AV_MODELS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "media" / "models"


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = models_dir() / f"{name_or_path}.pt"
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in models_dir().glob("*.pt"))
    raise CheckpointError(f"{name_or_path}: no such model file, nor a shipped model "
                          f"(shipped: {', '.join(names) or 'none'}; train one with `score-av train music`)")


def atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: Path, model: BarVAE, config: Config, step: int, extra: dict | None = None) -> None:
    """Weights stored as float16, half the size (the figures agree to three decimals); loaded as float32.

    Shipped models must fit media/models' 20 MB. Training resumes from OUT.train.pt, which keeps
    float32, so only what is shipped and played is rounded.
    """
    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    atomic_torch_save({"format": FORMAT, "version": FORMAT_VERSION, "config": config.to_dict(), "step": step,
                       "model": weights, "stored_as": "float16 weights (loaded as float32)", **(extra or {})}, Path(path))


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, checked to be ours; a CheckpointError in one line otherwise."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: not a score-av music model checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a score-av music model checkpoint")
    if ckpt.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')} is not supported "
                              f"(this score-av reads version {FORMAT_VERSION})")
    return ckpt


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[BarVAE, Config, dict]:
    ckpt = read_checkpoint(path)
    config = Config.from_dict(ckpt["config"])
    model = BarVAE(config.model)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError:
        raise CheckpointError(f"{path}: weights do not match the configuration stored with them") from None
    return model.to(device).eval(), config, ckpt


def card_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".json")


def write_model_card(checkpoint: Path, card: dict) -> Path:
    path = card_path(checkpoint)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_model_card(checkpoint: Path) -> dict:
    path = card_path(checkpoint)
    return json.loads(path.read_text()) if path.exists() else {}
