"""Latent inpainting: the codes of missing bars from the codes of the bars around them.

After Pati, Lerch and Hadjeres, "Learning to traverse latent spaces for musical score inpainting"
(ISMIR 2019). The trained bar VAE (`dance`) is frozen. Up to 6 bars before a gap (the past) and up
to 6 after it (the future) are encoded to their mean codes; one GRU reads the past towards the gap,
another the future backwards towards it, and a generating GRU started from both goes through the
missing bars (1 to 8). At each bar it attends over the context codes, by content and by the distance
in bars, and writes a code of its own; and it chooses between copying one context bar's code (bar
k+4 answering bar k, which a straight line never makes) and its own code. The codes are decoded by
the VAE's decoder.

Training: the token cross-entropy of the true missing bars through the frozen decoder, teacher-forced,
for the bar's own code; a small squared distance of that code to the true bar's (`code_weight`); and
for the choice, the expected share of wrong tokens over its options (`choice_weight`): a copied
context bar's tokens against the truth, and the own code's teacher-forced argmax against it. Greedy
decoding is what is measured, and a soft blend of codes hedges where one choice commits. Windows
are contiguous bars of one tune of the music model's own corpus and training split (shorter contexts
where the tune has fewer bars, and contexts cut shorter at random so that a gap at a tune's start
or end, or one side alone, is known too), the whole window transposed at random. Codes of every bar
at every transposition are computed once. The attention starts with a preference for the bar four
before (`start_four_before`), the folk tune's commonest answer, and learns from there.

With `chooser_hidden` (the shipped configuration) a small network adds to each context bar's score
what hand-built features say for it (candidate_features): the tune's self-similarity at the candidate's
lag, measured on the known bars at both edges of the gap (bar k answers bar k-4 where the bars before
the gap answer the bars four before them; the future context tells when bar k answers bar k+4), with
where the candidate lies. Then the choice is trained as a mixture (`choice_loss` "likelihood"): minus
the log probability it gives each true token, through the context bars' tokens and the own code's
decoder probabilities; and with `vote` the greedy fill takes for each token the likeliest under that
mixture, rather than the whole bar of the likeliest choice (the choice stays what `forward` and the
drawn fills use).

`evaluate` measures the model and four baselines on the same windows (6 past, 4 missing, 6 future at
most; at least 4 past bars, so that "the bar four before" exists, and 1 future bar, so that there is
something to interpolate towards): `repeat` the last past bar; `copy4` the bar four before; `linear`
and `slerp` between the last past code and the first future code, decoded greedily like the model's.
token_accuracy is the share of the missing bars' 16 tokens (holds and rests included) equal to the
truth, bar_accuracy the share of missing bars reproduced exactly, out_of_key the share of their note
onsets outside the major scale (any of its modes) that best fits the whole true window: context and the
true missing bars, the same scale for every method (musicality.best_scale).
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modelkit import (CheckpointFormat, atomic_torch_save, machine_record,
                      parameter_count, read_model_card, resolve_device, start_training, write_model_card)
from modelkit import resolve_model as _resolve_model

from .configs import InpaintConfig, InpaintModelConfig
from .errors import CheckpointError, MusicInputError
from .metrics import slerp
from .musicality import SCALES, best_scale, onsets
from .representation import FIRST_PITCH_TOKEN, STEPS_PER_BAR, VOCAB_SIZE, pitch_bounds
from .trained_model import MusicVAE

FORMAT = CheckpointFormat("score-av/inpaint", version=1, what="score-av inpainting model", error=CheckpointError)
METHODS = ("model", "repeat", "copy4", "linear", "slerp")
EVAL_MISSING = 4        # bars missing in each evaluation window
EVAL_CONTEXT = 6        # bars of context on each side, at most
EVAL_MIN_PAST = 4       # copy4 needs the bar four before the first missing one
EVAL_MIN_FUTURE = 1     # linear and slerp need the first bar after the gap
EVAL_WINDOWS = 512      # windows drawn (all of them when there are fewer)


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------

CHOOSER_EDGE = 4        # bars at each edge of the gap whose lag similarity is a context bar's evidence


def slot_positions(C: int, missing: int, device=None) -> torch.Tensor:
    """Each context slot's position in bars from the gap's first bar (past: -C..-1; future: missing..missing+C-1)."""
    slots = torch.arange(2 * C, device=device)
    return torch.where(slots < C, slots - C, slots - C + missing)


def candidate_features(context: torch.Tensor, mask: torch.Tensor, missing: int, E: int = CHOOSER_EDGE) -> torch.Tensor:
    """(batch, missing, 2C, chooser_features(E)): what speaks for copying context slot s into gap bar j.

    With o the candidate's offset from the gap bar (in bars), the evidence is the tune's self-similarity
    at lag o where it is known: each of the E bars at the gap's left edge (-1, -2, ...) and at its right
    edge (missing, missing+1, ...) against the bar o away from it (similarity exp(-2 x mean squared code
    distance), whether the codes are equal, whether both bars are known); then where the candidate lies
    (the gap bar's distance from each edge, o, whether |o| is 4 or 8, past or future) and how much
    context there is on each side."""
    B, S, d = context.shape
    C, dev = S // 2, context.device
    dist = ((context[:, :, None] - context[:, None]) ** 2).sum(-1) / d
    pairs = torch.stack([torch.exp(-2 * dist), (dist < 1e-3).to(context.dtype)], dim=-1)      # (B, 2C, 2C, 2)
    pos = slot_positions(C, missing, dev)

    def slot_of(p):
        past, fut = (p >= -C) & (p < 0), (p >= missing) & (p < missing + C)
        return torch.where(past, p + C, torch.where(fut, p - missing + C, torch.full_like(p, -1)))

    j = torch.arange(missing, device=dev)
    o = pos[None, :] - j[:, None]                                                               # (missing, 2C)
    e = torch.arange(E, device=dev)
    feats = []
    for edge in (-1 - e, missing + e):
        s1 = slot_of(edge)[None, None, :].expand(missing, S, E)
        s2 = slot_of(edge[None, None, :] + o[:, :, None])
        a, b = s1.clamp(min=0), s2.clamp(min=0)
        known = (mask[:, a] & mask[:, b] & ((s1 >= 0) & (s2 >= 0))[None]).to(context.dtype)   # (B, missing, 2C, E)
        feats += [(pairs[:, a, b] * known[..., None]).flatten(-2), known]
    jj = j[:, None].expand(missing, S).to(context.dtype)
    where = torch.stack([(jj + 1) / 8, (missing - jj) / 8, o / 8, (o.abs() == 4).to(context.dtype),
                         (o.abs() == 8).to(context.dtype), (pos >= missing).to(context.dtype)[None].expand(missing, S)],
                        dim=-1)
    amount = torch.stack([mask[:, :C].sum(1), mask[:, C:].sum(1)], dim=-1).to(context.dtype) / C   # (B, 2)
    return torch.cat(feats + [where[None].expand(B, -1, -1, -1), amount[:, None, None].expand(-1, missing, S, -1)], dim=-1)


def chooser_features(E: int = CHOOSER_EDGE) -> int:
    return 2 * E * 3 + 6 + 2

class LatentInpainter(nn.Module):
    """Context codes in, codes of the missing bars out.

    `context` (batch, 2C, d) holds the past right-aligned in slots 0..C-1 (slot C-1 is the bar just
    before the gap) and the future left-aligned in slots C..2C-1 (slot C is the bar just after it);
    `mask` (batch, 2C) says which slots hold a bar. C is `max_context`.
    """

    def __init__(self, cfg: InpaintModelConfig):
        super().__init__()
        self.cfg = cfg
        d, C, M, H, A = cfg.latent_dim, cfg.max_context, cfg.max_missing, cfg.generator_hidden, cfg.attention_dim
        self.past_rnn = nn.GRU(d + 1, cfg.context_hidden, batch_first=True)
        self.future_rnn = nn.GRU(d + 1, cfg.context_hidden, batch_first=True)
        summary = 2 * cfg.context_hidden
        self.to_state = nn.Linear(summary, cfg.generator_layers * H)
        self.generator = nn.GRU(summary + d + 2 * M, H, num_layers=cfg.generator_layers, batch_first=True)
        self.query = nn.Linear(H, A)
        self.key = nn.Linear(d, A)
        self.distance = nn.Embedding(2 * (C + M) - 1, A)  # offsets -(C+M-1)..(C+M-1) from a missing bar
        self.prefer = nn.Embedding(2 * (C + M) - 1, 1)    # and a score of each offset of its own
        self.match = nn.Parameter(torch.tensor([3.0, 3.0]))  # weight of a candidate's neighbours matching the gap's
        self.out = nn.Linear(H + d, d)
        self.gate = nn.Linear(H, 1)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.chooser_hidden:
            n, h = chooser_features(), cfg.chooser_hidden
            self.chooser = nn.Sequential(nn.Linear(n, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 1))
        # start as the folk tune's commonest answer, the bar four before, copied: learning departs from it
        with torch.no_grad():
            self.prefer.weight.zero_()
            self.prefer.weight[C + M - 1 - 4] = cfg.start_four_before
            self.gate.bias.zero_()

    def parts(self, context: torch.Tensor, mask: torch.Tensor, missing: int):
        """For each missing bar: the choice (batch, missing, 2C + 1) between copying the code of each context
        slot and the bar's own code, and that own code (batch, missing, d)."""
        cfg = self.cfg
        C, M, L, H = cfg.max_context, cfg.max_missing, cfg.generator_layers, cfg.generator_hidden
        if not 1 <= missing <= M:
            raise ValueError(f"{missing} missing bars; this model fills 1 to {M}")
        B = context.shape[0]
        m = mask.to(context.dtype)
        x = torch.cat([context * m[..., None], m[..., None]], dim=-1)
        _, hp = self.past_rnn(x[:, :C])
        _, hf = self.future_rnn(x[:, C:].flip(1))
        summary = self.drop(torch.cat([hp[-1], hf[-1]], dim=-1))
        state = torch.tanh(self.to_state(summary)).view(B, L, H).transpose(0, 1).contiguous()
        keys = self.key(context)                                            # (B, 2C, A)
        slots = torch.arange(2 * C, device=context.device)
        position = torch.where(slots < C, slots - C, slots - C + missing)   # bars from the gap's first bar
        prev = torch.zeros(B, cfg.latent_dim, device=context.device, dtype=context.dtype)
        eye = torch.eye(M, device=context.device, dtype=context.dtype)
        # each slot's neighbours on its own side of the gap (the bar before it, the bar after it), where known
        before_ok = torch.cat([mask[:, :1] & False, mask[:, :-1]], dim=1) & mask
        before_ok[:, C] = False
        after_ok = torch.cat([mask[:, 1:], mask[:, :1] & False], dim=1) & mask
        after_ok[:, C - 1] = False
        before_code = torch.cat([context[:, :1], context[:, :-1]], dim=1)
        after_code = torch.cat([context[:, 1:], context[:, :1]], dim=1)
        d = cfg.latent_dim
        chooser = self.chooser(candidate_features(context, mask, missing))[..., 0] if cfg.chooser_hidden else None
        choices, own = [], []
        for j in range(missing):
            # the gap bar's neighbours: the bar before it (the last past bar, or the code given the bar before),
            # and for the last missing bar the first future bar; a candidate whose neighbours match is likelier
            left = context[:, C - 1] if j == 0 else prev
            left_ok = mask[:, C - 1] if j == 0 else torch.ones_like(mask[:, 0])
            left_match = torch.exp(-2 * ((before_code - left[:, None]) ** 2).sum(-1) / d) * (before_ok & left_ok[:, None])
            match = self.match[0] * left_match
            if j == missing - 1:
                right_ok = mask[:, C]
                right_match = torch.exp(-2 * ((after_code - context[:, C][:, None]) ** 2).sum(-1) / d) \
                    * (after_ok & right_ok[:, None])
                match = match + self.match[1] * right_match
            where = torch.cat([eye[j], eye[missing - 1 - j]]).expand(B, -1)
            y, state = self.generator(torch.cat([summary, prev, where], dim=-1)[:, None], state)
            h = y[:, 0]
            offset = position - j + (C + M - 1)
            k = keys + self.distance(offset)[None]
            score = (k @ self.query(h)[..., None])[..., 0] / math.sqrt(cfg.attention_dim) + self.prefer(offset)[None, :, 0] \
                + match
            if chooser is not None:
                score = score + chooser[:, j]
            score = score.masked_fill(~mask, float("-inf"))
            attended = (torch.softmax(score, dim=-1)[..., None] * context).sum(1)
            code = self.out(torch.cat([h, attended], dim=-1))
            choice = torch.softmax(torch.cat([score, self.gate(h)], dim=-1), dim=-1)   # copy slot k, or its own
            prev = (choice[..., :-1, None] * context).sum(1) + choice[..., -1:] * code
            choices.append(choice)
            own.append(code)
        return torch.stack(choices, dim=1), torch.stack(own, dim=1)

    def forward(self, context: torch.Tensor, mask: torch.Tensor, missing: int) -> torch.Tensor:
        """The codes (batch, missing, d) of the missing bars: each the likeliest choice's, a context bar's code or its own."""
        choice, own = self.parts(context, mask, missing)
        candidates = torch.cat([context[:, None].expand(-1, missing, -1, -1), own[:, :, None]], dim=2)
        pick = choice.argmax(-1)
        return candidates.gather(2, pick[..., None, None].expand(-1, -1, 1, candidates.shape[-1]))[:, :, 0]


# ---------------------------------------------------------------------------------------------
# Windows of contiguous bars
# ---------------------------------------------------------------------------------------------

def tune_bounds(tune: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each bar, the index of its tune's first bar and one past its tune's last (bars of one tune lie together)."""
    tune = np.asarray(tune)
    n = len(tune)
    if not n:
        return np.zeros(0, int), np.zeros(0, int)
    starts = np.flatnonzero(np.r_[True, tune[1:] != tune[:-1]])
    ends = np.r_[starts[1:], n]
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    return starts[run], ends[run]


@dataclass(frozen=True)
class Windows:
    """Gaps of `missing` bars: the first missing bar's index and the bars of context kept on each side."""
    start: np.ndarray
    past: np.ndarray
    future: np.ndarray
    missing: int

    def __len__(self) -> int:
        return len(self.start)

    def take(self, idx) -> "Windows":
        return Windows(self.start[idx], self.past[idx], self.future[idx], self.missing)


def all_windows(tune: np.ndarray, missing: int, max_context: int = EVAL_CONTEXT, min_past: int = 0,
                min_future: int = 0) -> Windows:
    """Every gap of `missing` bars inside one tune with at least the given context (and some context at all)."""
    first, end = tune_bounds(tune)
    i = np.arange(len(first))
    before, after = i - first, end - i - missing
    ok = (after >= min_future) & (before >= min_past) & (before + after >= 1) & (after >= 0)
    i = i[ok]
    return Windows(i, np.minimum(before[ok], max_context), np.minimum(after[ok], max_context), missing)


def evaluation_windows(tune: np.ndarray, n: int = EVAL_WINDOWS, seed: int = 0, full_context: bool = False) -> Windows:
    """The evaluation's windows: up to n of every 4-bar gap with 4..6 bars before and 1..6 after (6 and 6
    with `full_context`), drawn with `seed`."""
    least = (EVAL_CONTEXT, EVAL_CONTEXT) if full_context else (EVAL_MIN_PAST, EVAL_MIN_FUTURE)
    w = all_windows(tune, EVAL_MISSING, EVAL_CONTEXT, *least)
    if len(w) > n:
        w = w.take(np.sort(np.random.default_rng(seed).choice(len(w), n, replace=False)))
    return w


def context_index(w: Windows, max_context: int) -> tuple[np.ndarray, np.ndarray]:
    """Bar indices (n, 2C) of each window's context slots (see LatentInpainter) and which slots hold a bar."""
    C = max_context
    k = np.arange(C)
    past = w.start[:, None] - C + k[None]
    future = w.start[:, None] + w.missing + k[None]
    mask = np.concatenate([k[None] >= C - w.past[:, None], k[None] < w.future[:, None]], axis=1)
    idx = np.concatenate([past, future], axis=1)
    return np.where(mask, idx, 0), mask


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def resolve_model(name_or_path: str | os.PathLike) -> Path:
    return _resolve_model(name_or_path, CheckpointError, train="score-av train inpaint")


def fingerprint(model: nn.Module) -> str:
    """A short hash of a model's weights: an inpainting model is only meaningful on the codes it learned."""
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(path: Path, net: LatentInpainter, config: InpaintConfig, step: int, extra: dict) -> None:
    """Weights stored as float16, as the music models' (loaded as float32); training state stays float32 in OUT.train.pt."""
    FORMAT.write_model(path, net, config, step, extra)


def load_checkpoint(path: Path, device="cpu") -> tuple[LatentInpainter, InpaintConfig, dict]:
    return FORMAT.read_model(path, InpaintConfig, LatentInpainter, device)


# ---------------------------------------------------------------------------------------------
# The trained inpainter, as a person uses it
# ---------------------------------------------------------------------------------------------

class Inpainter:
    """A trained inpainting model with the music model it was trained on. Bars in and out as numpy (n, 16)."""

    def __init__(self, name_or_path: str = "inpaint", device: str = "auto", music: MusicVAE | None = None):
        self.path = resolve_model(name_or_path)
        self.device = resolve_device(device)
        self.net, self.config, ckpt = load_checkpoint(self.path, self.device)
        self.music = music or MusicVAE(ckpt["music_model"], device=str(self.device))
        if fingerprint(self.music.model) != ckpt["music_fingerprint"]:
            raise CheckpointError(f"{self.path}: trained on the codes of another {ckpt['music_model']} than "
                                  f"{self.music.path}; train it again with `score-av train inpaint`")
        self.data, self.split_seed = list(ckpt["data"]), int(ckpt["split_seed"])
        self.card = read_model_card(self.path)

    @property
    def max_context(self) -> int:
        return self.config.model.max_context

    @torch.no_grad()
    def codes(self, context: np.ndarray, mask: np.ndarray, missing: int, batch_size: int = 512) -> np.ndarray:
        """Codes (n, missing, d) for context codes (n, 2C, d) laid out as LatentInpainter's."""
        out = []
        for i in range(0, len(context), batch_size):
            c = torch.as_tensor(context[i:i + batch_size], dtype=torch.float32, device=self.device)
            m = torch.as_tensor(mask[i:i + batch_size], dtype=torch.bool, device=self.device)
            out.append(self.net(c, m, missing).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, missing, self.music.latent_dim), np.float32)

    @torch.no_grad()
    def first_bar_options(self, past: np.ndarray, future: np.ndarray, missing: int,
                          own_first: bool = False) -> np.ndarray:
        """Codes (2C + 1 at most, d) the first bar of a gap of `missing` could take, likeliest first: the
        context bars' codes it could copy and its own. `past` (p, d) and `future` (f, d) are the context
        codes, the last and first max_context of them used. A caller that must not repeat a neighbour
        takes the first option whose bar differs. `own_first`: the bar's own code first, whatever the
        choice says (a bar that must be made between both sides, not copied from one)."""
        C, d = self.max_context, self.music.latent_dim
        past, future = np.asarray(past, np.float32)[-C:], np.asarray(future, np.float32)[:C]
        context, mask = np.zeros((1, 2 * C, d), np.float32), np.zeros((1, 2 * C), bool)
        context[0, C - len(past):C], mask[0, C - len(past):C] = past, True
        context[0, C:C + len(future)], mask[0, C:C + len(future)] = future, True
        c = torch.as_tensor(context, device=self.device)
        choice, own = self.net.parts(c, torch.as_tensor(mask, device=self.device), missing)
        candidates = torch.cat([c[0], own[0, :1]]).cpu().numpy()
        p = choice[0, 0].cpu().numpy()
        order = [i for i in np.argsort(-p, kind="stable") if i == 2 * C or mask[0, i]]
        if own_first:
            order = [2 * C] + [i for i in order if i != 2 * C]
        return candidates[order]

    def fill(self, bars: np.ndarray, w: Windows, codes: np.ndarray | None = None, temperature: float = 0.0,
             seed: int | None = None) -> np.ndarray:
        """The missing bars (n, missing, 16) of windows `w` over `bars` (n_bars, 16), decoded greedily
        (with the model's `vote`, each token the choice's likeliest: see vote).
        `codes` (n_bars, d): the music model's codes of `bars`, when already at hand. Above temperature 0
        they are drawn with `seed` (the network alone is deterministic): each bar's copy-or-own choice from
        its softmax sharpened by 1/temperature, and its tokens from the decoder at that temperature."""
        bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
        codes = self.music.encode(bars) if codes is None else codes
        idx, mask = context_index(w, self.max_context)
        if temperature > 0:
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            with torch.no_grad():
                c = torch.as_tensor(codes[idx], dtype=torch.float32, device=self.device)
                choice, own = self.net.parts(c, torch.as_tensor(mask, device=self.device), w.missing)
            weights = choice.double().cpu() ** (1 / temperature)
            pick = torch.multinomial(weights.view(-1, weights.shape[-1]), 1, generator=gen).view(choice.shape[:2])
            candidates = torch.cat([c[:, None].expand(-1, w.missing, -1, -1), own[:, :, None]], dim=2).cpu()
            z = candidates.gather(2, pick[..., None, None].expand(-1, -1, 1, candidates.shape[-1]))[:, :, 0].numpy()
        elif self.config.model.vote:
            return self.vote(bars, codes[idx], mask, idx, w.missing)
        else:
            z = self.codes(codes[idx], mask, w.missing)
        return self.music.decode(z.reshape(-1, z.shape[-1]), temperature, seed).reshape(len(w), w.missing,
                                                                                       STEPS_PER_BAR)

    @torch.no_grad()
    def vote(self, bars: np.ndarray, context: np.ndarray, mask: np.ndarray, idx: np.ndarray, missing: int,
             batch_size: int = 512) -> np.ndarray:
        """The missing bars (n, missing, 16), each token the likeliest under the choice: the probability of
        each context bar (its tokens as given) and of the bar's own code (decoded greedily) summed per token."""
        out = []
        for i in range(0, len(context), batch_size):
            c = torch.as_tensor(context[i:i + batch_size], dtype=torch.float32, device=self.device)
            m = torch.as_tensor(mask[i:i + batch_size], dtype=torch.bool, device=self.device)
            choice, own = (t.cpu() for t in self.net.parts(c, m, missing))
            own_tokens = self.music.decode(own.reshape(-1, own.shape[-1]).numpy()).reshape(len(c), missing, STEPS_PER_BAR)
            tokens = torch.cat([torch.as_tensor(bars[idx[i:i + batch_size]])[:, None].expand(-1, missing, -1, -1),
                                torch.as_tensor(own_tokens).long()[:, :, None]], dim=2)        # (n, missing, 2C+1, 16)
            votes = torch.zeros(*tokens.shape[:2], STEPS_PER_BAR, VOCAB_SIZE)
            votes.scatter_add_(3, tokens.transpose(2, 3), choice.float()[:, :, None].expand(-1, -1, STEPS_PER_BAR, -1))
            out.append(votes.argmax(-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, missing, STEPS_PER_BAR), np.int64)

    def inpaint(self, past, future, missing: int, temperature: float = 0.0, seed: int | None = None) -> np.ndarray:
        """`missing` bars (missing, 16) between the bars `past` (p, 16) and `future` (f, 16); the last
        max_context bars of the past and the first of the future are used; one of them may be empty.
        Greedy at temperature 0, else drawn with `seed` (see fill)."""
        past = np.asarray(past).reshape(-1, STEPS_PER_BAR)[-self.max_context:]
        future = np.asarray(future).reshape(-1, STEPS_PER_BAR)[:self.max_context]
        if not len(past) + len(future):
            raise MusicInputError("nothing to inpaint from: give at least one bar before or after the gap")
        if not 1 <= missing <= self.config.model.max_missing:
            raise MusicInputError(f"{missing} bars to inpaint; this model fills 1 to {self.config.model.max_missing}")
        bars = np.concatenate([past, np.zeros((missing, STEPS_PER_BAR), past.dtype), future]).astype(np.int64)
        w = Windows(np.array([len(past)]), np.array([len(past)]), np.array([len(future)]), missing)
        return self.fill(bars, w, temperature=temperature, seed=seed)[0]

    def replace_bars(self, bars, start: int, missing: int, temperature: float = 0.0,
                     seed: int | None = None) -> np.ndarray:
        """A copy of a tune's bars (n, 16) with bars start..start+missing-1 (from 0) inpainted from the bars
        around them; every other bar is returned as given, token for token."""
        bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
        if not (0 <= start and start + missing <= len(bars) and 1 <= missing <= self.config.model.max_missing):
            raise MusicInputError(f"cannot replace bars {start + 1}..{start + missing} of {len(bars)} "
                                  f"(1 to {self.config.model.max_missing} bars inside the tune)")
        out = bars.copy()
        out[start:start + missing] = self.inpaint(bars[:start], bars[start + missing:], missing, temperature, seed)
        return out


# ---------------------------------------------------------------------------------------------
# Evaluation: the model and the baselines on the same windows
# ---------------------------------------------------------------------------------------------

def baseline_fills(music: MusicVAE, bars: np.ndarray, codes: np.ndarray, w: Windows) -> dict[str, np.ndarray]:
    """repeat, copy4, linear and slerp for windows `w` (each with a past bar; linear/slerp also a future one)."""
    j = np.arange(w.missing)
    last = bars[w.start - 1]
    copy = np.stack([bars[w.start - 4 + (k % 4)] for k in j], axis=1)  # bar four before (a copy of a copy past 4)
    a, b = codes[w.start - 1], codes[w.start + w.missing]
    t = torch.as_tensor((j + 1) / (w.missing + 1), dtype=torch.float32)
    ta, tb = torch.as_tensor(a), torch.as_tensor(b)
    lin = (1 - t)[None, :, None] * ta[:, None] + t[None, :, None] * tb[:, None]
    sl = torch.stack([slerp(ta, tb, t[k].expand(len(ta))) for k in range(w.missing)], dim=1)
    decode = lambda z: music.decode(z.reshape(-1, z.shape[-1]).numpy()).reshape(len(w), w.missing, STEPS_PER_BAR)
    return {"repeat": np.repeat(last[:, None], w.missing, axis=1), "copy4": copy, "linear": decode(lin),
            "slerp": decode(sl)}


def out_of_key(window_bars: list[np.ndarray], fills: np.ndarray) -> float:
    """Share of the fills' note onsets outside the best-fitting major scale of each whole true window."""
    outside = total = 0
    for true_window, fill in zip(window_bars, fills):
        tonic, _ = best_scale(onsets(true_window)[1])
        _, pitch = onsets(fill)
        outside += int((~SCALES[tonic, pitch % 12]).sum())
        total += len(pitch)
    return outside / total if total else 0.0


def figures(truth: np.ndarray, fills: np.ndarray, window_bars: list[np.ndarray]) -> dict:
    same = fills == truth
    return {"token_accuracy": float(same.mean()), "bar_accuracy": float(same.all(-1).mean()),
            "out_of_key": out_of_key(window_bars, fills)}


def evaluate(inpainter: Inpainter, bars: np.ndarray, tune: np.ndarray, n_windows: int = EVAL_WINDOWS,
             seed: int = 0, what: str = "the tunes", full_context: bool = False) -> dict:
    """{"methods": {method: figures}, "windows": n} on windows drawn with `seed` from the bars of tunes."""
    bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR).astype(np.int64)
    tune = np.asarray(tune)
    w = evaluation_windows(tune, n_windows, seed, full_context)
    if not len(w):
        before, after = (EVAL_CONTEXT, EVAL_CONTEXT) if full_context else (EVAL_MIN_PAST, EVAL_MIN_FUTURE)
        first, end = tune_bounds(tune)
        longest = int((end - first).max()) if len(tune) else 0
        raise MusicInputError(f"{what}: no window to inpaint: a tune needs {before + EVAL_MISSING + after} "
                              f"usable 4/4 bars in a row ({before} before, {EVAL_MISSING} missing, {after} after); "
                              f"the longest has {longest}")
    codes = inpainter.music.encode(bars)
    truth = bars[w.start[:, None] + np.arange(w.missing)[None]]
    window_bars = [bars[s - p:s + w.missing + f] for s, p, f in zip(w.start, w.past, w.future)]
    fills = {"model": inpainter.fill(bars, w, codes), **baseline_fills(inpainter.music, bars, codes, w)}
    return {"methods": {m: figures(truth, fills[m], window_bars) for m in METHODS}, "windows": int(len(w))}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

