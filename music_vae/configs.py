"""Configurations as data: the model's shape and how it is trained, by name.

`score-av train music --config NAME` picks one; the checkpoint stores the whole configuration,
so a model can always be rebuilt from its file. The three variants share the network and differ in
the loss, and each loss has its own settings: `vae` (MusicVAE's: VaeSettings), `flat` (plus the
flat-manifold regulariser and the walk penalties on the decoder: FlatSettings), `musae` (the KL term
replaced by a critic against a mixture with one component per style: AdversarialSettings). The
settings object a configuration holds picks its loss (music_vae/variants.py). `flat`'s decoder is
also not fed its past tokens (`autoregressive=False`). Both start from the trained `vae`'s weights
and are trained further with their own loss. `tiny-*` are for tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import ClassVar

from .representation import VOCAB_SIZE

# Ryan's Mammoth is held out of the default training data: tunes of the same kind from another
# book, to test the model on a collection it never saw.
DEFAULT_TRAINING_DATA = ["oneills", "airds", "essen", "bach"]


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = VOCAB_SIZE
    embed_dim: int = 64
    encoder_hidden: int = 192   # per direction of the bidirectional LSTM
    decoder_hidden: int = 384
    decoder_layers: int = 1
    autoregressive: bool = True     # False: the decoder is not fed its past tokens, only z (flat)
    latent_dim: int = 32
    styles: tuple[str, ...] = ()    # MusAE: one prior component per style; empty = the prior N(0, I)
    style_radius: float = 4.0       # component k is N(style_radius * e_k, style_std^2 I)
    style_std: float = 1.0


@dataclass(frozen=True)
class LossSettings:
    """What one variant's loss is set by. Each variant subclasses it once, named by `variant`."""
    variant: ClassVar[str] = ""
    by_variant: ClassVar[dict[str, type["LossSettings"]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("variant"):
            raise TypeError(f"{cls.__name__} must name its own variant (variant: ClassVar[str] = ...)")
        LossSettings.by_variant[cls.variant] = cls

    @staticmethod
    def named(variant: str) -> type["LossSettings"]:
        if variant not in LossSettings.by_variant:
            raise KeyError(f"unknown variant {variant!r}; known: {', '.join(LossSettings.by_variant)}")
        return LossSettings.by_variant[variant]


@dataclass(frozen=True)
class VaeSettings(LossSettings):
    """MusicVAE's loss: reconstruction plus beta times the KL above the free bits."""
    variant: ClassVar[str] = "vae"
    beta_max: float = 0.2           # weight of the KL term once annealed ...
    beta_rate: float = 0.9995       # ... as beta_max * (1 - beta_rate ** step)
    free_bits: float = 64.0         # KL below this many bits (total over the latent) is free


@dataclass(frozen=True)
class FlatSettings(VaeSettings):
    """The vae's loss plus the flat-manifold penalties (flatness.py)."""
    variant: ClassVar[str] = "flat"
    # || V^T G V / c - I ||^2 on mixup points, V random orthonormal directions
    flat_weight: float = 0.0
    flat_directions: int = 4        # k directions per point
    flat_subset: int = 32           # mixup points per step, drawn from the batch's codes
    flat_every: int = 1             # regularise every n-th step
    mixup_eta: float = 0.2          # a uniform on [-eta, 1 + eta]
    # walks between the batch's codes decoded at 16 points (flatness.walk_steps): their length^2, their unevenness
    walk_length_weight: float = 0.0
    walk_spread_weight: float = 0.0
    walk_lines: int = 8             # walks per step
    walk_temperature: float = 0.2   # sharpening of the token distributions, so that steps count flips


@dataclass(frozen=True)
class AdversarialSettings(LossSettings):
    """MusAE's loss: reconstruction plus a WGAN-GP critic on (z, style) against the style's component (musae.py)."""
    variant: ClassVar[str] = "musae"
    adversarial_weight: float = 0.0
    critic_steps: int = 2           # critic updates before each encoder/decoder update
    critic_learning_rate: float = 1e-4
    gradient_penalty: float = 10.0
    cycle_weight: float = 0.0       # style cycle: prior codes decoded and read back must return (musae.cycle_loss)
    cycle_codes: int = 64           # prior codes per step, styles drawn equally often


@dataclass(frozen=True)
class TrainConfig:
    data: tuple[str, ...] = tuple(DEFAULT_TRAINING_DATA)
    held_out: tuple[str, ...] = ("ryans",)  # never trained on; measured at the end, into the card
    split_seed: int = 0
    seed: int = 0
    steps: int = 5000
    batch_size: int = 256
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.99975     # learning rate x decay_rate each step, down to the minimum
    sampling_rate: float = 1500.0   # scheduled sampling: inverse sigmoid, k / (k + exp(step / k))
    transpose: tuple[int, int] = (-5, 6)  # random transposition range, semitones, for augmentation
    double_time: bool = True        # add pairs of eighth-note bars written as one bar of sixteenths
    grad_clip: float = 1.0
    eval_every: int = 1000
    init_from: str = ""             # a model (name or path) whose weights training starts from
    loss: LossSettings = field(default_factory=VaeSettings)  # the variant: its loss and that loss's settings

    @property
    def variant(self) -> str:
        return self.loss.variant


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train"]["loss"] = {"variant": self.train.variant, **d["train"]["loss"]}
        return d

    @staticmethod
    def from_dict(d: dict) -> "Config":
        """The configuration a checkpoint stores; settings since removed (cascade_weight) are dropped.

        Older checkpoints keep every variant's settings in one train dict, named by train["variant"];
        the loss's own settings are taken from there.
        """
        known = lambda cls, given: {k: v for k, v in given.items() if k in {f.name for f in fields(cls)}}
        loss = d["train"].get("loss")
        if not isinstance(loss, dict):
            loss = {"variant": "vae", **d["train"]}
        settings = LossSettings.named(loss["variant"])
        train = known(TrainConfig, {k: v for k, v in d["train"].items() if k != "loss"})
        train["data"] = tuple(train["data"])
        train["held_out"] = tuple(train.get("held_out", ()))
        train["transpose"] = tuple(train["transpose"])
        model = known(ModelConfig, d["model"])
        model["styles"] = tuple(model.get("styles", ()))
        return Config(ModelConfig(**model), TrainConfig(**train, loss=settings(**known(settings, loss))))


# Fine-tuning from the trained vae (flat's KL weight at its final value from the first step: beta_rate=0).
_FROM_VAE = dict(init_from="vae", steps=1500, learning_rate=3e-4, eval_every=500)
_MUSAE = TrainConfig(loss=AdversarialSettings(adversarial_weight=10.0, critic_steps=5, critic_learning_rate=1e-3),
                     **{**_FROM_VAE, "steps": 3000, "learning_rate": 5e-4})
_TINY_MODEL = ModelConfig(embed_dim=16, encoder_hidden=48, decoder_hidden=96, latent_dim=8)
_TINY_TRAIN = TrainConfig(held_out=(), steps=200, batch_size=64, learning_rate=3e-3, sampling_rate=200.0,
                          eval_every=100, loss=VaeSettings(free_bits=24.0))

CONFIGS: dict[str, Config] = {
    "vae": Config(),
    # flat's decoder is not fed its past (ModelConfig.autoregressive): it starts from the vae's weights but has to
    # learn to write a bar from the code alone, so it trains as long as the vae did, at the vae's rate
    "flat": Config(ModelConfig(autoregressive=False),
                   TrainConfig(loss=FlatSettings(beta_rate=0.0, flat_weight=0.1, walk_length_weight=0.05,
                                                 walk_spread_weight=0.5),
                               **{**_FROM_VAE, "steps": 5000, "learning_rate": 1e-3})),
    "musae": Config(train=_MUSAE),
    # the vae's settings on the fiddle-tune books alone: dance-tune rhythm and density (the phrase test, bench/)
    "dance": Config(train=TrainConfig(data=("oneills", "airds"), steps=3000)),
    # musae plus the style cycle (musae.cycle_loss); its figures are in the README; not shipped
    "musae-cycle": Config(train=replace(_MUSAE, loss=replace(_MUSAE.loss, cycle_weight=0.5))),
    "tiny": Config(_TINY_MODEL, _TINY_TRAIN),
    "tiny-flat": Config(replace(_TINY_MODEL, autoregressive=False),
                        replace(_TINY_TRAIN, steps=60, loss=FlatSettings(free_bits=24.0, flat_weight=1.0,
                                                                         walk_spread_weight=0.5))),
    "tiny-musae": Config(_TINY_MODEL, replace(_TINY_TRAIN, steps=60, loss=AdversarialSettings(
        adversarial_weight=1.0, critic_learning_rate=1e-3))),
}
VARIANTS = tuple(LossSettings.by_variant)  # vae, flat, musae: `--variant NAME` trains the configuration NAME


def get_config(name: str, **train_overrides) -> Config:
    """A named configuration; overrides (None: keep) set the training's settings or its loss's."""
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(CONFIGS)}")
    cfg = CONFIGS[name]
    overrides = {k: v for k, v in train_overrides.items() if v is not None}
    if not overrides:
        return cfg
    own = {f.name for f in fields(cfg.train.loss)}
    loss = replace(cfg.train.loss, **{k: v for k, v in overrides.items() if k in own})
    return replace(cfg, train=replace(cfg.train, loss=loss, **{k: v for k, v in overrides.items() if k not in own}))


# ---------------------------------------------------------------------------------------------
# Latent inpainting (inpaint.py): the codes of missing bars from the codes of the bars around them
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InpaintModelConfig:
    latent_dim: int = 32            # the frozen music model's (set from it when training starts)
    max_context: int = 6            # bars of past and of future context, at most
    max_missing: int = 8            # bars filled at once, at most
    context_hidden: int = 256       # each context GRU (past read forwards, future backwards, both towards the gap)
    generator_hidden: int = 384     # the GRU that writes one code per missing bar
    generator_layers: int = 2
    attention_dim: int = 64         # attention over the context codes, by content and by distance in bars
    start_four_before: float = 3.0  # initial attention score of the bar four before (folk tunes' 4-bar phrases)
    dropout: float = 0.1
    chooser_hidden: int = 0         # >0: an MLP scores each context bar from hand-built features (lag similarity
                                    # at the gap's edges, offset, side), added to the choice; 0: none (as before)
    vote: bool = False              # greedy fill: each token the one likeliest under the choice (context bars'
                                    # tokens and the own code's), not the likeliest choice's bar


@dataclass(frozen=True)
class InpaintTrainConfig:
    music_model: str = "dance"      # the frozen bar VAE; the data and the split seed are its own
    seed: int = 0
    steps: int = 3000
    batch_size: int = 32            # windows per step (one number of missing bars per step, 1..max_missing)
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.999       # learning rate x decay_rate each step, down to the minimum
    code_weight: float = 0.3        # beside the token loss: mean squared distance to the true bars' codes
    choice_weight: float = 5.0      # the choice between copying a context bar's code and its own: expected wrong tokens
    choice_loss: str = "error"      # "error": expected share of wrong tokens; "likelihood": -log of each true token's
                                    # probability under the choice (a mixture of the options' tokens)
    shorten: float = 0.3            # chance that each context is cut to a random shorter length (0 bars included)
    transpose: tuple[int, int] = (-5, 6)  # random transposition of whole windows, semitones
    grad_clip: float = 1.0
    eval_every: int = 250           # checkpoint and validation token accuracy every n steps
    eval_windows: int = 512         # windows of the test split measured into the card


@dataclass(frozen=True)
class InpaintConfig:
    model: InpaintModelConfig = field(default_factory=InpaintModelConfig)
    train: InpaintTrainConfig = field(default_factory=InpaintTrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "InpaintConfig":
        known = lambda cls, given: {k: v for k, v in given.items() if k in {f.name for f in fields(cls)}}
        train = known(InpaintTrainConfig, d["train"])
        train["transpose"] = tuple(train.get("transpose", (0, 0)))
        return InpaintConfig(InpaintModelConfig(**known(InpaintModelConfig, d["model"])), InpaintTrainConfig(**train))


INPAINT_CONFIGS: dict[str, InpaintConfig] = {
    "inpaint": InpaintConfig(InpaintModelConfig(chooser_hidden=64, vote=True), InpaintTrainConfig(choice_loss="likelihood")),
    # for tests: a few seconds on the tiny music model (music_model is given as the test's checkpoint)
    "tiny-inpaint": InpaintConfig(
        InpaintModelConfig(context_hidden=32, generator_hidden=48, generator_layers=1, attention_dim=16,
                           start_four_before=0.0, dropout=0.0, chooser_hidden=16, vote=True),
        InpaintTrainConfig(music_model="tiny", steps=60, batch_size=32, learning_rate=1e-2, eval_every=30,
                           eval_windows=64, transpose=(0, 0), choice_loss="likelihood")),
}


def get_inpaint_config(name: str, **train_overrides) -> InpaintConfig:
    """A named inpainting configuration; overrides (None: keep) set its training's settings."""
    if name not in INPAINT_CONFIGS:
        raise KeyError(f"unknown inpainting config {name!r}; known: {', '.join(INPAINT_CONFIGS)}")
    cfg = INPAINT_CONFIGS[name]
    overrides = {k: v for k, v in train_overrides.items() if v is not None}
    return replace(cfg, train=replace(cfg.train, **overrides)) if overrides else cfg


# ---------------------------------------------------------------------------------------------
# The bass (bass.py): a bass bar from the melody bar and its chords, steered by a 2-D code (after BassNet)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BassModelConfig:
    embed_dim: int = 32             # melody tokens and bass classes
    condition_hidden: int = 96      # per direction: the melody bar and its chords read both ways
    encoder_hidden: int = 96        # per direction: the bass bar beside the condition
    decoder_hidden: int = 192
    latent_dim: int = 2             # the control surface: axis k is tied to BassTrainConfig.attributes[k]
    low: int = 28                   # the bass register, MIDI: E1 ...
    high: int = 64                  # ... E4


@dataclass(frozen=True)
class BassTrainConfig:
    data: str = "bach"              # music21's Bach chorales: soprano, bass, chords read from all four voices
    split_seed: int = 0             # by chorale, as the melody corpus splits by tune
    seed: int = 0
    steps: int = 1500
    batch_size: int = 48            # windows per step
    window: int = 4                 # consecutive bars of one chorale per window (for the stability loss)
    learning_rate: float = 2e-3
    min_learning_rate: float = 1e-4
    decay_rate: float = 0.999       # learning rate x decay_rate each step, down to the minimum
    beta: float = 0.3               # KL weight, reached linearly over beta_warmup steps
    beta_warmup: int = 500
    stability_weight: float = 2.0   # squared distance between consecutive bars' posterior means (BassNet)
    attribute_weight: float = 2.0   # attribute regularisation (Pati and Lerch 2020) of axis k against attributes[k]
    attribute_delta: float = 1.0    # tanh(delta x code difference): where the sign is taken as reached
    attributes: tuple[str, ...] = ("register", "notes")  # register: mean MIDI pitch of the note-ons; notes: note-ons
    grad_clip: float = 1.0
    eval_every: int = 250           # checkpoint and validation accuracy at z = 0 every n steps


@dataclass(frozen=True)
class BassConfig:
    model: BassModelConfig = field(default_factory=BassModelConfig)
    train: BassTrainConfig = field(default_factory=BassTrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "BassConfig":
        known = lambda cls, given: {k: v for k, v in given.items() if k in {f.name for f in fields(cls)}}
        train = known(BassTrainConfig, d["train"])
        train["attributes"] = tuple(train.get("attributes", ("register", "notes")))
        return BassConfig(BassModelConfig(**known(BassModelConfig, d["model"])), BassTrainConfig(**train))


BASS_CONFIGS: dict[str, BassConfig] = {
    "bass": BassConfig(),
    # for tests: seconds on generated bars
    "tiny-bass": BassConfig(BassModelConfig(embed_dim=8, condition_hidden=16, encoder_hidden=16, decoder_hidden=32),
                            BassTrainConfig(steps=40, batch_size=16, learning_rate=1e-2, beta_warmup=10, eval_every=20)),
}


def get_bass_config(name: str, **train_overrides) -> BassConfig:
    """A named bass configuration; overrides (None: keep) set its training's settings."""
    if name not in BASS_CONFIGS:
        raise KeyError(f"unknown bass config {name!r}; known: {', '.join(BASS_CONFIGS)}")
    cfg = BASS_CONFIGS[name]
    overrides = {k: v for k, v in train_overrides.items() if v is not None}
    return replace(cfg, train=replace(cfg.train, **overrides)) if overrides else cfg
