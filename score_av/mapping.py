"""From the video VAE's latent space to the music VAE's: z_music = R · standardise(z_video).

Standardising over the clip lets any footage, dark or bright, busy or calm, use the whole music
space; R (orthogonal, identity by default, another one per seed) lets a person hear other music
for the same picture. Dimensions the video model never uses carry only noise, so they are left
out, and no dimension is scaled up by more than its spread over the model's training footage
allows: a still picture stays steady music instead of amplified compression noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVE_STD = 0.1     # a latent dimension whose mean code varies less than this over the training data is unused
MIN_SPREAD = 0.5     # the clip's spread in a dimension counts as at least this share of the training spread
STEADY = 1.0         # music-space distance below which a bar keeps the code being played (|z| is about 5.6)


def rotation(dim: int, seed: int | None) -> np.ndarray:
    """An orthogonal (dim, dim) matrix: the identity for seed None, else a uniform random one."""
    if seed is None:
        return np.eye(dim, dtype=np.float32)
    a = np.random.default_rng(seed).standard_normal((dim, dim))
    q, r = np.linalg.qr(a)
    return (q * np.sign(np.diag(r))).astype(np.float32)  # sign fix makes it uniform (Haar)


@dataclass
class Mapping:
    """Fitted standardisation and rotation; `__call__` maps video codes (n, d) to music codes."""
    mean: np.ndarray
    scale: np.ndarray
    active: np.ndarray   # bool (d,)
    rotation: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray, train_std: np.ndarray, seed: int | None = None) -> "Mapping":
        """Statistics of a clip's video codes (n, d); `train_std` is the spread over the model's data."""
        codes = np.asarray(codes, dtype=np.float32)
        train_std = np.asarray(train_std, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != train_std.shape[0]:
            raise ValueError(f"codes must be (n, {train_std.shape[0]}), got {codes.shape}")
        active = train_std > ACTIVE_STD
        scale = np.maximum(codes.std(axis=0), MIN_SPREAD * train_std)
        return cls(codes.mean(axis=0), np.where(active, scale, 1.0).astype(np.float32), active,
                   rotation(codes.shape[1], seed))

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        z = (np.asarray(codes, dtype=np.float32) - self.mean) / self.scale
        z = np.where(self.active, z, 0.0)
        return (z @ self.rotation.T).astype(np.float32)


def smooth(codes: np.ndarray, amount: float) -> np.ndarray:
    """Exponential smoothing along time (0 = none, towards 1 = slower); keeps the first code."""
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {amount}")
    out = np.array(codes, dtype=np.float32, copy=True)
    for i in range(1, len(out)):
        out[i] = amount * out[i - 1] + (1.0 - amount) * out[i]
    return out


def hold_steady(codes: np.ndarray, distance: float = STEADY) -> np.ndarray:
    """Each code, or the code being played when it is less than `distance` away (0 = off)."""
    if distance < 0:
        raise ValueError(f"steadiness distance must be >= 0, got {distance}")
    out = np.array(codes, dtype=np.float32, copy=True)
    for i in range(1, len(out)):
        if np.linalg.norm(out[i] - out[i - 1]) < distance:
            out[i] = out[i - 1]
    return out