class WindowSampler:
    """Training windows over one split's bars, with codes of every bar at every transposition computed once."""

    def __init__(self, music: MusicVAE, bars: np.ndarray, tune: np.ndarray, cfg: InpaintConfig,
                 generator: torch.Generator, progress: bool = False):
        from tqdm import tqdm

        self.cfg, self.gen = cfg, generator
        self.bars = torch.as_tensor(np.asarray(bars).astype(np.int64))
        C, M = cfg.model.max_context, cfg.model.max_missing
        lo, hi = cfg.train.transpose
        self.shifts = np.arange(lo, hi + 1)
        first, end = tune_bounds(tune)
        low, high = pitch_bounds(np.asarray(bars).astype(np.int64))
        # the shifts a whole tune allows: every note stays on the piano
        tune_low = np.minimum.reduceat(low, np.unique(first)) if len(bars) else low
        tune_high = np.maximum.reduceat(high, np.unique(first)) if len(bars) else high
        run = np.searchsorted(np.unique(first), first)
        self.min_shift = torch.as_tensor(np.maximum(FIRST_PITCH_TOKEN - tune_low[run], lo))
        self.max_shift = torch.as_tensor(np.minimum(VOCAB_SIZE - 1 - tune_high[run], hi))
        unique, inverse = np.unique(np.asarray(bars), axis=0, return_inverse=True)
        codes = []
        for s in tqdm(self.shifts, desc="encoding context bars", unit="key", disable=not progress):
            moved = np.where(unique >= FIRST_PITCH_TOKEN, np.clip(unique.astype(int) + s, FIRST_PITCH_TOKEN,
                                                                    VOCAB_SIZE - 1), unique)
            codes.append(music.encode(moved)[inverse.reshape(-1)])
        self.codes = torch.as_tensor(np.stack(codes))                                  # (shifts, n, d)
        self.windows = {m: all_windows(tune, m, C) for m in range(1, M + 1)}
        self.windows = {m: w for m, w in self.windows.items() if len(w)}
        if not self.windows:
            raise MusicInputError("no tune has two bars in a row to learn inpainting from")

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """context codes (B, 2C, d), mask (B, 2C), true tokens (B, m, 16) and codes (B, m, d) of one number m of missing bars."""
        g, cfg = self.gen, self.cfg
        sizes = sorted(self.windows)
        m = sizes[int(torch.randint(len(sizes), (1,), generator=g))]
        w = self.windows[m].take(torch.randint(len(self.windows[m]), (size,), generator=g).numpy())
        past, future = torch.as_tensor(w.past), torch.as_tensor(w.future)
        cut = lambda n: torch.where(torch.rand(size, generator=g) < cfg.train.shorten,  # noqa: E731
                                    (torch.rand(size, generator=g) * (n + 1)).long().clamp(max=n), n)
        p, f = cut(past), cut(future)
        none = (p + f) == 0
        p, f = torch.where(none & (past > 0), past, p), torch.where(none & (past == 0), future, f)
        w = Windows(w.start, p.numpy(), f.numpy(), m)
        start = torch.as_tensor(w.start)
        a, b = self.min_shift[start], self.max_shift[start]
        shift = a + (torch.rand(size, generator=g) * (b - a + 1)).long().clamp(max=b - a)
        k = (shift - int(self.shifts[0]))
        idx, mask = (torch.as_tensor(x) for x in context_index(w, cfg.model.max_context))
        context = self.codes[k[:, None], idx]
        target = start[:, None] + torch.arange(m)[None]
        move = lambda t: torch.where(t >= FIRST_PITCH_TOKEN, t + shift[:, None, None], t)  # noqa: E731
        tokens = move(self.bars[target])
        self.context_tokens = move(self.bars[idx])  # (B, 2C, 16): what copying each slot plays
        return context, mask, tokens, self.codes[k[:, None], target]


