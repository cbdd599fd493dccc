"""Training the frame VAE: the whole loop on one screen.

Loss: the squared error summed over the pixels, plus beta (reached linearly over beta_warmup
steps) times the KL of each latent dimension, where the KL a dimension carries below
free_bits_per_dim costs nothing: that keeps dimensions in use instead of letting the prior
switch them off, and a dimension that is off would leave the music deaf to the picture.
Batches are flipped and cropped at random. Validation frames are whole scenes (synthetic footage)
or whole blocks of consecutive frames (a person's footage), never neighbours of training frames.
At the end the per-dimension mean and std of mu over the training frames are stored with the
weights (OUT.pt, written once, complete) and the model card OUT.json gets the validation figures.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from modelkit import machine_record, parameter_count, resolve_device

from .checkpoint import save_checkpoint, write_model_card
from .configs import Config, TrainConfig
from .errors import VideoVAEError
from .metrics import encode_frames, evaluate, kl_per_dim, latent_stats, reconstruction
from .model import ConvVAE
from .preprocess import resize_frames
from .scenes import scenes

STATS_FRAMES = 4096  # latent statistics from at most this many evenly spaced frames: enough for a std to 1-2%


def synthetic_frames(config: Config) -> np.ndarray:
    """The config's synthetic scenes, one after another, at the model's image size."""
    t, size = config.train, config.model.image_size
    return np.concatenate([resize_frames(s, size) for s in
                           scenes(t.data_seed, t.synthetic_scenes, t.frames_per_scene, t.synthetic_height, t.synthetic_width)])


def split_blocks(n: int, block: int, valid_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices: every k-th block of `block` consecutive frames is held out
    (k = 1 / valid_share). With fewer than two blocks nothing can be held out: both are all frames."""
    blocks = np.arange(n) // max(1, block)
    n_blocks = int(blocks[-1]) + 1 if n else 0
    if n_blocks < 2 or valid_share <= 0:
        return np.arange(n), np.arange(n)
    every = max(2, round(1.0 / valid_share))
    held = blocks % every == every // 2
    if not held.any():
        held = blocks == n_blocks - 1
    return np.flatnonzero(~held), np.flatnonzero(held)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Half the frames mirrored; half cropped to 80-100% of the frame at a random place, resized back."""
    n = len(x)
    r = torch.rand(n, 5, generator=gen).to(x.device)
    scale = torch.where(r[:, 0] < 0.5, torch.ones_like(r[:, 0]), 1.0 - 0.2 * r[:, 1])
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = scale * torch.where(r[:, 2] < 0.5, -1.0, 1.0)
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = (1.0 - scale) * (2 * r[:, 3] - 1)
    theta[:, 1, 2] = (1.0 - scale) * (2 * r[:, 4] - 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def vae_loss(model: ConvVAE, x: torch.Tensor, cfg: TrainConfig, beta: float) -> tuple[torch.Tensor, dict]:
    recon, mu, logvar = model(x)
    rec = (recon - x).pow(2).flatten(1).sum(1).mean()
    kl = kl_per_dim(mu, logvar)
    loss = rec + beta * torch.clamp(kl, min=cfg.free_bits_per_dim * math.log(2.0)).sum()
    return loss, {"mse": rec.item() / x[0].numel(), "kl_bits": kl.sum().item() / math.log(2.0)}


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then a cosine from learning_rate down to min_learning_rate."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_learning_rate + 0.5 * (cfg.learning_rate - cfg.min_learning_rate) * (1 + math.cos(math.pi * p))


def _batch(data: torch.Tensor, batch_size: int, gen: torch.Generator) -> torch.Tensor:
    """A random batch of uint8 frames (n, h, w, 3) as float (batch, 3, h, w) in [0, 1]."""
    idx = torch.randint(len(data), (batch_size,), generator=gen).to(data.device)
    return data[idx].permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _step(model: ConvVAE, opt, x: torch.Tensor, cfg: TrainConfig, beta: float) -> dict:
    model.train()
    loss, stats = vae_loss(model, x, cfg, beta)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return stats


def set_latent_stats(model: ConvVAE, frames: np.ndarray) -> None:
    """Store the per-dimension mean and std of mu over (evenly spaced) frames in the model."""
    idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), STATS_FRAMES)).round().astype(int))
    mean, std = latent_stats(encode_frames(model, frames[idx])[0])
    model.latent_mean.copy_(mean)
    model.latent_std.copy_(std)


def train(config: Config, frames: np.ndarray | None, out_path: Path, device: str = "auto", progress: bool = True,
          source: str | None = None, reproduce: str | None = None) -> dict:
    """Train on uint8 RGB frames (n, h, w, 3) of any size, or on the config's synthetic scenes when
    frames is None; write the checkpoint and model card; return the card."""
    from tqdm import tqdm

    cfg, size, out = config.train, config.model.image_size, Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    synthetic = frames is None
    if synthetic:
        frames, block = synthetic_frames(config), cfg.frames_per_scene
        source = source or (f"synthetic scenes (video_vae.scenes), data seed {cfg.data_seed}: {cfg.synthetic_scenes} "
                            f"scenes x {cfg.frames_per_scene} frames, drawn at {cfg.synthetic_width}x{cfg.synthetic_height}")
    else:
        frames, block = resize_frames(frames, size), cfg.block_frames
        source = source or "frames given by the caller"
    if len(frames) == 0:
        raise VideoVAEError(f"{source}: no frames to train on")
    train_idx, valid_idx = split_blocks(len(frames), block, cfg.valid_share)
    held_out = len(valid_idx) < len(frames)
    data = torch.from_numpy(frames[train_idx]).to(dev)
    valid_frames = frames[valid_idx]
    watch = valid_frames[np.linspace(0, len(valid_frames) - 1, min(len(valid_frames), 512)).astype(int)]

    model = ConvVAE(config.model).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    bar = tqdm(total=cfg.steps, desc="training", unit="step", disable=not progress)
    t_train, stats, valid = time.time(), {}, {}
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        x = _batch(data, cfg.batch_size, gen)
        if cfg.augment:
            x = augment(x, gen)
        stats = _step(model, opt, x, cfg, cfg.beta * min(1.0, (step + 1) / max(1, cfg.beta_warmup)))
        bar.update()
        bar.set_postfix(mse=f"{stats['mse']:.4f}", kl=f"{stats['kl_bits']:.0f}b", **valid)
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            valid = {"valid_psnr": f"{reconstruction(model, watch)['psnr_db']:.1f}dB"}
    bar.close()
    train_seconds = time.time() - t_train

    set_latent_stats(model, frames[train_idx])
    save_checkpoint(out, model, config, cfg.steps)
    metrics = evaluate(model, valid_frames) if len(valid_frames) >= 2 else {}
    every = max(2, round(1.0 / cfg.valid_share)) if cfg.valid_share > 0 else 0
    card = {
        "model": out.stem,
        "kind": "video_vae",
        "parameters": parameter_count(model),
        "file_bytes": out.stat().st_size,
        "data": {"source": source, "image_size": size,
                 "frames": {"train": int(len(train_idx)), "valid": int(len(valid_idx)) if held_out else 0},
                 "split": (f"every {every}th block of {block} consecutive frames held out "
                           f"({'whole scenes' if synthetic else 'contiguous blocks'})" if held_out else
                           "too few frames to hold any out: the figures are on the training frames"),
                 "augmentation": ("random horizontal flips; random crops of 80-100% of the frame, resized back"
                                  if cfg.augment else "none")},
        "training": {"steps": cfg.steps, "batch_size": cfg.batch_size, "frames_seen": cfg.steps * cfg.batch_size,
                     "train_seconds": round(train_seconds, 1), "wall_seconds": round(time.time() - t0, 1),
                     "final_batch_mse": round(stats.get("mse", float("nan")), 6),
                     "final_batch_kl_bits": round(stats.get("kl_bits", float("nan")), 2)},
        "machine": machine_record(dev),
        "metrics": {"valid" if held_out else "train": metrics},
        "latent": {"latent_mean": [round(v, 5) for v in model.latent_mean.tolist()],
                   "latent_std": [round(v, 5) for v in model.latent_std.tolist()],
                   "over": f"mu of {min(len(train_idx), STATS_FRAMES)} evenly spaced training frames"},
        "config": config.to_dict(),
        "reproduce": reproduce or (f"score-av train video --synthetic --out {out}" if synthetic else ""),
    }
    write_model_card(out, card)
    return card


def fine_tune(model: ConvVAE, frames: np.ndarray, seconds: float = 60.0, config: TrainConfig | None = None,
              progress: bool = True, seed: int = 0) -> ConvVAE:
    """Continue training `model` in place on uint8 frames for at most `seconds` of wall time (no step
    starts that would end past it), then recompute its latent statistics on those frames."""
    from tqdm import tqdm

    cfg = config or TrainConfig()
    dev = next(model.parameters()).device
    frames = resize_frames(frames, model.cfg.image_size)
    if len(frames) == 0:
        raise VideoVAEError("no frames to fit the video model to")
    data = torch.from_numpy(frames).to(dev)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.fine_tune_learning_rate)
    start, last = time.time(), 0.0
    bar = tqdm(total=round(seconds), desc="fitting", unit="s", disable=not progress,
               bar_format="{l_bar}{bar}| {n:.0f}/{total} s{postfix}")
    while time.time() + last < start + seconds:
        t = time.time()
        x = _batch(data, cfg.batch_size, gen)
        stats = _step(model, opt, augment(x, gen) if cfg.augment else x, cfg, cfg.beta)
        last = time.time() - t
        bar.n = min(round(seconds), round(time.time() - start))
        bar.set_postfix(mse=f"{stats['mse']:.4f}")
    bar.close()
    model.eval()
    set_latent_stats(model, frames)
    return model
