"""Which style a bar belongs to, as MusAE's prior and the style probe see it.

The corpus names a style per collection, and per regional file of Essen. Three of Essen's files
cannot be told apart from single bars: a non-linear classifier on the plain VAE's codes confuses
Lorraine and Luxembourg with Germany more often than it names them (held-out bars, 25 of 131
Lorraine bars right, 44 of 175 Luxembourg). All three are German-language folk songs from the
same collecting effort, so they form one style here; the corpus report keeps its finer names.
"""
from __future__ import annotations

import numpy as np
import torch

from .corpus import BarCorpus

STYLE_GROUPS = {"lorraine": "german", "luxembourg": "german"}


def equal_weights(labels, n_styles: int) -> torch.Tensor:
    """A weight per style that makes every style count the same, however many bars it has (mean 1 over the bars)."""
    counts = torch.bincount(torch.as_tensor(labels), minlength=n_styles).float().clamp(min=1)
    return counts.sum() / (n_styles * counts)


def style_name(corpus_style: str) -> str:
    return STYLE_GROUPS.get(corpus_style, corpus_style)


def style_labels(corpus: BarCorpus, names: tuple[str, ...] | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """The style names (sorted, or as given) and each bar's index into them (-1: a style not in `names`)."""
    per_tune = [style_name(s) for s in corpus.tune_styles]
    names = tuple(names) if names is not None else tuple(sorted(set(per_tune[t] for t in np.unique(corpus.tune))))
    index = {n: i for i, n in enumerate(names)}
    tune_label = np.array([index.get(s, -1) for s in per_tune], dtype=np.int64)
    return names, tune_label[corpus.tune] if len(corpus.tune) else np.zeros(0, np.int64)
