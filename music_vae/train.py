"""Training the bar VAE and its variants: the whole loop on one screen.

Loss as in MusicVAE: cross-entropy summed over the 16 steps, plus beta (annealed up to
beta_max) times the KL above the free bits; scheduled sampling feeds the decoder its own
samples at a growing rate. `flat` adds the flat-manifold penalties on mixup points of the batch's
codes (flatness.py); `musae` replaces the KL term with fooling a critic, which gets its own updates first.
Bars are transposed at random each batch. The checkpoint OUT.pt (weights + config) and
OUT.train.pt (optimisers, step; what --resume continues from) are rewritten every eval_every
steps; the model card OUT.json is written at the end.
"""
from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import atomic_torch_save, load_model, resolve_model, save_checkpoint, write_model_card
from .configs import Config
from .corpus import BarCorpus, load_corpus
from .errors import MusicInputError
from .flatness import flat_penalty, heard_inputs, mixup, walk_penalties, walk_steps
from .metrics import evaluate, reconstruction_accuracy
from .model import BarVAE, parameter_count, resolve_device
from .musae import Critic, StylePrior, critic_loss, cycle_loss, encoder_loss
from .representation import FIRST_PITCH_TOKEN, VOCAB_SIZE, pitch_bounds
from .styles import equal_weights, style_labels

# The loss terms a step reports, shown on the progress bar and kept in the model card.
LOSS_TERMS = ("rec", "kl_bits", "flat", "length", "spread", "adv", "w", "cycle")


def transposer(bars: torch.Tensor, lo: int, hi: int, generator: torch.Generator):
    """A function that transposes a batch of bar indices by a random shift that keeps every note on the piano."""
    low, high = (torch.as_tensor(a) for a in pitch_bounds(bars.numpy()))
    min_shift = torch.clamp(FIRST_PITCH_TOKEN - low, min=lo)
    max_shift = torch.clamp(VOCAB_SIZE - 1 - high, max=hi)

    def batch(idx: torch.Tensor) -> torch.Tensor:
        a, b = min_shift[idx], max_shift[idx]
        shift = a + (torch.rand(len(idx), generator=generator) * (b - a + 1)).long().clamp(max=b - a)
        x = bars[idx]
        return torch.where(x >= FIRST_PITCH_TOKEN, x + shift[:, None], x)
    return batch