def token_loss(music_model, codes: torch.Tensor, tokens: torch.Tensor, errors: bool = False, probs: bool = False):
    """Teacher-forced cross-entropy (mean per token) of the true tokens through the frozen decoder, and the
    accuracy; with `errors`, also each bar's share of wrong tokens (batch, missing); with `probs`, also each
    true token's probability (batch, missing, 16)."""
    z, x = codes.reshape(-1, codes.shape[-1]), tokens.reshape(-1, STEPS_PER_BAR)
    logits = music_model.logits(z, music_model.shifted(x))
    wrong = logits.argmax(-1) != x
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1))
    out = (ce, 1 - wrong.float().mean())
    if errors:
        out += (wrong.float().mean(-1).view(tokens.shape[:2]),)
    if probs:
        out += (torch.softmax(logits, -1).gather(-1, x[..., None])[..., 0].view(tokens.shape),)
    return out


def _corpus_of(music: MusicVAE, progress: bool):
    from .corpus import load_corpus
    return load_corpus(list(music.config.train.data), progress=progress)


def train(config: InpaintConfig, out: Path, corpus=None, resume: bool = False, device: str = "auto",
          progress: bool = True, reproduce: str | None = None) -> dict:
    """Train, checkpoint every eval_every steps (OUT.pt, and OUT.train.pt for --resume), and return the
    model card written beside the checkpoint, with the test split's figures of every method.

    The corpus is the music model's training data (`corpus`: given, for tests), split by tune with its split seed.
    """
    from tqdm import tqdm

    cfg = config.train
    out, state_path, dev, gen = start_training(out, cfg.seed, device)
    music = MusicVAE(cfg.music_model, device=str(dev))
    for p in music.model.parameters():
        p.requires_grad_(False)
    config = replace(config, model=replace(config.model, latent_dim=music.latent_dim))
    data, split_seed = list(music.config.train.data), music.config.train.split_seed
    corpus = corpus if corpus is not None else _corpus_of(music, progress)
    train_set, valid_set, test_set = (corpus.split(s, split_seed) for s in ("train", "valid", "test"))
    started = time.time()
    sampler = WindowSampler(music, train_set.bars, train_set.tune, config, gen, progress)
    encode_seconds = time.time() - started
    watch = valid_set if len(evaluation_windows(valid_set.tune, 1)) else train_set
    valid_windows = evaluation_windows(watch.tune, 256, seed=0)
    extra = {"music_model": cfg.music_model, "music_fingerprint": fingerprint(music.model), "data": data,
             "split_seed": split_seed}

    net = LatentInpainter(config.model).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    step, wall, first, history = 0, 0.0, {}, []
    if resume and not state_path.exists():
        tqdm.write(f"{state_path}: nothing to resume from; training from the start")
    elif resume:
        state = torch.load(state_path, map_location=dev, weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, wall, first = state["step"], state["wall_seconds"], state.get("first", {})
        history = list(state.get("history", []))
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])

    def valid_accuracy() -> float | None:
        if not len(valid_windows):
            return None  # no tune long enough for a gap with context
        net.eval()
        inp = _Bound(net, config, music, dev)
        truth = watch.bars[valid_windows.start[:, None] + np.arange(valid_windows.missing)[None]]
        return float((inp.fill(watch.bars.astype(np.int64), valid_windows) == truth).mean())

    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=not progress)
    t0, stats, valid = time.time() - wall, {}, {}
    music.model.train()  # no dropout in the bar VAE: the same function; cuDNN's RNN backward wants train mode
    while step < cfg.steps:
        net.train()
        lr = max(cfg.min_learning_rate, cfg.learning_rate * cfg.decay_rate ** step)
        for group in opt.param_groups:
            group["lr"] = lr
        context, mask, tokens, true_codes = (t.to(dev) for t in sampler.batch(cfg.batch_size))
        choice, codes = net.parts(context, mask, tokens.shape[1])
        rec, acc, own_error, own_prob = token_loss(music.model, codes, tokens, errors=True, probs=True)
        code = F.mse_loss(codes, true_codes)
        same = (sampler.context_tokens.to(dev)[:, None] == tokens[:, :, None]) & mask[:, None, :, None]  # (B, m, 2C, 16)
        if cfg.choice_loss == "likelihood":
            # the choice as a mixture of its options' tokens: -log of each true token's probability under it
            p = (choice[..., :-1, None] * same.float()).sum(2) + choice[..., -1:] * own_prob.detach()
            chosen = -torch.log(0.98 * p + 0.01).mean()
        else:
            # the choice: the expected share of wrong tokens, over copying each context bar or the bar's own code
            copy_error = 1 - same.float().mean(-1)
            errors = torch.cat([copy_error, own_error.detach()[..., None]], dim=-1)
            chosen = (choice * errors).sum(-1).mean()
        loss = rec + cfg.code_weight * code + cfg.choice_weight * chosen
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        stats = {"rec": rec.item(), "code": code.item(), "tf_acc": acc.item(), "chosen_error": chosen.item()}
        first = first or stats
        bar.update()
        bar.set_postfix(rec=f"{stats['rec']:.3f}", code=f"{stats['code']:.3f}", chosen=f"{stats['chosen_error']:.3f}",
                        **valid)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            music.model.eval()
            v = valid_accuracy()
            music.model.train()
            valid = {"valid_acc": f"{v:.3f}"} if v is not None else {}
            history.append({"step": step, "rec": round(stats["rec"], 4),
                            "valid_token_accuracy": round(v, 4) if v is not None else None})
            save_checkpoint(out, net, config, step, {**extra, "history": history})
            atomic_torch_save({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                               "wall_seconds": time.time() - t0, "generator": gen.get_state(),
                               "torch_rng": torch.get_rng_state(), "first": first, "history": history}, state_path)
    bar.close()
    wall = time.time() - t0
    music.model.eval()
    stored = Inpainter(out, device=str(dev), music=music)  # the card describes the weights as stored (float16)
    measure = lambda full: evaluate(stored, test_set.bars, test_set.tune, cfg.eval_windows, 0, "the test split",  # noqa
                                    full) if len(evaluation_windows(test_set.tune, 1, 0, full)) else {}
    metrics, full_metrics = measure(False), measure(True)
    n_tunes = lambda c: len(np.unique(c.tune))  # noqa: E731
    card = {
        "model": out.stem,
        "kind": "latent inpainting (Pati, Lerch and Hadjeres 2019) over a frozen bar VAE",
        "parameters": parameter_count(stored.net),
        "music_model": {"model": cfg.music_model, "path": str(music.path), "fingerprint": extra["music_fingerprint"],
                        "steps": music.card.get("training", {}).get("steps")},
        "data": {"sources": data, "split_seed": split_seed,
                 "split": "the music model's: by tune, sha256 of seed and tune id: 90% train, 5% valid, 5% test",
                 "tunes": {"train": n_tunes(train_set), "valid": n_tunes(valid_set), "test": n_tunes(test_set)},
                 "bars": {"train": len(train_set), "valid": len(valid_set), "test": len(test_set)},
                 "windows": f"contiguous bars of one tune: 1..{config.model.max_missing} missing (one number per "
                            f"step, drawn evenly), up to {config.model.max_context} bars before and after (fewer "
                            f"where the tune has fewer), each context cut to a random shorter length (0 included) "
                            f"with chance {cfg.shorten}",
                 "augmentation": f"random transposition {cfg.transpose[0]}..{cfg.transpose[1]} semitones of whole "
                                 "windows (within the piano)"},
        "training": {"steps": step, "batch_size": cfg.batch_size, "wall_seconds": round(wall, 1),
                     "encoding_seconds": round(encode_seconds, 1),
                     "loss": f"token cross-entropy through the frozen decoder (teacher-forced) + {cfg.code_weight} "
                             f"x mean squared distance to the true codes + {cfg.choice_weight} x the choice's "
                             + ("minus log probability of the true tokens (a mixture of its options' tokens)"
                                if cfg.choice_loss == "likelihood" else "expected share of wrong tokens"),
                     "first": {k: round(v, 4) for k, v in first.items()},
                     "final": {k: round(v, 4) for k, v in stats.items()}, "validation": history},
        "machine": machine_record(dev),
        "metrics": {"test": metrics, "test_full_context": full_metrics,
                    "windows": f"up to {cfg.eval_windows} gaps of {EVAL_MISSING} bars with {EVAL_MIN_PAST}.."
                               f"{EVAL_CONTEXT} bars before and {EVAL_MIN_FUTURE}..{EVAL_CONTEXT} after, seed 0; "
                               "greedy decoding (`score-av eval inpaint`); test_full_context: only those with "
                               f"{EVAL_CONTEXT} before and {EVAL_CONTEXT} after (`--full-context`)"},
        "config": config.to_dict(),
        "reproduce": reproduce or f"score-av train inpaint --out {out}",
    }
    write_model_card(out, card)
    return card


class _Bound(Inpainter):
    """An Inpainter over a network in training (validation while training), without a checkpoint."""

    def __init__(self, net: LatentInpainter, config: InpaintConfig, music: MusicVAE, device):
        self.net, self.config, self.music, self.device = net, config, music, device
