"""MusAE's prior: a Gaussian mixture with one component per style, where a trained model places codes.

Component k is N(m_k, s^2 I) with m_k = r * e_k (the k-th latent axis), so the styles sit on
orthogonal axes, r / s apart enough to separate and the other axes left to the music. It belongs
to the trained model (sampling, `--style`), not to training: the loss in musae.py draws from it too.
"""
from __future__ import annotations

import torch


class StylePrior:
    """The mixture: component means (K, d) and one standard deviation."""

    def __init__(self, styles: tuple[str, ...], dim: int, radius: float, std: float):
        if len(styles) > dim:
            raise ValueError(f"{len(styles)} styles need a latent of at least that size, not {dim}")
        self.styles, self.dim, self.radius, self.std = tuple(styles), dim, radius, std
        self.means = torch.zeros(len(styles), dim)
        self.means[torch.arange(len(styles)), torch.arange(len(styles))] = radius

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One code from the component of each label."""
        noise = torch.randn(len(labels), self.dim, generator=generator)
        return (self.means[labels.cpu()] + self.std * noise).to(labels.device)

    def moments(self, style: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and per-axis std of one style's component, or of the whole mixture (equal weights)."""
        if style is not None:
            return self.means[self.styles.index(style)], torch.full((self.dim,), self.std)
        mean = self.means.mean(0)
        var = self.std ** 2 + ((self.means - mean) ** 2).mean(0)
        return mean, var.sqrt()
