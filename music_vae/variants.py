"""The variants as losses: one object per variant, built from the settings a configuration holds.

The training loop (train.py) knows only this interface: `before_step` (an update of the loss's own
parts before the model's step: MusAE's critic), `batch_loss` (the loss of one batch, and its
stats), `state_dict`/`load_state_dict` (what --resume needs of those parts) and `card` (the
loss's section of the model card). A new variant is a settings class in configs.py, its entry in
CONFIGS, and a class here registered for those settings with `@loss_for`; the math stays in
flatness.py and musae.py.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from .configs import AdversarialSettings, Config, FlatSettings, LossSettings, VaeSettings
from .errors import MusicInputError
from .flatness import flat_penalty, heard_inputs, mixup, walk_penalties, walk_steps
from .model import BarVAE
from .musae import Critic, critic_loss, cycle_loss, encoder_loss
from .prior import StylePrior
from .styles import equal_weights

LOSSES: dict[type[LossSettings], type["VariantLoss"]] = {}


def loss_for(settings: type[LossSettings]):
    """Register a loss class as the one built for configurations holding `settings`."""
    def register(cls):
        LOSSES[settings] = cls
        return cls
    return register


def build_loss(config: Config, styles: tuple[str, ...], labels: np.ndarray, device) -> "VariantLoss":
    """The loss of config's variant, for training bars with these style labels (indices into `styles`)."""
    return LOSSES[type(config.train.loss)](config, styles, labels, device)


def reconstruction(model: BarVAE, x: torch.Tensor, sampling_rate: float, step: int):
    """Cross-entropy per bar with scheduled sampling; also mu, logvar, the sampled z and the sampling rate."""
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    inputs = model.shifted(x)
    p_sample = 1.0 - sampling_rate / (sampling_rate + math.exp(min(step / sampling_rate, 50.0)))
    if p_sample > 0 and model.cfg.autoregressive:  # scheduled sampling: some inputs replaced by the model's own samples
        with torch.no_grad():
            own = torch.distributions.Categorical(logits=model.logits(z, inputs)).sample()
        swap = torch.rand(x.shape, device=x.device) < p_sample
        swap[:, 0] = False
        inputs = torch.where(swap, torch.cat([inputs[:, :1], own[:, :-1]], 1), inputs)
    logits = model.logits(z, inputs)
    rec = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), reduction="sum") / len(x)
    return rec, mu, logvar, z, p_sample


def kl_penalty(mu: torch.Tensor, logvar: torch.Tensor, settings: VaeSettings, step: int) -> tuple[torch.Tensor, dict]:
    """beta (annealed up to beta_max) times the KL above the free bits."""
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
    beta = settings.beta_max * (1.0 - settings.beta_rate ** step)
    return beta * torch.clamp(kl - settings.free_bits * math.log(2.0), min=0.0), \
        {"kl_bits": kl.item() / math.log(2.0), "beta": beta}


