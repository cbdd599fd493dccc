"""A trained music VAE as a person uses it: encode bars, decode codes, sample, interpolate.

Takes and gives numpy arrays (bars as (n, 16) tokens, codes as (n, latent_dim)), so the rest
of score-av never has to touch the network.
"""
from __future__ import annotations

import numpy as np
import torch

from modelkit import resolve_device

from .attributes import read_attributes
from .checkpoint import load_model, read_model_card, resolve_model
from .errors import MusicInputError
from .metrics import interpolate_codes
from .prior import StylePrior
from .representation import STEPS_PER_BAR


class MusicVAE:
    def __init__(self, name_or_path: str = "vae", device: str = "auto"):
        self.path = resolve_model(name_or_path)
        self.device = resolve_device(device)
        self.model, self.config, _ = load_model(self.path, self.device)
        self.card = read_model_card(self.path)
        self.attributes = read_attributes(self.path)  # attribute vectors by name (attributes.py); {} if none

    @property
    def latent_dim(self) -> int:
        return self.config.model.latent_dim

    @property
    def styles(self) -> tuple[str, ...]:
        """The styles of a MusAE model's prior (one mixture component each); () for the others."""
        return self.config.model.styles

    def prior(self, style: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and per-axis std of the prior, or of one style's component: where codes should go.

        N(0, I) for vae and flat; for musae the whole mixture's moments, or the style's component.
        """
        cfg = self.config.model
        if not self.styles:
            if style is not None:
                raise MusicInputError(f"{self.path.name} has no styles to choose from; --style needs a MusAE "
                                      "model (--model musae)")
            return np.zeros(cfg.latent_dim, np.float32), np.ones(cfg.latent_dim, np.float32)
        if style is not None and style not in self.styles:
            raise MusicInputError(f"unknown style {style!r}; {self.path.name} knows {', '.join(self.styles)}")
        mean, std = StylePrior(self.styles, cfg.latent_dim, cfg.style_radius, cfg.style_std).moments(style)
        return mean.numpy(), std.numpy()

    def _tensor(self, a, dtype) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=dtype, device=self.device)

    @torch.no_grad()
    def encode(self, bars) -> np.ndarray:
        """Mean code mu(x) of each bar, (n, latent_dim)."""
        bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
        mu, _ = self.model.encode(self._tensor(bars, torch.long))
        return mu.cpu().numpy()

    @torch.no_grad()
    def decode(self, codes, temperature: float = 0.0, seed: int | None = None, bias=None,
               prefix=None, leap_penalty: float = 0.0, previous=None) -> np.ndarray:
        """Bars (n, 16) decoded from codes; greedy at temperature 0. `bias` (n, 16, vocab) is added to
        each step's logits (-inf forbids a token); `prefix` (n, k) gives the first k tokens;
        `leap_penalty` makes notes more than 7 semitones from the one before rarer (`previous` (n,):
        the note token before each bar, -1 for none). See BarVAE.decode."""
        z = self._tensor(np.asarray(codes).reshape(-1, self.latent_dim), torch.float32)
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        bias = self._tensor(bias, torch.float32) if bias is not None else None
        prefix = self._tensor(prefix, torch.long) if prefix is not None else None
        previous = self._tensor(previous, torch.long) if previous is not None else None
        return self.model.decode(z, temperature, prefix=prefix, generator=gen, bias=bias,
                                 leap_penalty=leap_penalty, previous=previous).cpu().numpy()

    @torch.no_grad()
    def log_likelihood(self, codes, bars) -> np.ndarray:
        """log p(bar | code) under the decoder, teacher-forced, in nats per bar (n,): how much the model
        itself believes in each bar it is given for each code."""
        z = self._tensor(np.asarray(codes).reshape(-1, self.latent_dim), torch.float32)
        x = self._tensor(np.asarray(bars).reshape(-1, STEPS_PER_BAR), torch.long)
        logp = torch.log_softmax(self.model.logits(z, self.model.shifted(x)), dim=-1)
        return logp.gather(-1, x[..., None])[..., 0].sum(-1).cpu().numpy()

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None, style: str | None = None) -> np.ndarray:
        """n bars decoded from codes drawn from the prior (a MusAE model: from one style's component)."""
        if self.styles and style is None:  # the mixture itself, not its moments: one component, at random
            style = self.styles[np.random.default_rng(seed).integers(len(self.styles))]
        mean, std = self.prior(style)
        z = mean + std * np.random.default_rng(seed).standard_normal((n, self.latent_dim))
        return self.decode(z.astype(np.float32), temperature, seed)

    def interpolate(self, bar_a, bar_b, n: int = 16, method: str = "linear",
                    temperature: float = 0.0) -> np.ndarray:
        """n bars on the straight (or great-circle, 'slerp') path from bar_a's code to bar_b's."""
        a, b = (torch.as_tensor(c) for c in self.encode(np.stack([bar_a, bar_b])))
        return self.decode(interpolate_codes(a, b, n, method).numpy(), temperature)
