"""Configurations as data: the model's shape and how it is trained, by name.

`score-av train video --config NAME` picks one; the checkpoint stores the whole configuration,
so a model can always be rebuilt from its file. `video` is the shipped model, `tiny` is for tests.
The latent size is the music VAE's (32): the mapping carries one code into the other space.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 64
    channels: int = 3
    latent_dim: int = 32
    widths: tuple[int, ...] = (32, 64, 128, 192)  # one stride-2 conv block each: 64 -> 4 pixels
    groups: int = 8                                # GroupNorm groups: codes never depend on the batch


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 3600                # about 16 minutes on one CPU thread (0.26 s a step)
    batch_size: int = 64
    learning_rate: float = 2e-3
    min_learning_rate: float = 1e-4  # cosine decay from learning_rate down to this
    warmup_steps: int = 200
    beta: float = 0.05               # KL weight against the squared error summed over the pixels ...
    beta_warmup: int = 1000          # ... reached linearly over this many steps
    free_bits_per_dim: float = 0.5   # KL below this (per latent dimension, batch mean) costs nothing
    grad_clip: float = 1.0
    augment: bool = True             # random horizontal flips and crops of 80-100% of the frame
    valid_share: float = 0.05        # held out by whole scenes / contiguous blocks, never single frames
    block_frames: int = 64           # block length for the split of a person's frames
    eval_every: int = 600
    fine_tune_learning_rate: float = 3e-4
    # synthetic footage (video_vae.scenes) when no frames are given
    data_seed: int = 1
    synthetic_scenes: int = 1500
    frames_per_scene: int = 16
    synthetic_height: int = 72       # drawn at 4:3, then squashed to image_size like any clip
    synthetic_width: int = 96


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Config":
        model = dict(d["model"])
        model["widths"] = tuple(model["widths"])
        return Config(ModelConfig(**model), TrainConfig(**d["train"]))


CONFIGS: dict[str, Config] = {
    "video": Config(),
    "tiny": Config(ModelConfig(widths=(8, 16, 32, 32)),
                   TrainConfig(steps=150, batch_size=32, learning_rate=3e-3, warmup_steps=10, beta_warmup=50,
                               eval_every=50, synthetic_scenes=40, frames_per_scene=8,
                               synthetic_height=64, synthetic_width=64)),
}


def get_config(name: str, **train_overrides) -> Config:
    """The named configuration, with the training settings given (those not None) replaced."""
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(CONFIGS)}")
    cfg = CONFIGS[name]
    overrides = {k: v for k, v in train_overrides.items() if v is not None}
    return replace(cfg, train=replace(cfg.train, **overrides)) if overrides else cfg