class VariantLoss:
    """A variant's loss and whatever it trains beside the model.

    `config` is the configuration the model is built from: a loss may add what it needs of the
    model (MusAE: the styles of its prior). `terms` are the stats shown and kept in the model card.
    """
    terms: tuple[str, ...] = ("rec",)

    def __init__(self, config: Config, styles: tuple[str, ...], labels: np.ndarray, device):
        self.config, self.settings = config, config.train.loss

    def before_step(self, model: BarVAE, x: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> dict:
        """Updates of the loss's own parts on this batch, before the model's; their stats."""
        return {}

    def batch_loss(self, model: BarVAE, x: torch.Tensor, labels: torch.Tensor, step: int,
                   gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """What --resume needs of the loss's own parts (stored beside the model's in OUT.train.pt)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore from a training state that holds what `state_dict` gave (and the rest of it)."""

    def card(self) -> dict:
        """The loss's sections of the model card."""
        return {}


@loss_for(VaeSettings)
class PlainLoss(VariantLoss):
    """MusicVAE's: reconstruction with scheduled sampling plus the KL term."""
    terms = ("rec", "kl_bits")

    def vae_loss(self, model: BarVAE, x: torch.Tensor, step: int) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """The loss and stats, and mu (the batch's codes)."""
        rec, mu, logvar, _, p_sample = reconstruction(model, x, self.config.train.sampling_rate, step)
        penalty, kl_stats = kl_penalty(mu, logvar, self.settings, step)
        return rec + penalty, {"rec": rec.item(), "p_sample": p_sample, **kl_stats}, mu

    def batch_loss(self, model, x, labels, step, gen):
        loss, stats, _ = self.vae_loss(model, x, step)
        return loss, stats


@loss_for(FlatSettings)
class FlatLoss(PlainLoss):
    """The vae's loss plus, every flat_every steps, the flat-manifold penalty on mixup points of the batch's codes
    and the length and unevenness of walks between them (flatness.py)."""
    terms = ("rec", "kl_bits", "flat", "length", "spread")

    def batch_loss(self, model, x, labels, step, gen):
        s = self.settings
        loss, stats, mu = self.vae_loss(model, x, step)
        if step % s.flat_every != 0:
            return loss, stats
        points, along = mixup(mu.detach()[:s.flat_subset], s.mixup_eta, gen)
        flat, c = flat_penalty(model, points, heard_inputs(model, points), along, s.flat_directions, gen)
        loss = loss + s.flat_weight * flat
        stats.update(flat=flat.item(), c=c)
        if s.walk_length_weight > 0 or s.walk_spread_weight > 0:
            ends = mu.detach()[:2 * s.walk_lines].view(2, -1, mu.shape[1])
            length, spread = walk_penalties(walk_steps(model, ends[0], ends[1], temperature=s.walk_temperature))
            loss = loss + s.walk_length_weight * length + s.walk_spread_weight * spread
            stats.update(length=length.item(), spread=spread.item())
        return loss, stats


@loss_for(AdversarialSettings)
class AdversarialLoss(VariantLoss):
    """MusAE's: reconstruction plus fooling a critic that tells the encoder's codes from the style's prior
    component, in place of the KL term; the critic gets its own updates first. With cycle_weight, the style
    cycle too (musae.cycle_loss). Every style weighs the same over the training labels."""
    terms = ("rec", "adv", "w", "cycle")

    def __init__(self, config: Config, styles: tuple[str, ...], labels: np.ndarray, device):
        if len(styles) < 2:
            raise MusicInputError(f"{' '.join(config.train.data)}: musae needs tunes of at least two styles, "
                                  f"found {len(styles)}")
        super().__init__(replace(config, model=replace(config.model, styles=styles)), styles, labels, device)
        m, s = self.config.model, self.settings
        self.critic = Critic(m.latent_dim, len(m.styles), style_weight=equal_weights(labels, len(m.styles))).to(device)
        self.optimizer = torch.optim.Adam(self.critic.parameters(), lr=s.critic_learning_rate, betas=(0.5, 0.9))
        self.prior = StylePrior(m.styles, m.latent_dim, m.style_radius, m.style_std)

    def before_step(self, model, x, labels, gen):
        """critic_steps WGAN-GP updates of the critic on this batch's codes; the last distance."""
        with torch.no_grad():
            mu, logvar = model.encode(x)
            fake = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        distance = 0.0
        for _ in range(self.settings.critic_steps):
            loss, distance = critic_loss(self.critic, self.prior.sample(labels, gen), fake, labels,
                                         self.settings.gradient_penalty)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return {"w": distance}

    def batch_loss(self, model, x, labels, step, gen):
        s = self.settings
        rec, _, _, z, p_sample = reconstruction(model, x, self.config.train.sampling_rate, step)
        adversarial = encoder_loss(self.critic, z, labels)
        loss, stats = rec + s.adversarial_weight * adversarial, {"rec": rec.item(), "p_sample": p_sample,
                                                                 "adv": adversarial.item()}
        if s.cycle_weight > 0:
            drawn = torch.randint(len(self.prior.styles), (s.cycle_codes,), generator=gen).to(x.device)
            cycle = cycle_loss(model, self.prior, drawn, gen)
            loss, stats = loss + s.cycle_weight * cycle, {**stats, "cycle": cycle.item()}
        return loss, stats

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "critic_optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["critic_optimizer"])

    def card(self) -> dict:
        p = self.prior
        return {"styles": {"names": list(p.styles), "grouping": "music_vae/styles.py",
                           "prior": f"N({p.radius} e_k, {p.std}^2 I), one component per style"}}
