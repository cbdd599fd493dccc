"""The figures of docs/architecture.md, computed one way for the CLI, the tests, benchmarks and model cards.

- teacher_forced_accuracy: share of steps where argmax given z = mu(x) and the true previous
  tokens is the true token; sampled_accuracy: the same when the decoder runs greedily on its own.
- interpolation: between mu(a) and mu(b) of pairs of bars (drawn with a fixed seed), 16 evenly
  spaced points decoded greedily; step change = share of the 16 tokens that differ between
  neighbours. interp_mean_step_change and interp_max_step_change average each pair's mean and max
  over the pairs; interp_evenness = mean / max (1.0 = perfectly even, small = one abrupt jump).
- flatness: G(z) = J^T J of the decoder (flatness.py) at mu(x) of bars, teacher-forced on x;
  flatness_condition_number is the median over bars of largest / smallest eigenvalue of G (1.0 =
  every direction changes the music equally fast), flatness_logdet_std the std over bars of
  log sqrt(det G) (0 = the same speed everywhere).
- style: a linear probe (multinomial logistic regression, classes weighted equally) fitted on mu(x)
  of training bars predicts the style (styles.py) of test bars; style_probe_accuracy is the mean
  over styles of the share of that style's bars named right (chance = 1 / number of styles).
  style_sample_accuracy (models with a style prior): bars decoded from codes drawn from each
  style's component, encoded again and named by the probe; the share named as the component's style.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .corpus import BarCorpus
from .flatness import metric_tensors
from .model import BarVAE
from .prior import StylePrior
from .styles import equal_weights, style_labels

INTERP_POINTS = 16


def step_changes(bars):
    """Share of the 16 tokens that differ between each bar and the next: bars (..., n, 16) give (..., n - 1).

    the step change of docs/architecture.md, for interpolations and for the bars of a scored clip alike; numpy or torch.
    """
    changed = bars[..., 1:, :] != bars[..., :-1, :]
    return changed.float().mean(-1) if isinstance(changed, torch.Tensor) else changed.mean(-1)


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
    change = step_changes(decoded)  # (pairs, 15)
    mean, peak = change.mean(1).mean().item(), change.max(1).values.mean().item()
    return {"interp_pairs": len(pairs), "interp_mean_step_change": mean, "interp_max_step_change": peak,
            "interp_evenness": mean / peak if peak > 0 else 1.0}


@torch.no_grad()
def flatness(model: BarVAE, bars: np.ndarray, n_bars: int = 256, seed: int = 0) -> dict:
    model.eval()
    device = next(model.parameters()).device
    pick = np.random.default_rng(seed).permutation(len(bars))[:n_bars]
    x = torch.as_tensor(np.asarray(bars)[pick], dtype=torch.long, device=device)
    mu, _ = model.encode(x)
    eig = torch.linalg.eigvalsh(metric_tensors(model, mu, model.shifted(x)).double()).clamp(min=1e-12)
    cond = eig[:, -1] / eig[:, 0]
    half_logdet = 0.5 * eig.log().sum(-1)
    return {"flatness_condition_number": cond.median().item(), "flatness_logdet_std": half_logdet.std().item()}


class StyleProbe:
    """A linear classifier of styles on codes, fitted with equal weight per style."""

    def __init__(self, codes: np.ndarray, labels: np.ndarray, names: tuple[str, ...], epochs: int = 300, seed: int = 0):
        torch.manual_seed(seed)
        self.names = names
        self.mean, self.std = codes.mean(0), codes.std(0) + 1e-6
        x, y = self._x(codes), torch.as_tensor(labels)
        weight = equal_weights(y, len(names))
        self.linear = torch.nn.Linear(x.shape[1], len(names))
        opt = torch.optim.Adam(self.linear.parameters(), lr=1e-2, weight_decay=1e-4)
        for _ in range(epochs):
            loss = F.cross_entropy(self.linear(x), y, weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def _x(self, codes: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((codes - self.mean) / self.std, dtype=torch.float32)

    @torch.no_grad()
    def predict(self, codes: np.ndarray) -> np.ndarray:
        return self.linear(self._x(codes)).argmax(-1).numpy()

    def balanced_accuracy(self, codes: np.ndarray, labels: np.ndarray) -> float:
        hit = self.predict(codes) == labels
        return float(np.mean([hit[labels == k].mean() for k in range(len(self.names)) if (labels == k).any()]))


@torch.no_grad()
def encode_bars(model: BarVAE, bars: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Mean codes (n, latent_dim) of bars (n, 16), a batch at a time."""
    model.eval()
    device = next(model.parameters()).device
    if not len(bars):
        return np.zeros((0, model.cfg.latent_dim), np.float32)
    return np.concatenate([model.encode(torch.as_tensor(np.asarray(c), dtype=torch.long, device=device))[0].cpu().numpy()
                           for c in _batches(bars, batch_size)])


def style_figures(model: BarVAE, train: BarCorpus, test: BarCorpus, max_train: int = 20000,
                  samples_per_style: int = 200, seed: int = 0) -> dict:
    """style_probe_accuracy on `test` with a probe fitted on `train`; style_sample_accuracy for MusAE."""
    names, y_train = style_labels(train)
    _, y_test = style_labels(test, names)
    keep = y_test >= 0
    if len(names) < 2 or len(np.unique(y_test[keep])) < 2:
        return {}
    pick = np.random.default_rng(seed).permutation(len(train))[:max_train]
    probe = StyleProbe(encode_bars(model, train.bars[pick]), y_train[pick], names, seed=seed)
    out = {"style_probe_accuracy": probe.balanced_accuracy(encode_bars(model, test.bars[keep]), y_test[keep]),
           "style_probe_styles": list(names)}
    styles = model.cfg.styles
    if styles and set(styles) <= set(names):
        prior = StylePrior(styles, model.cfg.latent_dim, model.cfg.style_radius, model.cfg.style_std)
        gen = torch.Generator().manual_seed(seed)
        device = next(model.parameters()).device
        per_style = {}
        for k, style in enumerate(styles):
            z = prior.sample(torch.full((samples_per_style,), k), gen).to(device)
            bars = model.decode(z).cpu().numpy()
            per_style[style] = float((probe.predict(encode_bars(model, bars)) == names.index(style)).mean())
        out["style_sample_accuracy"] = float(np.mean(list(per_style.values())))
        out["style_sample_accuracy_per_style"] = per_style
    return out


def evaluate(model: BarVAE, bars: np.ndarray, n_pairs: int = 128, seed: int = 0,
             style_data: tuple[BarCorpus, BarCorpus] | None = None) -> dict:
    """All figures of the music VAE on `bars` (n, 16); the style figures when given (train, test) corpora."""
    if len(bars) < 2:
        raise ValueError("need at least two bars to evaluate")
    return {"bars": int(len(bars)), **reconstruction_accuracy(model, bars),
            **interpolation_smoothness(model, bars, n_pairs, seed), **flatness(model, bars, seed=seed),
            **(style_figures(model, *style_data, seed=seed) if style_data else {})}
