"""Which device to compute on, from what a person typed after --device, and the set-up every
training run starts with."""
from __future__ import annotations

from pathlib import Path

import torch

from .errors import UserError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' is CUDA when present, else the CPU; anything else is passed to torch, and a device
    torch does not know, or CUDA on a machine without it, is a UserError rather than a traceback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"--device {device}: not a device (use auto, cpu or cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine (use auto or cpu)")
    return dev


def start_training(out, seed: int, device: str | torch.device = "auto"):
    """What every training run sets up first: the checkpoint's folder made, the path of its training
    state (OUT.train.pt, what --resume reads), the device, torch seeded and a generator for batches.
    Returns (out, state_path, device, generator)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    return out, out.with_name(out.stem + ".train.pt"), dev, torch.Generator().manual_seed(seed)
