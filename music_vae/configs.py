"""Configurations as data: the model's shape and how it is trained, by name.

`score-av train music --config NAME` picks one; the checkpoint stores the whole configuration,
so a model can always be rebuilt from its file. `tiny` is for tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .corpus.sources import DEFAULT_TRAINING_DATA
from .representation import VOCAB_SIZE


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = VOCAB_SIZE
    embed_dim: int = 64
    encoder_hidden: int = 192   # per direction of the bidirectional LSTM
    decoder_hidden: int = 384
    decoder_layers: int = 1
    latent_dim: int = 32


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "vae"
    data: tuple[str, ...] = tuple(DEFAULT_TRAINING_DATA)
    held_out: tuple[str, ...] = ("ryans",)  # never trained on; measured at the end, into the card
    split_seed: int = 0
    seed: int = 0
    steps: int = 5000
    batch_size: int = 256
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.99975     # learning rate x decay_rate each step, down to the minimum
    beta_max: float = 0.2           # weight of the KL term once annealed ...
    beta_rate: float = 0.9995       # ... as beta_max * (1 - beta_rate ** step)
    free_bits: float = 64.0         # KL below this many bits (total over the latent) is free
    sampling_rate: float = 1500.0   # scheduled sampling: inverse sigmoid, k / (k + exp(step / k))
    transpose: tuple[int, int] = (-5, 6)  # random transposition range, semitones, for augmentation
    double_time: bool = True        # add pairs of eighth-note bars written as one bar of sixteenths
    grad_clip: float = 1.0
    eval_every: int = 1000


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Config":
        train = dict(d["train"])
        train["data"] = tuple(train["data"])
        train["held_out"] = tuple(train.get("held_out", ()))
        train["transpose"] = tuple(train["transpose"])
        return Config(ModelConfig(**d["model"]), TrainConfig(**train))


CONFIGS: dict[str, Config] = {
    "vae": Config(),
    "tiny": Config(ModelConfig(embed_dim=16, encoder_hidden=48, decoder_hidden=96, latent_dim=8),
                   TrainConfig(held_out=(), steps=200, batch_size=64, learning_rate=3e-3, free_bits=24.0,
                               sampling_rate=200.0, eval_every=100)),
}


def get_config(name: str, **train_overrides) -> Config:
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(CONFIGS)}")
    cfg = CONFIGS[name]
    overrides = {k: v for k, v in train_overrides.items() if v is not None}
    return replace(cfg, train=replace(cfg.train, **overrides)) if overrides else cfg
