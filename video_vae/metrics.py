"""The video VAE's figures, computed one way for training, the CLI, tests and model cards.

- mse: mean squared error per pixel and channel, values in [0, 1], of decode(mu(x)) against x;
  psnr_db = 10 log10(1 / mse) of that mean.
- kl_per_dim: KL(q(z|x) || N(0, 1)) of each latent dimension in nats, averaged over the frames.
- active_dims: dimensions whose mu varies over the frames (std > 0.1); an inactive one carries
  nothing about the picture, so the music it drives would not answer the picture either.
- latent_mean / latent_std: per-dimension mean and std of mu; the mapping standardises with them.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .model import ConvVAE
from .preprocess import prepare

ACTIVE_STD = 0.1


def _device(model: ConvVAE) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode_frames(model: ConvVAE, frames: np.ndarray, batch_size: int = 256,
                  squared_error: bool = False) -> tuple[torch.Tensor, ...]:
    """mu and logvar (n, latent_dim) on the CPU for uint8 frames of any size; with squared_error,
    also each frame's summed squared error of decode(mu) (n,)."""
    model.eval()
    mus, logvars, errors = [], [], []
    for i in range(0, len(frames), batch_size):
        x = prepare(frames[i:i + batch_size], model.cfg.image_size).to(_device(model))
        mu, logvar = model.encode(x)
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
        if squared_error:
            errors.append((model.decode(mu) - x).pow(2).flatten(1).sum(1).cpu())
    out = (torch.cat(mus), torch.cat(logvars))
    return out + (torch.cat(errors),) if squared_error else out


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(0)


def active_dims(mu: torch.Tensor, threshold: float = ACTIVE_STD) -> int:
    return int((mu.std(0) > threshold).sum())


def latent_stats(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std of mu (std floored at 1e-6, so that dividing by it is safe)."""
    return mu.mean(0), mu.std(0).clamp(min=1e-6)


def psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / mse) if mse > 0 else float("inf")


def reconstruction(model: ConvVAE, frames: np.ndarray) -> dict:
    """mse and psnr_db of decode(mu(x)) over uint8 frames."""
    _, _, se = encode_frames(model, frames, squared_error=True)
    mse = se.mean().item() / (model.cfg.channels * model.cfg.image_size ** 2)
    return {"mse": mse, "psnr_db": psnr(mse)}


def evaluate(model: ConvVAE, frames: np.ndarray) -> dict:
    """All figures of the video VAE on uint8 frames (n, h, w, 3), n >= 2."""
    if len(frames) < 2:
        raise ValueError("need at least two frames to evaluate")
    mu, logvar, se = encode_frames(model, frames, squared_error=True)
    mse = se.mean().item() / (model.cfg.channels * model.cfg.image_size ** 2)
    kl = kl_per_dim(mu, logvar)
    mean, std = latent_stats(mu)
    return {"frames": int(len(frames)), "mse": round(mse, 6), "psnr_db": round(psnr(mse), 2),
            "kl_nats_per_dim_mean": round(kl.mean().item(), 4), "kl_nats_per_dim": [round(v, 3) for v in kl.tolist()],
            "active_dims": active_dims(mu), "active_threshold": ACTIVE_STD,
            "mu_mean": [round(v, 4) for v in mean.tolist()], "mu_std": [round(v, 4) for v in std.tolist()]}
