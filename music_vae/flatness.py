"""The decoder's metric G(z) = J(z)^T J(z): pushed towards c*I by the flat variant, and measured.

J is the Jacobian of the decoder's output distribution over all 16 steps of a bar, teacher-forced,
taken in the square-root-probability embedding: then G is a quarter of the Fisher information of
the decoder's distribution, so "equal steps in z give equal changes in the music's probabilities".

PyTorch's CPU LSTM has no forward-mode AD (mkldnn_rnn_layer), so Jacobian-vector products are
finite differences, all directions in one batched forward pass. Training does not need all of G:
on k random orthonormal directions V, V^T G V must equal c*I whenever G does, and a fresh V every
step covers the space. That costs (k + 1) forward passes of a subset of the batch, not d of all.

G = c*I alone does not make interpolations smoother: equal speed in every direction still lets a
straight line in z wind through many other bars on its way. So the flat variant also decodes
whole walks between codes of the batch and asks that they be short and even (`walk_steps`,
`walk_penalties`): the step changes a person hears, made differentiable.

An autoregressive decoder feeds back each note it plays, so one note that changes can rewrite the
rest of the bar, and penalties on that cost accuracy. The flat variant's decoder is therefore not
fed its past (ModelConfig.autoregressive=False): each step of the bar depends on the code alone,
the teacher-forced G is the metric of what is played, and no change can cascade. The README gives
the figures that led here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import BarVAE
from .representation import STEPS_PER_BAR

FD_STEP = 0.02  # finite-difference step in latent units (codes have unit scale)


def output_embedding(model: BarVAE, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """sqrt of the decoder's token probabilities, all steps flattened: (n, 16 * vocab)."""
    return F.softmax(model.logits(z, inputs), dim=-1).sqrt().flatten(1)


def jacobian_products(model: BarVAE, z: torch.Tensor, inputs: torch.Tensor, directions: torch.Tensor,
                      step: float = FD_STEP) -> torch.Tensor:
    """J(z) v for each direction: directions (n, k, d) give (n, k, 16 * vocab), forward differences."""
    n, k, d = directions.shape
    codes = torch.cat([z, (z[:, None] + step * directions).reshape(n * k, d)])
    f = output_embedding(model, codes, torch.cat([inputs, inputs.repeat_interleave(k, dim=0)]))
    return (f[n:].view(n, k, -1) - f[:n, None]) / step


