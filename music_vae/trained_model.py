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
from .metrics import encode_bars, interpolate_codes
from .data_prior import COMPONENTS, DataPrior, GaussianPrior, Placement, fit_data_prior, read_data_prior
from .musicality import rhythm_distance
from .prior import StylePrior
from .representation import STEPS_PER_BAR

RHYTHM_SAMPLES = 3000  # codes drawn to compare the rhythm of a prior's bars with real ones


class MusicVAE:
    def __init__(self, name_or_path: str = "vae", device: str = "auto"):
        self.path = resolve_model(name_or_path)
        self.device = resolve_device(device)
        self.model, self.config, _ = load_model(self.path, self.device)
        self.card = read_model_card(self.path)
        self.attributes = read_attributes(self.path)  # attribute vectors by name (attributes.py); {} if none
        self.data_prior = read_data_prior(self.path)  # where real bars' codes lie (data_prior.py); None if not fitted

    @property
    def latent_dim(self) -> int:
        return self.config.model.latent_dim

    def inpainter(self):
        """The shipped inpainting model (inpaint.py) when it learned this model's codes, else None; loaded
        once. The conductor grows a held look into a phrase with it (score_av/development.py)."""
        if not hasattr(self, "_inpainter"):
            from .errors import CheckpointError
            from .inpaint import Inpainter
            try:
                self._inpainter = Inpainter("inpaint", device=str(self.device), music=self)
            except CheckpointError:
                self._inpainter = None
        return self._inpainter

    @property
    def styles(self) -> tuple[str, ...]:
        """The styles codes can be placed in: the data prior's (a few components each), else a MusAE
        model's (one prior component each); () when neither."""
        if self.data_prior is not None:
            return tuple(dict.fromkeys(self.data_prior.styles.tolist()))
        return self.config.model.styles

    def prior(self, style: str | None = None) -> Placement:
        """Where codes should go (see data_prior.py): the data prior, or its part of one style. A model
        without one: N(0, I) for vae and flat; for musae its style mixture's moments or one component."""
        if style is not None and style not in self.styles:
            if not self.styles:
                raise MusicInputError(f"{self.path.name} has no styles to choose from; fit its data prior "
                                      f"(score-av music prior --model {self.path.stem}) or use --model musae")
            raise MusicInputError(f"unknown style {style!r}; {self.path.name} knows {', '.join(self.styles)}")
        if self.data_prior is not None:
            return self.data_prior.restricted(style)
        cfg = self.config.model
        if not cfg.styles:
            return GaussianPrior(np.zeros(cfg.latent_dim), np.ones(cfg.latent_dim))
        # MusAE without a data prior: the mixture's moments (placing in the mixture itself would jump between styles)
        mean, std = StylePrior(cfg.styles, cfg.latent_dim, cfg.style_radius, cfg.style_std).moments(style)
        return GaussianPrior(mean.numpy(), std.numpy())

    def trained_prior(self) -> DataPrior:
        """The prior the model was trained against, as a mixture: N(0, I), or MusAE's style mixture
        (equal weights), whatever data prior is fitted."""
        cfg = self.config.model
        if not cfg.styles:
            return DataPrior([1.0], np.zeros((1, cfg.latent_dim)), np.eye(cfg.latent_dim)[None], [""])
        mix = StylePrior(cfg.styles, cfg.latent_dim, cfg.style_radius, cfg.style_std)
        return DataPrior(np.ones(len(cfg.styles)), mix.means.numpy(),
                         np.repeat(cfg.style_std * np.eye(cfg.latent_dim)[None], len(cfg.styles), 0), cfg.styles)

    def _tensor(self, a, dtype) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=dtype, device=self.device)

    @torch.no_grad()
    def encode(self, bars) -> np.ndarray:
        """Mean code mu(x) of each bar, (n, latent_dim)."""
        return encode_bars(self.model, np.asarray(bars).reshape(-1, STEPS_PER_BAR))

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
                                 leap_penalty=leap_penalty, previous=previous).cpu().numpy().copy()  # a copy:
        # a view would keep the torch tensor alive as long as the bar is kept (live keeps bars for hours)

    @torch.no_grad()
    def log_likelihood(self, codes, bars) -> np.ndarray:
        """log p(bar | code) under the decoder, teacher-forced, in nats per bar (n,): how much the model
        itself believes in each bar it is given for each code."""
        z = self._tensor(np.asarray(codes).reshape(-1, self.latent_dim), torch.float32)
        x = self._tensor(np.asarray(bars).reshape(-1, STEPS_PER_BAR), torch.long)
        logp = torch.log_softmax(self.model.logits(z, self.model.shifted(x)), dim=-1)
        return logp.gather(-1, x[..., None])[..., 0].sum(-1).cpu().numpy()

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None, style: str | None = None) -> np.ndarray:
        """n bars decoded from codes drawn from the prior (the data prior when fitted), or its part of one style."""
        prior = self.prior(style) if self.data_prior is not None or style is not None else self.trained_prior()
        return self.decode(prior.sample(n, seed), temperature, seed)

    def fit_data_prior(self, train, valid, test, candidates=COMPONENTS, progress=None) -> tuple[DataPrior, dict]:
        """The data prior of this model's codes of real bars (BarCorpus train and valid splits; see
        data_prior.py), and the figures for the model card: the test split's codes' log-likelihood, and
        the rhythm of bars decoded from the prior against the test split's bars, both beside N(0, I)'s."""
        prior, styles = fit_data_prior(self.encode(train.bars), train.styles.astype(str), self.encode(valid.bars),
                                       valid.styles.astype(str), candidates, progress=progress)
        test_codes, trained = self.encode(test.bars), self.trained_prior()
        rhythm = lambda p: {k: round(v, 4) for k, v in rhythm_distance(  # noqa: E731
            self.decode(p.sample(RHYTHM_SAMPLES, seed=0)), test.bars).items()}
        ll = lambda p: round(float(p.log_likelihood(test_codes).mean()), 3)  # noqa: E731
        figures = {"test_codes": int(len(test)), "trained_prior": "the style mixture" if self.config.model.styles
                   else "N(0, I)",
                   "test_log_likelihood_nats": {"data_prior": ll(prior), "trained_prior": ll(trained)},
                   "rhythm_against_test_bars": {"samples": RHYTHM_SAMPLES, "data_prior": rhythm(prior),
                                                "trained_prior": rhythm(trained)},
                   "styles": styles}
        return prior, figures

    def interpolate(self, bar_a, bar_b, n: int = 16, method: str = "linear",
                    temperature: float = 0.0) -> np.ndarray:
        """n bars on the straight (or great-circle, 'slerp') path from bar_a's code to bar_b's."""
        a, b = (torch.as_tensor(c) for c in self.encode(np.stack([bar_a, bar_b])))
        return self.decode(interpolate_codes(a, b, n, method).numpy(), temperature)
