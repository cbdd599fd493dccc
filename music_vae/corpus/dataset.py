"""Parse tunes once (in parallel), cache their bars, and split them by tune with a fixed seed.

Parsing with music21 costs ~50 ms a tune, so a corpus is parsed once per machine and kept as a
small .npz under the cache folder (SCORE_AV_CACHE, else ~/.cache/score-av). The split is a hash
of the tune id and the seed: stable when tunes are added or removed, and never splits a tune.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MusicInputError
from ..representation import STEPS_PER_BAR
from .extract import TuneBars, bars_from_midi, bars_from_music21_source
from .sources import TuneItem, items_for

EXTRACT_VERSION = 1  # bump when extraction changes, so old caches are not reused
SPLIT_FRACTIONS = {"train": 0.90, "valid": 0.05, "test": 0.05}
DEFAULT_SPLIT_SEED = 0


def cache_dir() -> Path:
    return Path(os.environ.get("SCORE_AV_CACHE", Path.home() / ".cache" / "score-av"))


def split_of(tune_id: str, seed: int = DEFAULT_SPLIT_SEED) -> str:
    """'train', 'valid' or 'test' for a tune: a hash, so the same tune is always on the same side."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{tune_id}".encode()).digest()[:8], "big") / 2**64
    edge = 0.0
    for name, frac in SPLIT_FRACTIONS.items():
        edge += frac
        if h < edge:
            return name
    return "test"


@dataclass
class BarCorpus:
    """Bars (n, 16) of uint8 tokens with the tune each came from and that tune's style."""

    bars: np.ndarray
    tune: np.ndarray
    tune_ids: list[str]
    tune_styles: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.bars)

    @property
    def styles(self) -> np.ndarray:
        """Style name of every bar."""
        return np.array(self.tune_styles, dtype=object)[self.tune] if len(self.tune) else np.array([], object)

    def subset(self, mask: np.ndarray) -> "BarCorpus":
        return BarCorpus(self.bars[mask], self.tune[mask], self.tune_ids, self.tune_styles,
                         self.skipped, self.dropped, self.sources)

    def sides(self, seed: int = DEFAULT_SPLIT_SEED) -> np.ndarray:
        """'train', 'valid' or 'test' for each bar: the side of its tune."""
        if not len(self.tune):
            return np.zeros(0, dtype=str)
        return np.array([split_of(t, seed) for t in self.tune_ids])[self.tune]

    def split(self, name: str, seed: int = DEFAULT_SPLIT_SEED) -> "BarCorpus":
        return self.subset(self.sides(seed) == name) if len(self.tune) else self

    def report(self) -> dict:
        """What `score-av music corpus` prints: tunes read, skipped and why, bars per style."""
        used = set(self.tune.tolist())
        return {
            "sources": self.sources,
            "tunes_read": len(self.tune_ids) + sum(self.skipped.values()),
            "tunes_used": len(used),
            "tunes_skipped": dict(sorted(self.skipped.items(), key=lambda kv: -kv[1])),
            "bars": int(len(self.bars)),
            "bars_left_out": self.dropped,
            "bars_per_style": dict(Counter(self.styles.tolist()).most_common()),
            "tunes_per_split": dict(Counter(split_of(self.tune_ids[i]) for i in used)),
        }


def extract_item(item: TuneItem) -> TuneBars:
    """Bars of one work item (runs in a worker process)."""
    if item.kind == "midi":
        try:
            return bars_from_midi(item.payload, item.tune_id, item.style)
        except MusicInputError as exc:
            return TuneBars(item.tune_id, item.style, skipped=str(exc).split(": ", 1)[-1])
    return bars_from_music21_source(item.payload, item.tune_id, item.style, is_text=item.kind == "abc-text")


def _cache_key(items: list[TuneItem]) -> str:
    h = hashlib.sha256(f"v{EXTRACT_VERSION}".encode())
    for it in items:
        h.update(f"{it.tune_id}|{it.style}|{it.kind}|".encode())
        if it.kind == "abc-text":
            h.update(it.payload.encode("utf-8", "replace"))
        else:
            st = os.stat(it.payload)
            h.update(f"{it.payload}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def _gather(results: list[TuneBars], sources: list[str]) -> BarCorpus:
    bars, tune, ids, styles = [], [], [], []
    skipped: Counter = Counter()
    dropped: Counter = Counter()
    for r in results:
        dropped.update(r.dropped)
        if r.skipped:
            skipped[r.skipped] += 1
            continue
        tune.append(np.full(len(r.bars), len(ids), np.int32))
        bars.append(r.bars)
        ids.append(r.tune_id)
        styles.append(r.style)
    if not bars:
        return BarCorpus(np.zeros((0, STEPS_PER_BAR), np.uint8), np.zeros(0, np.int32), [], [],
                         dict(skipped), dict(dropped), sources)
    return BarCorpus(np.concatenate(bars), np.concatenate(tune), ids, styles, dict(skipped), dict(dropped), sources)


def _save(path: Path, c: BarCorpus) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"tune_ids": c.tune_ids, "tune_styles": c.tune_styles, "skipped": c.skipped,
                       "dropped": c.dropped, "sources": c.sources})
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, bars=c.bars, tune=c.tune, meta=np.array(meta))
    os.replace(tmp, path)


def _load(path: Path) -> BarCorpus:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return BarCorpus(z["bars"], z["tune"], meta["tune_ids"], meta["tune_styles"], meta["skipped"],
                         meta["dropped"], meta["sources"])


def load_corpus(sources: list[str], workers: int | None = None, use_cache: bool = True,
                progress: bool = True, require_bars: bool = True) -> BarCorpus:
    """Bars of the given collections and paths, parsed in parallel and cached by content.

    With `require_bars`, a source that gives no usable bar is a MusicInputError that says why.
    """
    from tqdm import tqdm

    items = items_for(sources)
    if not items:
        raise MusicInputError(f"no tunes found in {' '.join(sources)}")
    path = cache_dir() / "corpora" / f"{_cache_key(items)}.npz"
    if use_cache and path.exists():
        corpus = _load(path)
        if len(corpus) or not require_bars:
            return corpus
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(items), desc="parsing tunes", unit="tune", disable=not progress)
    results = []
    if workers > 1 and len(items) > 8:
        with ProcessPoolExecutor(workers) as pool:
            for r in pool.map(extract_item, items, chunksize=8):
                results.append(r)
                bar.update()
    else:
        for it in items:
            results.append(extract_item(it))
            bar.update()
    bar.close()
    corpus = _gather(results, list(sources))
    if use_cache:
        _save(path, corpus)
    if require_bars and not len(corpus):
        why = "; ".join(f"{n} x {reason}" if n > 1 else reason for reason, n in corpus.skipped.items())
        raise MusicInputError(f"{' '.join(map(str, sources))}: no usable bar in 4/4, 2/2 or 2/4 "
                              f"({why or 'no notes'})")
    return corpus
