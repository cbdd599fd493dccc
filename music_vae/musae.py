"""MusAE's training parts: the critic on z, and the style cycle.

The prior is a Gaussian mixture with one component per style (prior.StylePrior). The critic
scores a code with its style's own output and is trained with WGAN-GP to tell codes drawn from
that style's component from codes the encoder gives bars of that style; the encoder is trained
to fool it. Every style weighs the same in both losses. The two are updated in
alternation: a joint step on one loss would have the critic's and the encoder's terms cancel.

The critic only shapes where the encoder puts real bars; the decoder is never asked what it makes
of a code drawn from a component. The style cycle asks it: a prior code z of style k is decoded
greedily, and the bar, read by the encoder, must come back to style k's component (the mixture's
posterior of k; asking for z itself cost accuracy for little gain). The encoder is held fixed in
that term (only the decoder learns from it), so the decoder has to write bars that the encoder,
trained on real bars, itself places in style k; the encoder cannot learn to recognise the
decoder's output.
Gradients pass the discrete tokens straight through (one-hot forward, softmax backward).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .model import BarVAE
from .prior import StylePrior


class Critic(nn.Module):
    """A shared body with one output per style; a code is scored by its own style's output.

    One head per style makes the critic compare each style's codes with that style's component
    only. A style fed in as a one-hot input let the critic ignore it: it then compared all codes
    with the whole mixture, and the encoder sent every style to the commonest component.
    """

    def __init__(self, latent_dim: int, n_styles: int, hidden: int = 256, style_weight: torch.Tensor | None = None):
        super().__init__()
        self.n_styles = n_styles
        # Each style weighs the same in both losses, however many bars it has (styles.equal_weights):
        # weighted by bars, the encoder gains most by moving every code to the commonest style's component.
        self.register_buffer("style_weight", torch.ones(n_styles) if style_weight is None else style_weight.float())
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_styles))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(z).gather(1, labels[:, None])[:, 0]


def critic_loss(critic: Critic, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor,
                gp_weight: float) -> tuple[torch.Tensor, float]:
    """WGAN-GP: E critic(fake) - E critic(real) + gp_weight * (|grad at a mix| - 1)^2; and the distance."""
    w = critic.style_weight[labels]
    w = w / w.sum()
    a = torch.rand(len(real), 1, device=real.device)
    mix = (a * real + (1 - a) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mix, labels).sum(), mix, create_graph=True)
    distance = (w * (critic(real, labels) - critic(fake, labels))).sum()
    return -distance + gp_weight * (w * (grad.norm(dim=1) - 1) ** 2).sum(), distance.item()


def encoder_loss(critic: Critic, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """What the encoder minimises: minus the critic's score of its codes."""
    w = critic.style_weight[labels]
    return -(w * critic(z, labels)).sum() / w.sum()


def encode_fixed(model: BarVAE, tokens: torch.Tensor) -> torch.Tensor:
    """mu of bars given as (batch, 16, vocab) rows of one-hot (or soft) tokens, with the encoder's weights held fixed."""
    weights = [p for m in (model.encoder, model.to_mu, model.to_logvar) for p in m.parameters() if p.requires_grad]
    for p in weights:
        p.requires_grad_(False)
    try:
        return model.encode_embedded(tokens @ model.embed.weight[:tokens.shape[-1]].detach())[0]
    finally:
        for p in weights:
            p.requires_grad_(True)


def cycle_loss(model: BarVAE, prior: StylePrior, labels: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """How surely codes drawn from the labels' components come back there once decoded and read again.

    The cross-entropy of the mixture's posterior over components for the code of the decoded bar.
    It stops pulling once that code is clearly in its own component, and leaves the other axes to
    the music (asking for z itself back costs reconstruction accuracy for little gain).
    """
    z = prior.sample(labels, generator)
    with torch.no_grad():
        tokens = model.decode(z)
    probs = F.softmax(model.logits(z, model.shifted(tokens)), dim=-1)
    hard = F.one_hot(tokens, probs.shape[-1]).to(probs.dtype)
    back = encode_fixed(model, hard + probs - probs.detach())
    means = prior.means.to(z.device)
    logits = -(back[:, None, :] - means[None]).pow(2).sum(-1) / (2 * prior.std ** 2)
    return F.cross_entropy(logits, labels)
