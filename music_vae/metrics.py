"""The figures of DESIGN.md, computed one way for the CLI, the tests, benchmarks and model cards.

- teacher_forced_accuracy: share of steps where argmax given z = mu(x) and the true previous
  tokens is the true token; sampled_accuracy: the same when the decoder runs greedily on its own.
- interpolation: between mu(a) and mu(b) of pairs of bars (drawn with a fixed seed), 16 evenly
  spaced points decoded greedily; step change = share of the 16 tokens that differ between
  neighbours. interp_mean_step_change and interp_max_step_change average each pair's mean and max
  over the pairs; interp_evenness = mean / max (1.0 = perfectly even, small = one abrupt jump).
"""
from __future__ import annotations

import numpy as np
import torch

from .model import BarVAE

INTERP_POINTS = 16


def _batches(bars: np.ndarray, size: int):
    for i in range(0, len(bars), size):
        yield bars[i:i + size]


@torch.no_grad()
def reconstruction_accuracy(model: BarVAE, bars: np.ndarray, batch_size: int = 512) -> dict:
    model.eval()
    device = next(model.parameters()).device
    tf_hits = sampled_hits = total = 0
    for chunk in _batches(bars, batch_size):
        x = torch.as_tensor(np.asarray(chunk), dtype=torch.long, device=device)
        mu, _ = model.encode(x)
        tf_hits += (model.logits(mu, model.shifted(x)).argmax(-1) == x).sum().item()
        sampled_hits += (model.decode(mu) == x).sum().item()
        total += x.numel()
    return {"teacher_forced_accuracy": tf_hits / total, "sampled_accuracy": sampled_hits / total}


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b at fractions t (falls back to linear when parallel)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-4, (1 - t) * a + t * b, out)


def interpolate_codes(a: torch.Tensor, b: torch.Tensor, n: int = INTERP_POINTS, method: str = "linear") -> torch.Tensor:
    """n evenly spaced codes from a to b (both ends included), shape (n, d)."""
    t = torch.linspace(0, 1, n, device=a.device)
    if method == "slerp":
        return slerp(a.expand(n, -1), b.expand(n, -1), t)
    if method != "linear":
        raise ValueError(f"unknown interpolation {method!r} (linear or slerp)")
    return (1 - t)[:, None] * a + t[:, None] * b


def interpolation_pairs(n_bars: int, n_pairs: int, seed: int = 0) -> np.ndarray:
    """Index pairs (a != b) drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_bars, n_pairs)
    b = (a + rng.integers(1, n_bars, n_pairs)) % n_bars
    return np.stack([a, b], axis=1)


@torch.no_grad()
def interpolation_smoothness(model: BarVAE, bars: np.ndarray, n_pairs: int = 128, seed: int = 0,
                             method: str = "linear") -> dict:
    model.eval()
    device = next(model.parameters()).device
    pairs = interpolation_pairs(len(bars), n_pairs, seed)
    x = torch.as_tensor(np.asarray(bars), dtype=torch.long, device=device)
    mu_a, _ = model.encode(x[pairs[:, 0]])
    mu_b, _ = model.encode(x[pairs[:, 1]])
    codes = torch.cat([interpolate_codes(a, b, INTERP_POINTS, method) for a, b in zip(mu_a, mu_b)])
    decoded = model.decode(codes).view(len(pairs), INTERP_POINTS, -1)
    change = (decoded[:, 1:] != decoded[:, :-1]).float().mean(-1)  # (pairs, 15)
    mean, peak = change.mean(1).mean().item(), change.max(1).values.mean().item()
    return {"interp_pairs": len(pairs), "interp_mean_step_change": mean, "interp_max_step_change": peak,
            "interp_evenness": mean / peak if peak > 0 else 1.0}


def evaluate(model: BarVAE, bars: np.ndarray, n_pairs: int = 128, seed: int = 0) -> dict:
    """All figures of the music VAE on `bars` (n, 16)."""
    if len(bars) < 2:
        raise ValueError("need at least two bars to evaluate")
    return {"bars": int(len(bars)), **reconstruction_accuracy(model, bars),
            **interpolation_smoothness(model, bars, n_pairs, seed)}
