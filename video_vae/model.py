"""The convolutional frame VAE: stride-2 conv blocks down to 4x4, a code, and the mirror image up.

GroupNorm rather than BatchNorm: a frame's code must not depend on which other frames share its
batch (live scoring encodes one frame at a time; training sees 64). The per-dimension mean and std
of mu over the training frames travel with the model as buffers (`latent_mean`, `latent_std`),
because the mapping to the music space standardises codes with them.
"""
from __future__ import annotations

import torch
from torch import nn

from .configs import ModelConfig


def _down(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(min(groups, cout), cout), nn.SiLU())


def _up(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.GroupNorm(min(groups, cout), cout), nn.SiLU())


class ConvVAE(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.side = cfg.image_size >> len(cfg.widths)
        if self.side << len(cfg.widths) != cfg.image_size or self.side < 1:
            raise ValueError(f"image_size {cfg.image_size} is not divisible by 2**{len(cfg.widths)}")
        chans = (cfg.channels, *cfg.widths)
        flat = cfg.widths[-1] * self.side * self.side
        self.encoder = nn.Sequential(*[_down(a, b, cfg.groups) for a, b in zip(chans[:-1], chans[1:])],
                                     nn.Flatten())
        self.to_mu = nn.Linear(flat, cfg.latent_dim)
        self.to_logvar = nn.Linear(flat, cfg.latent_dim)
        self.from_z = nn.Sequential(nn.Linear(cfg.latent_dim, flat), nn.SiLU())
        back = chans[::-1]
        self.decoder = nn.Sequential(*[_up(a, b, cfg.groups) for a, b in zip(back[:-2], back[1:-1])],
                                     nn.ConvTranspose2d(back[-2], cfg.channels, 4, 2, 1))
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_dim), persistent=False)
        self.register_buffer("latent_std", torch.ones(cfg.latent_dim), persistent=False)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | frame) for images (n, 3, size, size) in [0, 1]."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (n, 3, size, size) in [0, 1] from codes (n, latent_dim)."""
        h = self.from_z(z).view(-1, self.cfg.widths[-1], self.side, self.side)
        return torch.sigmoid(self.decoder(h))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, mu, logvar; z is sampled in training mode and is mu in eval mode."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar

