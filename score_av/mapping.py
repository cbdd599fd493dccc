"""From the video VAE's latent space to the music VAE's: the whole way from a picture's code to
the code the music model decodes,

    z_music = prior.place(R · standardise(z_video)).

Standardising lets any footage, dark or bright, busy or calm, use the whole music space; R
(orthogonal, identity by default, another one per seed) lets a person hear other music for the
same picture; the prior's `place` carries the standard normal result to where the music model's
real bars lie (music_vae/data_prior.py: a mixture fitted to real bars' codes, or one style's part of
it; N(0, I) for a model without one). Dimensions the video model never uses carry only noise, so
they are left out, and no dimension is scaled up by more than its spread over the model's training
footage allows: a still picture stays steady music instead of amplified compression noise.

Distances between looks (is the picture still on the same thing? has it come back?) are measured
on the standardised codes, the `positions`, before placing: there one unit is one spread of the
footage whatever the music model's space looks like.

Two fits behind one interface (`observe` codes, then `positions` and `place`, or the mapping called
on codes for both): `ClipMapping` standardises by the statistics of the whole clip (render and batch
know every code before the first bar is decoded); `RunningMapping` by statistics that follow the
codes as they come, forgetting the old ones over a window (live).
"""
from __future__ import annotations

import numpy as np

from music_vae.data_prior import GaussianPrior, Placement

ACTIVE_STD = 0.1     # a latent dimension whose mean code varies less than this over the training data is unused
MIN_SPREAD = 0.5     # the clip's spread in a dimension counts as at least this share of the training spread
STEADY = 1.0         # distance between positions below which a bar keeps the code being played (|z| is about 5.6)
RUNNING_WINDOW = 480  # frames a running fit remembers (1/e): a minute at the default 8 analysed frames a second


def rotation(dim: int, seed: int | None) -> np.ndarray:
    """An orthogonal (dim, dim) matrix: the identity for seed None, else a uniform random one."""
    if seed is None:
        return np.eye(dim, dtype=np.float32)
    a = np.random.default_rng(seed).standard_normal((dim, dim))
    q, r = np.linalg.qr(a)
    return (q * np.sign(np.diag(r))).astype(np.float32)  # sign fix makes it uniform (Haar)


