"""Training the bar VAE and its variants: the whole loop on one screen.

The loss is the variant's (variants.py), chosen by the settings the configuration holds: MusicVAE's
cross-entropy summed over the 16 steps with scheduled sampling, plus beta times the KL above the free
bits (`vae`); plus the flat-manifold penalties (`flat`); or a critic to fool in place of the KL term,
which gets its own updates first (`musae`). Bars are transposed at random each batch. The checkpoint
OUT.pt (weights + config) and OUT.train.pt (optimisers, the loss's own state, step; what --resume
continues from) are rewritten every eval_every steps; the model card OUT.json is written at the end.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from modelkit import atomic_torch_save, machine_record, parameter_count, start_training

from .checkpoint import load_model, resolve_model, save_checkpoint, write_model_card
from .configs import Config
from .corpus import BarCorpus, load_corpus
from .errors import MusicInputError
from .metrics import evaluate, reconstruction_accuracy
from .model import BarVAE
from .representation import FIRST_PITCH_TOKEN, VOCAB_SIZE, pitch_bounds
from .styles import style_labels
from .variants import VariantLoss, build_loss


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


def training_step(model: BarVAE, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, cfg, step: int,
                  gen: torch.Generator, loss: VariantLoss) -> dict:
    """One update with the variant's loss; its own parts (musae's critic) are updated first."""
    before = loss.before_step(model, x, y, gen)
    value, stats = loss.batch_loss(model, x, y, step, gen)
    opt.zero_grad(set_to_none=True)
    value.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return {**stats, **before}


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
          device: str = "auto", progress: bool = True, reproduce: str | None = None) -> dict:
    """Train, checkpoint, and return the model card (also written beside the checkpoint).

    `reproduce` is the command the card gives for this model (default: the variant's plain command).
    """
    from tqdm import tqdm

    cfg = config.train
    out, state_path, dev, gen = start_training(out, cfg.seed, device)
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

    loss = build_loss(config, styles, train_labels, dev)
    config = loss.config  # with what the loss adds to the model (musae: its styles)
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
        loss.load_state_dict(state)
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
        stats = training_step(model, opt, x, y, cfg, step, gen, loss)
        step += 1
        bar.update()
        bar.set_postfix(rec=f"{stats['rec']:.2f}", **{k: f"{stats[k]:.3g}" for k in loss.terms[1:] if k in stats},
                        **valid)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            acc = reconstruction_accuracy(model, valid_bars)
            valid = {"tf": f"{acc['teacher_forced_accuracy']:.3f}", "sampled": f"{acc['sampled_accuracy']:.3f}"}
            save_checkpoint(out, model, config, step)
            atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                               "wall_seconds": time.time() - t0, "generator": gen.get_state(),
                               "torch_rng": torch.get_rng_state(), **loss.state_dict()}, state_path)
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
                     "final": {k: round(stats[k], 4) for k in loss.terms if k in stats}},
        **loss.card(),
        "machine": machine_record(dev),
        "metrics": {"test": evaluate(model, test_set.bars, style_data=(train_set, test_set)) if len(test_set) >= 2 else {},
                    **{name: evaluate(model, load_corpus([name], progress=progress).bars)
                       for name in cfg.held_out}},
        "config": config.to_dict(),
        "reproduce": reproduce or f"score-av train music --variant {cfg.variant} --out {out}",
    }
    write_model_card(out, card)
    return card