def double_time_pairs(bars: np.ndarray, tune: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two neighbouring bars of a tune on the eighth-note grid, written as one bar of sixteenths.

    Folk books write the same reel as 4/4 in eighths (O'Neill's) or as 2/4 in sixteenths (Ryan's);
    paired 2/4 bars then hold sixteen notes where the 4/4 bars hold eight. These pairs teach the
    model the dense way of writing from tunes written the sparse way. Also gives the index of
    each pair's first bar.
    """
    on_eighths = (bars[:, 1::2] == 0).all(axis=1)
    ok = (tune[:-1] == tune[1:]) & on_eighths[:-1] & on_eighths[1:]
    i = np.flatnonzero(ok)
    return np.concatenate([bars[i, ::2], bars[i + 1, ::2]], axis=1), i


def reconstruction(model: BarVAE, x: torch.Tensor, cfg, step: int):
    """Cross-entropy per bar with scheduled sampling; also mu, logvar, the sampled z and the sampling rate."""
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    inputs = model.shifted(x)
    p_sample = 1.0 - cfg.sampling_rate / (cfg.sampling_rate + math.exp(min(step / cfg.sampling_rate, 50.0)))
    if p_sample > 0 and model.cfg.autoregressive:  # scheduled sampling: some inputs replaced by the model's own samples
        with torch.no_grad():
            own = torch.distributions.Categorical(logits=model.logits(z, inputs)).sample()
        swap = torch.rand(x.shape, device=x.device) < p_sample
        swap[:, 0] = False
        inputs = torch.where(swap, torch.cat([inputs[:, :1], own[:, :-1]], 1), inputs)
    logits = model.logits(z, inputs)
    rec = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), reduction="sum") / len(x)
    return rec, mu, logvar, z, p_sample


def kl_penalty(mu: torch.Tensor, logvar: torch.Tensor, cfg, step: int) -> tuple[torch.Tensor, dict]:
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
    beta = cfg.beta_max * (1.0 - cfg.beta_rate ** step)
    return beta * torch.clamp(kl - cfg.free_bits * math.log(2.0), min=0.0), \
        {"kl_bits": kl.item() / math.log(2.0), "beta": beta}


def variant_loss(model: BarVAE, x: torch.Tensor, labels: torch.Tensor, cfg, step: int,
                 gen: torch.Generator, critic: Critic | None = None,
                 prior: StylePrior | None = None) -> tuple[torch.Tensor, dict]:
    """The loss of cfg.variant for one batch (the critic's own update is `critic_update`)."""
    rec, mu, logvar, z, p_sample = reconstruction(model, x, cfg, step)
    stats = {"rec": rec.item(), "p_sample": p_sample}
    if cfg.variant == "musae":
        adversarial = encoder_loss(critic, z, labels)
        loss, stats = rec + cfg.adversarial_weight * adversarial, {**stats, "adv": adversarial.item()}
        if cfg.cycle_weight > 0:
            drawn = torch.randint(len(prior.styles), (cfg.cycle_codes,), generator=gen).to(x.device)
            cycle = cycle_loss(model, prior, drawn, gen)
            loss, stats = loss + cfg.cycle_weight * cycle, {**stats, "cycle": cycle.item()}
        return loss, stats
    penalty, kl_stats = kl_penalty(mu, logvar, cfg, step)
    loss = rec + penalty
    stats.update(kl_stats)
    if cfg.variant == "flat" and step % cfg.flat_every == 0:
        points, along = mixup(mu.detach()[:cfg.flat_subset], cfg.mixup_eta, gen)
        inputs = heard_inputs(model, points)
        flat, c = flat_penalty(model, points, inputs, along, cfg.flat_directions, gen)
        loss = loss + cfg.flat_weight * flat
        stats.update(flat=flat.item(), c=c)
        if cfg.walk_length_weight > 0 or cfg.walk_spread_weight > 0:
            ends = mu.detach()[:2 * cfg.walk_lines].view(2, -1, mu.shape[1])
            length, spread = walk_penalties(walk_steps(model, ends[0], ends[1], temperature=cfg.walk_temperature))
            loss = loss + cfg.walk_length_weight * length + cfg.walk_spread_weight * spread
            stats.update(length=length.item(), spread=spread.item())
    return loss, stats


def critic_update(critic: Critic, opt: torch.optim.Optimizer, model: BarVAE, x: torch.Tensor,
                  labels: torch.Tensor, prior: StylePrior, cfg, gen: torch.Generator) -> float:
    """cfg.critic_steps WGAN-GP updates of the critic on this batch's codes; the last distance."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
        fake = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    distance = 0.0
    for _ in range(cfg.critic_steps):
        loss, distance = critic_loss(critic, prior.sample(labels, gen), fake, labels, cfg.gradient_penalty)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return distance


def musae_adversary(config: Config, labels: np.ndarray, device) -> tuple[Critic, torch.optim.Optimizer, StylePrior]:
    """MusAE's critic (every style weighted the same over `labels`), its optimiser, and the prior."""
    m, styles = config.model, config.model.styles
    critic = Critic(m.latent_dim, len(styles), style_weight=equal_weights(labels, len(styles))).to(device)
    opt = torch.optim.Adam(critic.parameters(), lr=config.train.critic_learning_rate, betas=(0.5, 0.9))
    return critic, opt, StylePrior(styles, m.latent_dim, m.style_radius, m.style_std)


def training_step(model: BarVAE, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, cfg, step: int,
                  gen: torch.Generator, adversary: tuple | None = None) -> dict:
    """One update of cfg.variant; `adversary` = (critic, its optimiser, prior) for musae, updated first."""
    critic, opt_critic, prior = adversary or (None, None, None)
    distance = critic_update(critic, opt_critic, model, x, y, prior, cfg, gen) if critic is not None else None
    loss, stats = variant_loss(model, x, y, cfg, step, gen, critic, prior)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return stats if distance is None else {**stats, "w": distance}


def initial_weights(model: BarVAE, name_or_path: str, device) -> dict:
    """Load another trained model's weights into `model` (same shape); what the card records of it."""
    path = resolve_model(name_or_path)
    source, source_config, ckpt = load_model(path, device)
    shape = lambda m: replace(m, styles=(), style_radius=0, style_std=0, autoregressive=True)  # what sizes the weights
    if shape(source_config.model) != shape(model.cfg):
        raise MusicInputError(f"{path}: its shape differs from this configuration's; cannot start from it")
    model.load_state_dict(source.state_dict())
    return {"model": str(name_or_path), "variant": source_config.train.variant, "steps": ckpt.get("step")}


def train(config: Config, out: Path, corpus: BarCorpus | None = None, resume: bool = False,
          device: str = "auto", progress: bool = True) -> dict:
    """Train, checkpoint, and return the model card (also written beside the checkpoint)."""
    from tqdm import tqdm

    cfg, out = config.train, Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state_path = out.with_name(out.stem + ".train.pt")
    dev = resolve_device(device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    corpus = corpus if corpus is not None else load_corpus(list(cfg.data), progress=progress)
    train_set, valid_set = corpus.split("train", cfg.split_seed), corpus.split("valid", cfg.split_seed)
    if len(train_set) < 2:
        raise MusicInputError(f"{' '.join(cfg.data)}: too little to train on ({len(train_set)} bars in the training split)")
    styles, train_labels = style_labels(train_set)
    train_bars = train_set.bars
    if cfg.double_time:
        pairs, first = double_time_pairs(train_set.bars, train_set.tune)
        train_bars, train_labels = np.concatenate([train_bars, pairs]), np.concatenate([train_labels, train_labels[first]])
    data, labels = torch.as_tensor(train_bars.astype(np.int64)), torch.as_tensor(train_labels)
    batch_of = transposer(data, *cfg.transpose, gen)
    watch = valid_set if len(valid_set) else train_set  # a tiny corpus may have no validation tune
    valid_bars = watch.bars[np.random.default_rng(0).permutation(len(watch))[:2048]]

    critic = prior = opt_critic = None
    if cfg.variant == "musae":
        if len(styles) < 2:
            raise MusicInputError(f"{' '.join(cfg.data)}: musae needs tunes of at least two styles, found {len(styles)}")
        config = replace(config, model=replace(config.model, styles=styles))
        critic, opt_critic, prior = musae_adversary(config, train_labels, dev)
    model = BarVAE(config.model).to(dev)
    started_from = initial_weights(model, cfg.init_from, dev) if cfg.init_from else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    step, wall = 0, 0.0
    if resume and not state_path.exists():
        tqdm.write(f"{state_path}: nothing to resume from; training from the start")
    elif resume:
        state = torch.load(state_path, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, wall = state["step"], state["wall_seconds"]
        if critic is not None:
            critic.load_state_dict(state["critic"])
            opt_critic.load_state_dict(state["critic_optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])

    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=not progress)
    t0, stats, valid = time.time() - wall, {}, {}
    while step < cfg.steps:
        model.train()
        lr = max(cfg.min_learning_rate, cfg.learning_rate * cfg.decay_rate ** step)
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(len(data), (cfg.batch_size,), generator=gen)
        x, y = batch_of(idx).to(dev), labels[idx].to(dev)
        stats = training_step(model, opt, x, y, cfg, step, gen, (critic, opt_critic, prior) if critic else None)
        step += 1
        bar.update()
        bar.set_postfix(rec=f"{stats['rec']:.2f}", **{k: f"{stats[k]:.3g}" for k in LOSS_TERMS[1:] if k in stats},
                        **valid)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            acc = reconstruction_accuracy(model, valid_bars)
            valid = {"tf": f"{acc['teacher_forced_accuracy']:.3f}", "sampled": f"{acc['sampled_accuracy']:.3f}"}
            save_checkpoint(out, model, config, step)
            atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                               "wall_seconds": time.time() - t0, "generator": gen.get_state(),
                               "torch_rng": torch.get_rng_state(),
                               **({"critic": critic.state_dict(), "critic_optimizer": opt_critic.state_dict()}
                                  if critic is not None else {})}, state_path)
    bar.close()
    wall = time.time() - t0
    model, _, _ = load_model(out, dev)  # the card describes the weights as stored (float16)

    test_set = corpus.split("test", cfg.split_seed)
    card = {
        "model": out.stem,
        "variant": cfg.variant,
        "parameters": parameter_count(model),
        "data": {"sources": list(cfg.data), "split_seed": cfg.split_seed,
                 "split": "by tune, sha256 of seed and tune id: 90% train, 5% valid, 5% test",
                 "bars": {"train": len(train_set), "valid": len(valid_set), "test": len(test_set)},
                 "bars_per_style": corpus.report()["bars_per_style"],
                 "augmentation": f"random transposition {cfg.transpose[0]}..{cfg.transpose[1]} semitones"
                                 + (f"; {len(train_bars) - len(train_set)} double-time bars from pairs on the "
                                    "eighth-note grid" if cfg.double_time else "")},
        "training": {"steps": step, "batch_size": cfg.batch_size, "wall_seconds": round(wall, 1),
                     "started_from": started_from,
                     "final": {k: round(stats[k], 4) for k in LOSS_TERMS if k in stats}},
        **({"styles": {"names": list(styles), "grouping": "music_vae/styles.py",
                       "prior": f"N({config.model.style_radius} e_k, {config.model.style_std}^2 I), one component per style"}}
           if prior is not None else {}),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch": torch.__version__, "device": str(dev),
                    "threads": torch.get_num_threads()},
        "metrics": {"test": evaluate(model, test_set.bars, style_data=(train_set, test_set)) if len(test_set) >= 2 else {},
                    **{name: evaluate(model, load_corpus([name], progress=progress).bars)
                       for name in cfg.held_out}},
        "config": config.to_dict(),
        "reproduce": f"score-av train music --variant {cfg.variant} --out {out}",
    }
    write_model_card(out, card)
    return card
