"""The decoder's metric G(z) = J(z)^T J(z): pushed towards c*I by the flat variant, and measured.

J is the Jacobian of the decoder's output distribution over all 16 steps of a bar, teacher-forced,
taken in the square-root-probability embedding: then G is a quarter of the Fisher information of
the decoder's distribution, so "equal steps in z give equal changes in the music's probabilities".

PyTorch's CPU LSTM has no forward-mode AD (mkldnn_rnn_layer), so Jacobian-vector products are
finite differences, all directions in one batched forward pass. Training does not need all of G:
on k random orthonormal directions V, V^T G V must equal c*I whenever G does, and a fresh V every
step covers the space. That costs (k + 1) forward passes of a subset of the batch, not d of all.

G = c*I alone did not make interpolations smoother (issue 4, measured): equal speed in every
direction still lets a straight line in z wind through many other bars on its way (the plain
VAE's 16-point walks change 5x more notes in all than their two ends differ by). `bend_penalty`
asks for the other half of flatness, that the output move straight along the line: it costs
two more forward passes per point and is what shortens the walks.

Both are teacher-forced, and a person hears greedy decoding, where one token that changes is
fed back and can rewrite the rest of the bar; `cascade_penalty` asks that it does not (one more
forward pass per point). It is what lowers the largest step of a walk.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import BarVAE

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

    A mixup point has no true bar, and the greedy bar is the one a person hears there.
    """
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


def bend_penalty(model: BarVAE, z: torch.Tensor, inputs: torch.Tensor, along: torch.Tensor, fraction: float) -> torch.Tensor:
    """How far the music bends along the mixup line at z: |f(z - h) - 2 f(z) + f(z + h)|^2, h = fraction * along.

    A flat G makes every step equally fast, but a path can be evenly fast and still wind through
    many other bars. Zero second difference means the output moves straight from one bar's
    probabilities to the other's: each step of the bar changes its token once, not back and forth.
    Teacher-forced on `inputs` (`heard_inputs`), as the flat penalty.
    """
    h = fraction * along
    f = output_embedding(model, torch.cat([z - h, z, z + h]), inputs.repeat(3, 1)).view(3, len(z), -1)
    return (f[0] - 2 * f[1] + f[2]).pow(2).sum(-1).mean()


def cascade_penalty(model: BarVAE, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """How much the rest of the bar changes when the token of the greedy bar nearest to flipping flips.

    G and the bend are teacher-forced, so they see each token's own probabilities move smoothly,
    but a person hears greedy decoding: where one token's argmax changes, every later step is
    decoded after the new token, and the plain VAE then rewrites the rest of the bar (measured,
    issue 4: at the biggest step of a walk, 1.1 tokens flip teacher-forced and 6.9 greedily, on
    one step of 1/150 of the line as on 1/15). So at each point the step whose two likeliest
    tokens are closest is set to the second, and the decoder, given that, is asked to keep every
    later step of the greedy bar: the cross-entropy of the steps after it, summed, averaged over
    the points. The nearest step is the one a walk from this point is likeliest to flip first;
    in short runs, flipping a random step instead bought a little less for the accuracy it cost.
    """
    with torch.no_grad():
        probs = model.logits(z, inputs).softmax(-1)
        top = probs.topk(2, dim=-1)
        bar, second = top.indices[..., 0], top.indices[..., 1]
        margin = (top.values[..., 0] - top.values[..., 1])[:, :-1]   # the last step has nothing after it
        t = margin.argmin(1, keepdim=True)
        at = torch.arange(bar.shape[1], device=z.device)[None, :]
        flipped = torch.where(at == t, second, bar)
    ce = F.cross_entropy(model.logits(z, model.shifted(flipped)).transpose(1, 2), bar, reduction="none")
    return (ce * (at > t)).sum(1).mean()