def random_frames(along: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k orthonormal directions per row of `along` (n, d): that row's direction, then random ones. (n, k, d)"""
    n, d = along.shape
    a = torch.cat([along[:, :, None].cpu(), torch.randn(n, d, k - 1, generator=generator)], dim=2)
    q, _ = torch.linalg.qr(a)
    return q.transpose(1, 2).to(along.device)


def mixup(codes: torch.Tensor, eta: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z = a * z1 + (1 - a) * z2 for random pairs of the batch, a uniform on [-eta, 1 + eta]; and z1 - z2."""
    other = codes[torch.randperm(len(codes), generator=generator)]
    a = (torch.rand(len(codes), 1, generator=generator) * (1 + 2 * eta) - eta).to(codes.device)
    return a * codes + (1 - a) * other, codes - other


@torch.no_grad()
def heard_inputs(model: BarVAE, z: torch.Tensor) -> torch.Tensor:
    """Decoder inputs at mixup points: the bar decoded greedily at z itself, shifted for teacher forcing.

    A mixup point has no true bar, and the greedy bar is the one a person hears there. A decoder
    that is not fed its past (ModelConfig.autoregressive=False) ignores them: no decoding then.
    """
    if not model.cfg.autoregressive:
        return torch.full((len(z), STEPS_PER_BAR), model.start_token, dtype=torch.long, device=z.device)
    return model.shifted(model.decode(z))


def flat_penalty(model: BarVAE, z: torch.Tensor, inputs: torch.Tensor, along: torch.Tensor, k: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """How far V^T G V is from c*I, c the batch mean of trace(G) / d (held fixed); and c.

    Measured in a form that stays bounded for a metric far from flat (the plain VAE's G has
    condition numbers near 10^6): the squared log of each diagonal entry over c, plus the squared
    correlation of each pair of directions. Both are zero exactly when V^T G V = c*I.

    The first of the k directions is the one the mixup line runs along (`along`), the direction a
    person's interpolation takes; the others are random. The decoder is teacher-forced on `inputs`
    (`heard_inputs`).
    """
    v = random_frames(along, k, generator)
    u = jacobian_products(model, z, inputs, v)
    m = u @ u.transpose(1, 2)                                      # V^T G V, (n, k, k)
    diag = m.diagonal(dim1=1, dim2=2)
    c = diag.mean().detach().clamp(min=1e-12)                      # E trace(V^T G V)/k = trace(G)/d
    diag = diag.clamp(min=1e-4 * c)
    scale = diag.log() - c.log()
    corr = m / (diag[:, :, None] * diag[:, None, :]).sqrt()
    off = corr - torch.diag_embed(corr.diagonal(dim1=1, dim2=2))
    return ((scale ** 2).sum(1) + (off ** 2).sum((1, 2))).mean() / k, c.item()


@torch.no_grad()
def metric_tensors(model: BarVAE, z: torch.Tensor, inputs: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """The full G(z) (n, d, d) from central differences along every latent axis."""
    d = z.shape[1]
    eye = torch.eye(d, device=z.device)
    out = []
    for i in range(0, len(z), batch):
        zb, ib = z[i:i + batch], inputs[i:i + batch]
        n = len(zb)
        codes = torch.cat([(zb[:, None] + FD_STEP * eye).reshape(-1, d), (zb[:, None] - FD_STEP * eye).reshape(-1, d)])
        f = output_embedding(model, codes, ib.repeat_interleave(d, dim=0).repeat(2, 1))
        j = (f[:n * d] - f[n * d:]).view(n, d, -1) / (2 * FD_STEP)   # rows: J e_i
        out.append(j @ j.transpose(1, 2))
    return torch.cat(out)


def walk_steps(model: BarVAE, a: torch.Tensor, b: torch.Tensor, points: int = 16, temperature: float = 0.2) -> torch.Tensor:
    """The steps of the decoded walks from a to b (walks, points - 1), differentiable.

    A step is the share of the bar's tokens that change between neighbouring points of the walk
    (the step change of docs/architecture.md), made differentiable as the total-variation distance between the two
    points' token distributions sharpened by `temperature`. Each point's distributions are taken
    given that point's own greedy bar (`heard_inputs`), so their argmax is the bar a person hears
    there: sharp, the distance counts the notes that change, including those an autoregressive
    decoder rewrites after one changed note.
    """
    t = torch.linspace(0, 1, points, device=a.device)[None, :, None]
    z = ((1 - t) * a[:, None] + t * b[:, None]).flatten(0, 1)
    p = F.softmax(model.logits(z, heard_inputs(model, z)) / temperature, dim=-1).view(len(a), points, STEPS_PER_BAR, -1)
    return 0.5 * (p[:, 1:] - p[:, :-1]).abs().sum(-1).mean(-1)


def walk_penalties(steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How long and how uneven walks are: the mean over walks of L^2 and of n * sum of (step - mean step)^2.

    Their sum is the walk's energy n * sum of step^2 (n steps adding up to L), lowest for a walk
    that is short and changes the same number of notes at every step: the discrete form of Chen
    et al.'s aim that a straight line in z be a constant-speed geodesic of the music. Apart, they
    let the loss ask more for even steps than for short walks.
    """
    n = steps.shape[1]
    length = steps.sum(1)
    return length.pow(2).mean(), (n * (steps - length[:, None] / n).pow(2).sum(1)).mean()
