"""What the pipeline expects of its two models, written as types, and the pair it loads once.

The pipeline never touches a network: it gives a video model frames and gets codes, and gives a
music model codes and gets bars. Any object with these members serves (the shipped
`video_vae.VideoVAE` and `music_vae.MusicVAE`, or a model of a person's own), and the frame
size the source scales to comes from the video model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from music_vae.data_prior import Placement

# The music model a command uses when none is named: `dance`, the vae trained on O'Neill's and
# Aird's fiddle tunes alone. The plain `vae` also learned Essen's German songs and Bach's chorales,
# and mixes their quarter-note lines into every soundtrack; `dance`'s bars are the hardest to tell
# from real tunes it never saw (the phrase test, docs/architecture.md), with the same key fit,
# leaps, recall and response to the picture.
MUSIC_MODEL = "dance"


@runtime_checkable
class VideoModel(Protocol):
    """Frames in, codes out."""

    @property
    def latent_dim(self) -> int: ...

    @property
    def image_size(self) -> int:
        """The square frame size (pixels) the model encodes; sources scale frames straight to it."""

    @property
    def latent_std(self) -> np.ndarray:
        """(latent_dim,) spread of each code dimension over the model's training frames."""

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (n, h, w, 3) to codes (n, latent_dim)."""

    def fit(self, frames: np.ndarray, seconds: float, progress: bool = True) -> dict:
        """Adapt to these frames for at most `seconds`; what changed, for the record."""


@runtime_checkable
class MusicModel(Protocol):
    """Codes in, bars of tokens out (16 steps each, see docs/architecture.md)."""

    @property
    def latent_dim(self) -> int: ...

    @property
    def styles(self) -> tuple[str, ...]:
        """Styles the prior knows (one component each); () for a plain N(0, I) prior."""

    def prior(self, style: str | None = None) -> Placement:
        """Where codes should go (of one style's region, when given): `place(z)` carries standard normal codes there."""

    @property
    def attributes(self) -> dict[str, np.ndarray]:
        """Attribute vectors by name ("density"): directions in the code that ask for more of it; may be {}."""

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes (n, latent_dim) to bars (n, 16), greedily."""


@dataclass
class Models:
    """The two models a render needs, loaded once and reused for every clip (batch, live)."""
    music: MusicModel
    video: VideoModel

    @classmethod
    def load(cls, music: str = MUSIC_MODEL, video: str = "video", device: str = "auto") -> "Models":
        """The shipped models by name, or checkpoints by path."""
        from music_vae.trained_model import MusicVAE
        from video_vae.trained_model import VideoVAE

        return cls(MusicVAE(music, device), VideoVAE(video, device))
