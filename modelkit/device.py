"""Which device to compute on, from what a person typed after --device."""
from __future__ import annotations

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