class Mapping:
    """Video codes (n, d) to music codes (n, d); the statistics come from `observe` (see the subclasses)."""

    def __init__(self, train_std: np.ndarray, seed: int | None = None, prior: Placement | None = None):
        """`train_std`: the video codes' spread over the model's training data; `prior`: where music
        codes should go, anything with `place(z)` (default N(0, I): the positions themselves)."""
        self.train_std = np.asarray(train_std, dtype=np.float32)
        dim = self.train_std.shape[0]
        self.active = self.train_std > ACTIVE_STD
        self.rotation = rotation(dim, seed)
        self.prior = prior if prior is not None else GaussianPrior(np.zeros(dim), np.ones(dim))

    @classmethod
    def fit(cls, codes: np.ndarray, train_std: np.ndarray, seed: int | None = None,
            prior: Placement | None = None) -> "ClipMapping":
        """The offline mapping of a whole clip's video codes (n, d)."""
        mapping = ClipMapping(train_std, seed, prior)
        mapping.observe(codes)
        return mapping

    def _check(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.train_std.shape[0]:
            raise ValueError(f"codes must be (n, {self.train_std.shape[0]}), got {codes.shape}")
        return codes

    def _scale(self, std: np.ndarray) -> np.ndarray:
        scale = np.maximum(std, MIN_SPREAD * self.train_std)
        return np.where(self.active, scale, 1.0).astype(np.float32)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """The mean and scale (n, d) that standardise a code now."""
        raise NotImplementedError

    def observe(self, codes: np.ndarray) -> None:
        raise NotImplementedError

    def positions(self, codes: np.ndarray) -> np.ndarray:
        """Video codes (n, d) standardised and rotated: about N(0, I) over the footage, before placing."""
        mean, scale = self.statistics()
        z = (np.asarray(codes, dtype=np.float32) - mean) / scale
        z = np.where(self.active, z, 0.0)
        return (z @ self.rotation.T).astype(np.float32)

    def place(self, positions: np.ndarray) -> np.ndarray:
        """Positions (n, d) to music codes (n, d): where the prior puts them."""
        return np.asarray(self.prior.place(positions), dtype=np.float32)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        return self.place(self.positions(codes))


class ClipMapping(Mapping):
    """Standardised by the mean and spread of every code observed (a whole clip)."""

    def __init__(self, train_std, seed=None, prior=None):
        super().__init__(train_std, seed, prior)
        self._seen: list[np.ndarray] = []
        self._fitted: tuple[np.ndarray, np.ndarray] | None = None

    def observe(self, codes: np.ndarray) -> None:
        self._seen.append(self._check(codes))
        self._fitted = None

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        if self._fitted is None:
            if not self._seen:
                raise ValueError("a clip mapping needs the clip's codes: observe them first")
            codes = np.concatenate(self._seen) if len(self._seen) > 1 else self._seen[0]
            self._seen = [codes]
            self._fitted = codes.mean(axis=0), self._scale(codes.std(axis=0))
        return self._fitted


class RunningMapping(Mapping):
    """Standardised by running statistics: the plain mean and spread of the first `window` codes,
    then an exponential average that forgets older codes with a time constant of `window` codes.
    Before any code is seen, the model's own training statistics stand in."""

    def __init__(self, train_std, seed=None, prior=None, window: int = RUNNING_WINDOW,
                 train_mean: np.ndarray | None = None):
        super().__init__(train_std, seed, prior)
        if window < 1:
            raise ValueError(f"window must be at least 1 code, got {window}")
        self.window = window
        self.count = 0
        self.mean = np.zeros_like(self.train_std) if train_mean is None else np.asarray(train_mean, np.float64)
        self.mean = self.mean.astype(np.float64)
        self.var = self.train_std.astype(np.float64) ** 2

    def observe(self, codes: np.ndarray) -> None:
        for code in self._check(codes).astype(np.float64):
            self.count += 1
            rate = max(1.0 / self.count, 1.0 / self.window)
            delta = code - self.mean
            self.mean = self.mean + rate * delta
            self.var = (1.0 - rate) * (self.var + rate * delta * delta)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mean.astype(np.float32), self._scale(np.sqrt(self.var).astype(np.float32))


def hold_steady(codes: np.ndarray, distance: float | np.ndarray = STEADY, smoothing: float = 0.0) -> np.ndarray:
    """The code each bar plays: the code being played is kept until the picture has moved at least
    `distance` away from it (0 = every change is heard), and the music then goes straight to the
    picture's code of that bar. `distance` may be one per bar (n,): presence.BarPeople holds an
    empty room's bars within the cut distance and never holds a bar someone enters (0).

    With `smoothing` (0 = none, towards 1 = slower) the decision looks at a running average of the
    picture's codes (weight `smoothing` on the past, restarted at every change), so a change must
    last to be heard: a flicker of a bar or two is not, a cut is at once or a bar later. The
    codes themselves are never averaged: an average of two shots would decode to music of
    neither, and a smoothed jump to a chain of in-between bars.
    """
    if np.any(np.asarray(distance) < 0):
        raise ValueError(f"steadiness distance must be >= 0, got {distance}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    codes = np.asarray(codes, dtype=np.float32)
    distance = np.broadcast_to(np.asarray(distance, dtype=np.float64), (len(codes),))
    out = np.array(codes, copy=True)
    average = out[0]
    for i in range(1, len(out)):
        average = smoothing * average + (1.0 - smoothing) * codes[i] if smoothing else codes[i]
        if np.linalg.norm(average - out[i - 1]) < distance[i]:
            out[i] = out[i - 1]
        else:
            average = codes[i]
    return out
