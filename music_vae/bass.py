"""The bass: a bar of bass from the melody bar above it and its chords, steered by a 2-D code.

After BassNet (Grachten, Lattner and Deruty, 2020), brought to symbolic music. A conditional VAE:
the melody bar (project tokens) and its chords (root pitch class and quality for each half bar, no
inner voices: what a soundtrack has at use) are read by a bidirectional GRU, the condition; the
encoder reads the true bass bar beside it and gives the mean and log-variance of a 2-number code;
an autoregressive GRU writes the bass bar from the code and the condition, one token per sixteenth
in the bass register (BASS_LOW..BASS_HIGH, E1..E4), as project tokens (hold, note-off, note-on).

The loss (`train`): the bass tokens' cross-entropy, plus beta x KL to N(0, I), plus
- stability (BassNet's temporal constraint; its ablation says it is what makes the control work):
  windows of `window` consecutive bars of one chorale are encoded, and the squared distance between
  consecutive bars' posterior means is penalised (`stability_loss`);
- attribute regularisation (Pati and Lerch, "Attribute-based regularization of latent spaces", 2020):
  over every pair of bars in a batch, the sign of the difference of axis k's posterior means is
  asked to match the sign of the difference of figure k of their bass bars, as
  |tanh(delta x dz) - sign(da)| (`attribute_loss`). Axis 0 is tied to the register (mean pitch of
  the bar's note-ons), axis 1 to the notes per bar (note-ons).

Data (`load_chorales`): the Bach chorales of music21's corpus in 4/4 with four parts: soprano and bass
cut to bars on the sixteenth grid (corpus.extract.cut_bars, on the corpus's own rules), and the
chords read from the whole chorale per half bar: the triad (major, minor, diminished, augmented on
each of the 12 roots) that best fits the half bar's pitch classes, weighted by how long each sounds
(chord tones count for it, other tones against it). Training transposes each window to one of the
12 keys (an octave moved where the bass would leave the register). Split by chorale, with the
corpus's `split_of` on the corpus's tune ids (`bach/NAME`), so the music VAE's test chorales are
this model's too. Parsed once and cached under the corpus cache folder.

`evaluate`: on held-out chorales, the bass decoded greedily at the prior's centre (z = 0) against the
rule "the chord's root on beats 1 and 3" (note-on of the root at steps 0 and 8, held; the root in the
octave around the training basses' median pitch), in step accuracy (share of sixteenth steps whose
sounding bass pitch equals the true one; steps whose true pitch is unknown, a note tied in at the
start of a run of bars, are left out), onset accuracy (share of the true note-ons that the bass
plays at the same step with the same pitch), and both on pitch classes; then each axis moved over a
grid in -2..2 (the other at 0) with each figure averaged over the held-out bars, and the Spearman
correlation of the grid with the tied figure.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modelkit import (CheckpointFormat, atomic_torch_save, machine_record,
                      parameter_count, read_model_card, resolve_device, start_training, write_model_card)
from modelkit import resolve_model as _resolve_model

from .configs import BassConfig, BassModelConfig
from .corpus.dataset import cache_dir, split_of
from .corpus.extract import cut_bars
from .errors import CheckpointError, MusicInputError
from .representation import FIRST_PITCH_TOKEN, HOLD, NOTE_OFF, STEPS_PER_BAR, VOCAB_SIZE, Note, pitch_to_token

FORMAT = CheckpointFormat("score-av/bass", version=1, what="score-av bass model", error=CheckpointError)
QUALITIES = ("major", "minor", "diminished", "augmented")
TRIADS = {"major": (0, 4, 7), "minor": (0, 3, 7), "diminished": (0, 3, 6), "augmented": (0, 4, 8)}
QUALITY_PRIOR = {"major": 0.0, "minor": 0.0, "diminished": -0.1, "augmented": -0.3}  # ties go to the common triads
NO_CHORD = -1
FIGURES = ("register", "notes")     # what each axis can be tied to (BassTrainConfig.attributes)
GRID = tuple(np.round(np.linspace(-2, 2, 9), 2).tolist())
EXTRACT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# The bass register, figures, chords as numbers
# ---------------------------------------------------------------------------------------------

def bass_vocab(cfg: BassModelConfig) -> int:
    """Hold, note-off, and a note-on for every pitch of the register."""
    return 2 + cfg.high - cfg.low + 1


def to_bass_classes(bars: np.ndarray | torch.Tensor, cfg: BassModelConfig):
    """Project tokens (in the register) to the model's classes: 0 hold, 1 note-off, 2.. note-ons from cfg.low."""
    shift = pitch_to_token(cfg.low) - FIRST_PITCH_TOKEN
    return bars - shift * (bars >= FIRST_PITCH_TOKEN)


def from_bass_classes(classes: np.ndarray, cfg: BassModelConfig) -> np.ndarray:
    shift = pitch_to_token(cfg.low) - FIRST_PITCH_TOKEN
    classes = np.asarray(classes).astype(np.int64)
    return np.where(classes >= FIRST_PITCH_TOKEN, classes + shift, classes)


def pitches_of(bars) -> np.ndarray:
    """MIDI pitch of each note-on, NaN elsewhere (n, 16)."""
    bars = np.asarray(bars)
    return np.where(bars >= FIRST_PITCH_TOKEN, bars.astype(float) - FIRST_PITCH_TOKEN + 21, np.nan)


def figures_of(bars) -> dict[str, np.ndarray]:
    """Each bar's figures: register (mean MIDI pitch of its note-ons, NaN without one) and notes (note-ons)."""
    p = pitches_of(np.asarray(bars).reshape(-1, STEPS_PER_BAR))
    notes = (~np.isnan(p)).sum(1)
    with np.errstate(invalid="ignore"):
        register = np.where(notes > 0, np.nansum(p, 1) / np.maximum(notes, 1), np.nan)
    return {"register": register, "notes": notes.astype(float)}


def chord_features(chords: torch.Tensor) -> torch.Tensor:
    """(B, 2, 2) chords (root pitch class or -1, quality index) as per-step features (B, 16, 12 + 4 + 1)."""
    root, quality = chords[..., 0].long(), chords[..., 1].long()
    none = root < 0
    f = torch.cat([F.one_hot(root.clamp(min=0), 12) * ~none[..., None], F.one_hot(quality.clamp(0, 3), 4) * ~none[..., None],
                   none[..., None]], dim=-1).float()
    return f.repeat_interleave(STEPS_PER_BAR // 2, dim=1)


def transpose_chords(chords: np.ndarray | torch.Tensor, shift):
    """Chords moved by `shift` semitones (a scalar or one per bar); no-chord stays."""
    root = chords[..., 0]
    shift = shift[:, None] if hasattr(shift, "ndim") and shift.ndim == 1 else shift
    moved = (root + shift) % 12
    out = chords.clone() if isinstance(chords, torch.Tensor) else chords.copy()
    out[..., 0] = torch.where(root >= 0, moved, root) if isinstance(chords, torch.Tensor) else np.where(root >= 0, moved, root)
    return out


def best_triad(weights: np.ndarray) -> tuple[int, int]:
    """(root, quality index) of the triad that best fits a pitch-class histogram (12,), or (-1, 0) if empty."""
    total = weights.sum()
    if total <= 0:
        return NO_CHORD, 0
    best, pick = -np.inf, (NO_CHORD, 0)
    for q, name in enumerate(QUALITIES):
        for r in range(12):
            tones = [(r + i) % 12 for i in TRIADS[name]]
            inside = weights[tones].sum()
            score = (2 * inside - total) / total + QUALITY_PRIOR[name] + 0.05 * weights[r] / total
            if score > best:
                best, pick = score, (r, q)
    return pick


def chords_of_spans(spans, n_bars: int) -> np.ndarray:
    """The bass model's chords (n_bars, 2, 2) from harmony.py's chord spans over those bars: for each half
    bar, the chord sounding at its start as (root pitch class, quality index); a seventh chord counts as
    its triad, a half bar without a chord is (-1, 0). What the harmony chose is what the bass plays under."""
    from .harmony import chord_at

    out = np.zeros((n_bars, 2, 2), np.int64)
    out[..., 0] = NO_CHORD
    for bar in range(n_bars):
        for half in range(2):
            chord = chord_at(spans, bar * STEPS_PER_BAR + half * STEPS_PER_BAR // 2)
            if chord is not None:
                quality = "major" if chord.quality == "dominant-seventh" else chord.quality
                out[bar, half] = (chord.root, QUALITIES.index(quality))
    return out


def check_inputs(melody, chords, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Melody bars (n, 16) of project tokens and chords (n, 2, 2), checked; a MusicInputError that says what is wrong."""
    melody = np.asarray(melody)
    if melody.ndim == 1:
        melody = melody[None]
    if melody.ndim != 2 or melody.shape[1] != STEPS_PER_BAR or not np.issubdtype(melody.dtype, np.integer):
        raise MusicInputError(f"melody: expected bars (n, {STEPS_PER_BAR}) of integer tokens, got shape {melody.shape} "
                              f"of {melody.dtype}")
    if len(melody) and (melody.min() < 0 or melody.max() >= VOCAB_SIZE):
        raise MusicInputError(f"melody: tokens must lie in 0..{VOCAB_SIZE - 1}")
    chords = np.asarray(chords)
    if chords.ndim == 2 and chords.shape == (2, 2) and len(melody) == 1:
        chords = chords[None]
    if chords.shape != (len(melody), 2, 2) or not np.issubdtype(chords.dtype, np.integer):
        raise MusicInputError(f"chords: expected (n_bars, 2 half bars, (root pitch class, quality)) = ({len(melody)}, 2, 2) "
                              f"integers, got shape {chords.shape}")
    if ((chords[..., 0] < -1) | (chords[..., 0] > 11)).any() or ((chords[..., 1] < 0) | (chords[..., 1] >= len(QUALITIES))).any():
        raise MusicInputError(f"chords: roots must be pitch classes 0..11 (-1: none), qualities 0..{len(QUALITIES) - 1} "
                              f"({', '.join(QUALITIES)})")
    return melody.astype(np.int64), chords.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Data: soprano, bass and chords of the Bach chorales, bar by bar
# ---------------------------------------------------------------------------------------------

@dataclass
class BassData:
    """Aligned bars: melody (n, 16) and bass (n, 16) tokens, chords (n, 2, 2), the chorale of each bar and
    its start in steps (consecutive bars of a chorale are 16 steps apart)."""

    melody: np.ndarray
    bass: np.ndarray
    chords: np.ndarray
    piece: np.ndarray
    start: np.ndarray
    piece_ids: list[str]
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.bass)

    def subset(self, mask) -> "BassData":
        return BassData(self.melody[mask], self.bass[mask], self.chords[mask], self.piece[mask], self.start[mask],
                        self.piece_ids, self.skipped)

    def split(self, name: str, seed: int = 0) -> "BassData":
        sides = np.array([split_of(t, seed) for t in self.piece_ids])
        return self.subset(sides[self.piece] == name) if len(self) else self

    def follows(self) -> np.ndarray:
        """For each bar, whether it directly follows the bar before it in the same chorale."""
        ok = np.zeros(len(self), bool)
        ok[1:] = (self.piece[1:] == self.piece[:-1]) & (self.start[1:] == self.start[:-1] + STEPS_PER_BAR)
        return ok

    def pieces(self) -> int:
        return len(np.unique(self.piece))


def _part_notes(part) -> tuple[list[Note], set[int]]:
    """A part's notes on the step grid (ties joined, the top note of a chord), and the steps of unusable onsets."""
    from .corpus.extract import _on_grid
    from .representation import MAX_PITCH, MIN_PITCH
    from .representation import STEPS_PER_QUARTER as Q

    raw, prev = [], None
    for el in part.flatten().notesAndRests:
        ql = float(el.quarterLength)
        if ql <= 0 or el.duration.isGrace:
            continue
        on = float(el.offset)
        if el.isRest:
            prev = None
            continue
        pitch = max(p.midi for p in el.pitches)
        tie = getattr(el, "tie", None)
        if tie is not None and tie.type in ("stop", "continue") and prev is not None and prev[2] == pitch \
                and abs(prev[1] - on) < 1e-6:
            prev[1] = on + ql
            continue
        prev = [on, on + ql, pitch]
        raw.append(prev)
    notes, bad = [], set()
    for on, off, pitch in raw:
        start = round(on * Q)
        if not _on_grid(on) or not MIN_PITCH <= pitch <= MAX_PITCH:
            bad.add(start)
            continue
        notes.append(Note(pitch, start, max(start + 1, round(off * Q))))
    return notes, bad


def chorale_bars(path: str, tune_id: str) -> dict:
    """One chorale's aligned bars ({"melody", "bass", "chords", "start"}) or {"skipped": why}."""
    from music21 import converter, meter, stream

    try:
        score = converter.parse(str(path))
    except Exception as exc:  # music21 raises many kinds on malformed input
        return {"skipped": f"unparseable ({type(exc).__name__})"}
    named = {}
    for p in getattr(score, "parts", []):
        name = (p.partName or "").strip().lower()
        for voice in ("soprano", "alto", "tenor", "bass"):
            if name.startswith(voice):
                named.setdefault(voice, p)
    if len(named) < 4:
        return {"skipped": "no soprano, alto, tenor and bass parts named"}
    parts = [named[v] for v in ("soprano", "alto", "tenor", "bass")]   # instruments doubling them are left out
    sigs = {ts.ratioString for ts in parts[0].recurse().getElementsByClass(meter.TimeSignature)}
    if not sigs or not sigs <= {"4/4", "2/2"}:
        return {"skipped": "meter " + ",".join(sorted(sigs)) if sigs else "no time signature"}
    voices = [_part_notes(p) for p in parts]
    (sop, sop_bad), (bass, bass_bad) = voices[0], voices[-1]
    n_steps = round(float(score.highestTime) * 4)
    starts = [round(float(m.offset) * 4) for m in parts[0].getElementsByClass(stream.Measure)
              if abs(float(m.duration.quarterLength) - 4.0) < 1e-6 and not m.paddingLeft
              and abs(float(m.offset) * 4 - round(float(m.offset) * 4)) < 1e-6]
    # pitch classes sounding in each half bar, weighted by steps, over all four voices
    weights = np.zeros((n_steps + STEPS_PER_BAR, 12))
    for notes, _ in voices:
        for nt in notes:
            weights[nt.start:min(nt.end, n_steps), nt.pitch % 12] += 1
    out = {"melody": [], "bass": [], "chords": [], "start": []}
    dropped: dict[str, int] = {}
    for s in starts:
        m = cut_bars(sop, [s], sop_bad, n_steps, dropped)
        b = cut_bars(bass, [s], bass_bad, n_steps, dropped)
        if not (len(m) and len(b)):
            continue
        out["melody"].append(m[0])
        out["bass"].append(b[0])
        out["chords"].append([best_triad(weights[s:s + 8].sum(0)), best_triad(weights[s + 8:s + 16].sum(0))])
        out["start"].append(s)
    if not out["start"]:
        return {"skipped": "no complete bar with notes"}
    return out


def _chorale_item(item: tuple[str, str]) -> dict:
    path, tune_id = item
    try:
        return {"id": tune_id, **chorale_bars(path, tune_id)}
    except Exception as exc:
        return {"id": tune_id, "skipped": f"unreadable structure ({type(exc).__name__})"}


def chorale_paths() -> list[tuple[str, str]]:
    """(path, tune id) of the score files among music21's Bach chorales, ids as the melody corpus names them."""
    from music21 import corpus

    return [(str(p), f"bach/{Path(p).stem}") for p in sorted(corpus.getComposer("bach"))
            if Path(p).suffix in (".mxl", ".xml", ".musicxml", ".krn")]


def gather(results: list[dict]) -> BassData:
    parts = {k: [] for k in ("melody", "bass", "chords", "piece", "start")}
    ids, skipped = [], {}
    seen = set()
    for r in results:
        if "skipped" not in r:
            key = hashlib.sha256(np.asarray(r["melody"], np.uint8).tobytes() + np.asarray(r["bass"], np.uint8).tobytes())
            if key.digest() in seen:
                r = {"skipped": "the same soprano and bass as another chorale file"}
            seen.add(key.digest())
        if "skipped" in r:
            skipped[r["skipped"]] = skipped.get(r["skipped"], 0) + 1
            continue
        n = len(r["start"])
        for k in ("melody", "bass", "chords", "start"):
            parts[k].append(np.asarray(r[k]))
        parts["piece"].append(np.full(n, len(ids), np.int32))
        ids.append(r["id"])
    if not ids:
        raise MusicInputError("no chorale gave a usable bar of soprano and bass in 4/4")
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return BassData(cat["melody"].astype(np.uint8), cat["bass"].astype(np.uint8), cat["chords"].astype(np.int8),
                    cat["piece"], cat["start"].astype(np.int32), ids, skipped)


def load_chorales(workers: int | None = None, progress: bool = True, use_cache: bool = True) -> BassData:
    """The chorales' aligned bars, parsed in parallel once and cached (cache_dir()/bass/)."""
    import music21
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    items = chorale_paths()
    key = hashlib.sha256(f"v{EXTRACT_VERSION}|{music21.__version__}|{'|'.join(i for _, i in items)}".encode())
    path = cache_dir() / "bass" / f"chorales-{key.hexdigest()[:16]}.npz"
    if use_cache and path.exists():
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return BassData(z["melody"], z["bass"], z["chords"], z["piece"], z["start"], meta["ids"], meta["skipped"])
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        results = list(tqdm(pool.map(_chorale_item, items, chunksize=4), total=len(items), desc="parsing chorales",
                            unit="chorale", disable=not progress))
    data = gather(results)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, melody=data.melody, bass=data.bass, chords=data.chords, piece=data.piece,
                            start=data.start, meta=np.array(json.dumps({"ids": data.piece_ids, "skipped": data.skipped})))
        os.replace(tmp, path)
    return data


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------

class BassVAE(nn.Module):
    """Condition (melody tokens, chords) -> a bidirectional GRU; encoder: the bass bar beside it -> mean,
    log-variance of z; decoder: a GRU fed the previous bass class, the condition at the step and z."""

    def __init__(self, cfg: BassModelConfig):
        super().__init__()
        self.cfg = cfg
        V, E = bass_vocab(cfg), cfg.embed_dim
        self.start_class = V
        self.melody_embed = nn.Embedding(VOCAB_SIZE, E)
        self.bass_embed = nn.Embedding(V + 1, E)
        self.condition = nn.GRU(E + 17 + STEPS_PER_BAR, cfg.condition_hidden, batch_first=True, bidirectional=True)
        C = 2 * cfg.condition_hidden
        self.encoder = nn.GRU(E + C, cfg.encoder_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * cfg.encoder_hidden, cfg.latent_dim)
        self.to_logvar = nn.Linear(2 * cfg.encoder_hidden, cfg.latent_dim)
        self.to_state = nn.Linear(cfg.latent_dim + C, cfg.decoder_hidden)
        self.decoder = nn.GRU(E + C + cfg.latent_dim, cfg.decoder_hidden, batch_first=True)
        self.out = nn.Linear(cfg.decoder_hidden, V)

    def conditions(self, melody: torch.Tensor, chords: torch.Tensor) -> torch.Tensor:
        """(B, 16, C): the melody bar and its chords read both ways."""
        pos = torch.eye(STEPS_PER_BAR, device=melody.device).expand(len(melody), -1, -1)
        x = torch.cat([self.melody_embed(melody), chord_features(chords), pos], dim=-1)
        return self.condition(x)[0]

    def encode(self, bass: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | bass bar (B, 16) of classes, condition)."""
        _, h = self.encoder(torch.cat([self.bass_embed(bass), cond], dim=-1))
        h = torch.cat([h[0], h[1]], dim=-1)
        return self.to_mu(h), self.to_logvar(h).clamp(-10.0, 4.0)

    def initial_state(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_state(torch.cat([z, cond.mean(1)], dim=-1)))[None]

    def logits(self, z: torch.Tensor, cond: torch.Tensor, bass: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, 16, V) of the bass classes."""
        prev = torch.cat([torch.full_like(bass[:, :1], self.start_class), bass[:, :-1]], dim=1)
        x = torch.cat([self.bass_embed(prev), cond, z[:, None].expand(-1, STEPS_PER_BAR, -1)], dim=-1)
        return self.out(self.decoder(x, self.initial_state(z, cond))[0])

    @torch.no_grad()
    def decode(self, z: torch.Tensor, cond: torch.Tensor, temperature: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Bass classes (B, 16), greedily (temperature 0) or drawn. The first step never holds: a bar starts with a note."""
        state = self.initial_state(z, cond)
        token = torch.full((len(z),), self.start_class, dtype=torch.long, device=z.device)
        out = []
        for t in range(STEPS_PER_BAR):
            x = torch.cat([self.bass_embed(token), cond[:, t], z], dim=-1)[:, None]
            y, state = self.decoder(x, state)
            logits = self.out(y[:, 0])
            if t == 0:
                logits[:, :FIRST_PITCH_TOKEN] = float("-inf")
            if temperature <= 0:
                token = logits.argmax(-1)
            else:
                token = torch.multinomial(F.softmax(logits / temperature, -1), 1, generator=generator)[:, 0]
            out.append(token)
        return torch.stack(out, dim=1)


# ---------------------------------------------------------------------------------------------
# The two regularisers
# ---------------------------------------------------------------------------------------------

def stability_loss(mu: torch.Tensor) -> torch.Tensor:
    """BassNet's temporal stability: mean squared distance between consecutive bars' posterior means,
    mu (windows, bars, d) of consecutive bars of one piece."""
    if mu.shape[1] < 2:
        return mu.new_zeros(())
    return ((mu[:, 1:] - mu[:, :-1]) ** 2).sum(-1).mean()


def attribute_loss(mu: torch.Tensor, figures: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Pati and Lerch's attribute regularisation, axis k against figure k: over all pairs of the batch,
    mean |tanh(delta (mu_i,k - mu_j,k)) - sign(a_i,k - a_j,k)|. mu (n, d), figures (n, k <= d)."""
    loss = mu.new_zeros(())
    for k in range(figures.shape[1]):
        dz = mu[:, None, k] - mu[None, :, k]
        da = figures[:, None, k] - figures[None, :, k]
        loss = loss + (torch.tanh(delta * dz) - torch.sign(da)).abs().mean()
    return loss


# ---------------------------------------------------------------------------------------------
# Checkpoints and the trained model
# ---------------------------------------------------------------------------------------------

def resolve_model(name_or_path: str | os.PathLike) -> Path:
    return _resolve_model(name_or_path, CheckpointError, train="score-av train bass")


def save_checkpoint(path: Path, net: BassVAE, config: BassConfig, step: int, extra: dict) -> None:
    """Weights stored as float16 (loaded as float32); the training state stays float32 in OUT.train.pt."""
    FORMAT.write_model(path, net, config, step, extra)


def load_checkpoint(path: Path, device="cpu") -> tuple[BassVAE, BassConfig, dict]:
    return FORMAT.read_model(path, BassConfig, BassVAE, device)


class Bass:
    """A trained bass model. `play(melody (n, 16), chords (n, 2, 2), z)` gives bass bars (n, 16) of project
    tokens in the register; z (2,) or (n, 2): axis 0 the register, axis 1 the notes per bar (see the card)."""

    def __init__(self, name_or_path: str | os.PathLike = "bass", device: str = "auto"):
        self.path = resolve_model(name_or_path)
        self.device = resolve_device(device)
        self.net, self.config, ckpt = load_checkpoint(self.path, self.device)
        self.card = read_model_card(self.path)
        self.axes = tuple(self.config.train.attributes)

    @property
    def latent_dim(self) -> int:
        return self.config.model.latent_dim

    def _cond(self, melody, chords) -> torch.Tensor:
        melody, chords = check_inputs(melody, chords)
        return self.net.conditions(torch.as_tensor(melody, device=self.device),
                                   torch.as_tensor(chords, device=self.device))

    @torch.no_grad()
    def play(self, melody, chords, z=None, temperature: float = 0.0, seed: int | None = None,
             batch_size: int = 1024) -> np.ndarray:
        melody, chords = check_inputs(melody, chords)
        n, d = len(melody), self.latent_dim
        z = np.zeros(d, np.float32) if z is None else np.asarray(z, np.float32)
        if z.shape == (d,):
            z = np.broadcast_to(z, (n, d))
        if z.shape != (n, d) or not np.isfinite(z).all():
            raise MusicInputError(f"z: expected {d} finite numbers, or one row of them per bar ({n}, {d}); got {z.shape}")
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        out = []
        for i in range(0, n, batch_size):
            cond = self._cond(melody[i:i + batch_size], chords[i:i + batch_size])
            zz = torch.as_tensor(np.ascontiguousarray(z[i:i + batch_size]), device=self.device)
            out.append(self.net.decode(zz, cond, temperature, gen).cpu().numpy())
        return from_bass_classes(np.concatenate(out), self.config.model) if out else np.zeros((0, 16), np.int64)

    @torch.no_grad()
    def encode(self, bass, melody, chords) -> np.ndarray:
        """Posterior means (n, 2) of bass bars in the register under their melody and chords."""
        melody, chords = check_inputs(melody, chords)
        bass = np.asarray(bass).reshape(-1, STEPS_PER_BAR).astype(np.int64)
        cfg = self.config.model
        is_note = bass >= FIRST_PITCH_TOKEN
        if bass.shape != melody.shape or (is_note & ((bass < pitch_to_token(cfg.low)) | (bass > pitch_to_token(cfg.high)))).any():
            raise MusicInputError(f"bass: expected bars {melody.shape} with notes in MIDI {cfg.low}..{cfg.high}")
        cond = self._cond(melody, chords)
        classes = torch.as_tensor(to_bass_classes(bass, cfg), device=self.device)
        return self.net.encode(classes, cond)[0].cpu().numpy()


class _Bound(Bass):
    """A Bass over a network in training, without a checkpoint."""

    def __init__(self, net: BassVAE, config: BassConfig, device):
        self.net, self.config, self.device, self.card, self.path = net, config, device, {}, None
        self.axes = tuple(config.train.attributes)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

def sounding(bars: np.ndarray, follows: np.ndarray) -> np.ndarray:
    """The pitch sounding at each step (n, 16): -1 silence, -2 unknown (a note tied in where the bar before is
    not given). A bar that follows the bar before it (`follows`) carries that bar's last sounding pitch in."""
    bars = np.asarray(bars).reshape(-1, STEPS_PER_BAR)
    out = np.empty(bars.shape, np.int64)
    now = -2
    for i, bar in enumerate(bars):
        if not follows[i]:
            now = -2
        for t, tok in enumerate(bar.tolist()):
            if tok == NOTE_OFF:
                now = -1
            elif tok >= FIRST_PITCH_TOKEN:
                now = tok - FIRST_PITCH_TOKEN + 21
            out[i, t] = now
    return out


def rule_bass(chords: np.ndarray, centre: float) -> np.ndarray:
    """The rule: the chord's root at steps 0 and 8 (note-on, held), in the octave nearest `centre` (MIDI)."""
    chords = np.asarray(chords)
    out = np.zeros((len(chords), STEPS_PER_BAR), np.int64)
    for h in range(2):
        root = chords[:, h, 0]
        pitch = root + 12 * np.round((centre - root) / 12)
        out[:, 8 * h] = np.where(root >= 0, pitch - 21 + FIRST_PITCH_TOKEN, NOTE_OFF if h == 0 else HOLD)
    return out


def accuracy(truth: np.ndarray, guess: np.ndarray, follows: np.ndarray) -> dict:
    """Step accuracy (sounding pitch per sixteenth, unknown true steps left out), onset accuracy (true note-ons
    matched by a note-on of the same pitch at the same step), and both on pitch classes."""
    t, g = sounding(truth, follows), sounding(guess, follows)
    known = t > -2
    onset = truth >= FIRST_PITCH_TOKEN
    pc = lambda p: np.where(p >= 0, p % 12, p)  # noqa: E731
    return {"step_accuracy": float((t == g)[known].mean()), "onset_accuracy": float((truth == guess)[onset].mean()),
            "step_pitch_class_accuracy": float((pc(t) == pc(g))[known].mean()),
            "onset_pitch_class_accuracy": float(((truth - guess) % 12 == 0)[onset & (guess >= FIRST_PITCH_TOKEN)].sum()
                                                / max(onset.sum(), 1))}


def spearman(x, y) -> float:
    """Spearman's rank correlation (ties get their mean rank)."""
    def ranks(a):
        a = np.asarray(a, float)
        order = a.argsort(kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(len(a))
        for v in np.unique(a):
            r[a == v] = r[a == v].mean()
        return r
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def evaluate(model: Bass, data: BassData, centre: float, chords: np.ndarray | None = None,
             grid=GRID) -> dict:
    """The model at z = 0 against the rule on `data` (held-out bars), and each axis over the grid.
    `chords` replace the data's own (e.g. chords chosen from the melody alone); `centre` is the MIDI pitch
    the rule's octave is placed around (the training basses' median)."""
    if not len(data):
        raise MusicInputError("no bars to evaluate the bass on")
    chords = data.chords.astype(np.int64) if chords is None else np.asarray(chords, np.int64)
    melody, truth, follows = data.melody.astype(np.int64), data.bass.astype(np.int64), data.follows()
    at_centre = model.play(melody, chords)
    out = {"bars": int(len(data)), "chorales": int(data.pieces()),
           "model_z0": accuracy(truth, at_centre, follows),
           "rule_root_beats_1_3": accuracy(truth, rule_bass(chords, centre), follows),
           "rule_octave_centre_midi": round(float(centre), 1)}
    true_mu = model.encode(truth, melody, chords) if _in_register(truth, model.config.model) else None
    sweeps = {}
    for k, tied in enumerate(model.axes):
        rows = []
        for g in grid:
            z = np.zeros(model.latent_dim, np.float32)
            z[k] = g
            f = figures_of(model.play(melody, chords, z))
            rows.append({name: round(float(np.nanmean(v)), 3) for name, v in f.items()})
        values = [r[tied] for r in rows]
        sweeps[f"axis{k}"] = {"tied_to": tied, "grid": list(grid), "figures": rows,
                              "spearman": round(spearman(grid, values), 3),
                              "monotonic": bool(np.all(np.diff(values) > 0) or np.all(np.diff(values) < 0)),
                              "non_decreasing": bool(np.all(np.diff(values) >= 0))}
        if true_mu is not None:
            truth_f = figures_of(truth)[tied]
            ok = ~np.isnan(truth_f)
            sweeps[f"axis{k}"]["true_bars"] = {
                "mean_mu": round(float(true_mu[:, k].mean()), 3), "std_mu": round(float(true_mu[:, k].std()), 3),
                "spearman_mu_vs_figure": round(spearman(true_mu[ok, k], truth_f[ok]), 3)}
    out["axes"] = sweeps
    if true_mu is not None:
        step = np.linalg.norm(np.diff(true_mu, axis=0), axis=1)[follows[1:]]
        out["latent_step_between_consecutive_bars"] = {"mean": round(float(step.mean()), 3) if len(step) else None,
                                                       "spread_of_codes": round(float(np.linalg.norm(true_mu.std(0))), 3)}
    return out


def _in_register(bars: np.ndarray, cfg: BassModelConfig) -> bool:
    is_note = bars >= FIRST_PITCH_TOKEN
    return not (is_note & ((bars < pitch_to_token(cfg.low)) | (bars > pitch_to_token(cfg.high)))).any()


def rule_centre(data: BassData) -> float:
    """The median MIDI pitch of the bass note-ons of `data` (the training split): where the rule's octave sits."""
    p = pitches_of(data.bass)
    return float(np.nanmedian(p))


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

class WindowSampler:
    """Windows of `window` consecutive bars of one chorale, each moved to a random one of the 12 keys (an octave
    further where the bass would leave the register)."""

    def __init__(self, data: BassData, cfg: BassConfig, generator: torch.Generator):
        self.gen, self.L, m = generator, cfg.train.window, cfg.model
        follows = data.follows()
        run = np.ones(len(data), int)   # consecutive bars ending at each bar
        for i in range(1, len(data)):
            run[i] = run[i - 1] + 1 if follows[i] else 1
        self.ends = np.flatnonzero(run >= self.L)
        if not len(self.ends):
            raise MusicInputError(f"no chorale has {self.L} consecutive usable bars to learn the bass's stability from")
        # the lowest and highest note of each bar's chorale, bass and melody
        run_id = np.cumsum(np.r_[True, data.piece[1:] != data.piece[:-1]]) - 1
        firsts = np.flatnonzero(np.r_[True, data.piece[1:] != data.piece[:-1]])
        (blo, bhi), (mlo, mhi) = self._bounds(data.bass), self._bounds(data.melody)
        blo, bhi = np.minimum.reduceat(blo, firsts)[run_id], np.maximum.reduceat(bhi, firsts)[run_id]
        mlo, mhi = np.minimum.reduceat(mlo, firsts)[run_id], np.maximum.reduceat(mhi, firsts)[run_id]
        fits_shift = lambda s: (blo + s >= m.low) & (bhi + s <= m.high) & (mlo + s >= 21) & (mhi + s <= 108)  # noqa
        shifts = np.tile(np.arange(-6, 6), (len(data), 1))
        fits = np.zeros(shifts.shape, bool)
        for j, s in enumerate(range(-6, 6)):
            for cand in (s, s - 12, s + 12):
                ok = fits_shift(cand) & ~fits[:, j]
                shifts[ok, j] = cand
                fits[:, j] |= ok
        self.shifts, self.fits = torch.as_tensor(shifts), torch.as_tensor(fits)
        self.melody = torch.as_tensor(data.melody.astype(np.int64))
        self.bass = torch.as_tensor(data.bass.astype(np.int64))
        self.chords = torch.as_tensor(data.chords.astype(np.int64))
        self.cfg = m

    @staticmethod
    def _bounds(bars):
        p = pitches_of(bars)
        return np.nan_to_num(np.nanmin(np.where(np.isnan(p), np.inf, p), 1), posinf=60).astype(int), \
            np.nan_to_num(np.nanmax(np.where(np.isnan(p), -np.inf, p), 1), neginf=60).astype(int)

    def batch(self, size: int):
        """melody, bass classes, chords: (size * window, ...) with each window's bars in order."""
        g = self.gen
        end = torch.as_tensor(self.ends)[torch.randint(len(self.ends), (size,), generator=g)]
        idx = (end[:, None] - torch.arange(self.L - 1, -1, -1)[None]).reshape(-1)
        key = torch.randint(12, (size,), generator=g)
        fits = self.fits[end, key]
        key = torch.where(fits, key, 6)   # a window no key of which fits stays as written (shift 0 is column 6)
        shift = self.shifts[end, key].repeat_interleave(self.L)
        move = lambda t: torch.where(t >= FIRST_PITCH_TOKEN, t + shift[:, None], t)  # noqa: E731
        melody, bass = move(self.melody[idx]), move(self.bass[idx])
        bass = bass.clamp(max=pitch_to_token(self.cfg.high))
        bass = torch.where(bass >= FIRST_PITCH_TOKEN, bass.clamp(min=pitch_to_token(self.cfg.low)), bass)
        return melody, to_bass_classes(bass, self.cfg), transpose_chords(self.chords[idx], shift), bass


def batch_loss(net: BassVAE, melody, classes, chords, bass_tokens, cfg, step: int, window: int) -> tuple[torch.Tensor, dict]:
    t = cfg.train
    cond = net.conditions(melody, chords)
    mu, logvar = net.encode(classes, cond)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    logits = net.logits(z, cond, classes)
    rec = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), classes.reshape(-1), reduction="sum") / len(classes)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1).mean()
    beta = t.beta * min(1.0, step / max(t.beta_warmup, 1))
    stab = stability_loss(mu.view(-1, window, mu.shape[-1]))
    f = figures_of(bass_tokens.cpu().numpy())
    figs = torch.as_tensor(np.stack([f[name] for name in t.attributes], 1), dtype=mu.dtype, device=mu.device)
    attr = attribute_loss(mu, figs, t.attribute_delta)
    loss = rec + beta * kl + t.stability_weight * stab + t.attribute_weight * attr
    acc = (logits.argmax(-1) == classes).float().mean()
    return loss, {"rec": rec.item(), "kl": kl.item(), "stability": stab.item(), "attribute": attr.item(),
                  "tf_acc": acc.item()}


def train(config: BassConfig, out: Path, data: BassData | None = None, resume: bool = False, device: str = "auto",
          progress: bool = True, reproduce: str | None = None) -> dict:
    """Train, checkpoint every eval_every steps (OUT.pt and OUT.train.pt for --resume), and write the card
    OUT.json with the test split's figures. `data`: given (tests), else the chorales."""
    from tqdm import tqdm

    cfg = config.train
    out, state_path, dev, gen = start_training(out, cfg.seed, device)
    data = data if data is not None else load_chorales(progress=progress)
    train_set, valid_set, test_set = (data.split(s, cfg.split_seed) for s in ("train", "valid", "test"))
    sampler = WindowSampler(train_set, config, gen)
    net = BassVAE(config.model).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    step, wall, first, history = 0, 0.0, {}, []
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=dev, weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, wall, first, history = state["step"], state["wall_seconds"], state["first"], list(state["history"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    centre = rule_centre(train_set)
    watch = valid_set if len(valid_set) else train_set
    bar = tqdm(total=cfg.steps, initial=step, desc="training bass", unit="step", disable=not progress)
    t0, stats = time.time() - wall, {}
    while step < cfg.steps:
        net.train()
        for group in opt.param_groups:
            group["lr"] = max(cfg.min_learning_rate, cfg.learning_rate * cfg.decay_rate ** step)
        melody, classes, chords, tokens = (x.to(dev) for x in sampler.batch(cfg.batch_size))
        loss, stats = batch_loss(net, melody, classes, chords, tokens, config, step, cfg.window)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        first = first or stats
        bar.update()
        bar.set_postfix(rec=f"{stats['rec']:.2f}", stab=f"{stats['stability']:.3f}", attr=f"{stats['attribute']:.3f}")
        if step % cfg.eval_every == 0 or step == cfg.steps:
            net.eval()
            v = accuracy(watch.bass.astype(np.int64), _Bound(net, config, dev).play(watch.melody, watch.chords),
                         watch.follows())
            history.append({"step": step, **{k: round(x, 4) for k, x in stats.items()},
                            "valid_step_accuracy_z0": round(v["step_accuracy"], 4)})
            save_checkpoint(out, net, config, step, {"data": cfg.data, "split_seed": cfg.split_seed, "history": history})
            atomic_torch_save({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                               "wall_seconds": time.time() - t0, "generator": gen.get_state(),
                               "torch_rng": torch.get_rng_state(), "first": first, "history": history}, state_path)
    bar.close()
    wall = time.time() - t0
    stored = Bass(out, device=str(dev))   # the card describes the weights as stored (float16)
    metrics = evaluate(stored, test_set, centre) if len(test_set) else {}
    card = {
        "model": out.stem,
        "kind": "conditional bass VAE after BassNet (Grachten, Lattner and Deruty 2020), symbolic: a bass bar from the "
                "melody bar and its chords, steered by a 2-D code",
        "parameters": parameter_count(stored.net),
        "axes": {f"axis{k}": name for k, name in enumerate(cfg.attributes)},
        "data": {"sources": cfg.data, "split_seed": cfg.split_seed,
                 "split": "by chorale, the melody corpus's split_of on ids bach/NAME: 90% train, 5% valid, 5% test",
                 "chorales": {"train": train_set.pieces(), "valid": valid_set.pieces(), "test": test_set.pieces()},
                 "bars": {"train": len(train_set), "valid": len(valid_set), "test": len(test_set)},
                 "skipped": data.skipped,
                 "chords": "per half bar, the triad (major, minor, diminished, augmented; 12 roots) that best fits the "
                           "pitch classes of all four voices weighted by duration",
                 "augmentation": f"windows of {cfg.window} consecutive bars moved to a random one of the 12 keys "
                                 f"(-6..+5, an octave further where the bass leaves MIDI {config.model.low}.."
                                 f"{config.model.high})"},
        "training": {"steps": step, "batch_size": f"{cfg.batch_size} windows of {cfg.window} bars",
                     "wall_seconds": round(wall, 1),
                     "loss": f"bass token cross-entropy (sum over 16 steps) + {cfg.beta} x KL (warmed up over "
                             f"{cfg.beta_warmup} steps) + {cfg.stability_weight} x mean squared distance between "
                             f"consecutive bars' posterior means + {cfg.attribute_weight} x attribute regularisation "
                             f"(Pati and Lerch 2020, on posterior means, delta {cfg.attribute_delta})",
                     "first": {k: round(v, 4) for k, v in first.items()},
                     "final": {k: round(v, 4) for k, v in stats.items()}, "validation": history},
        "machine": machine_record(dev),
        "metrics": {"test": metrics, "chords": "read from the chorale (all four voices)",
                    "how": "greedy decoding; see music_vae/bass.py evaluate and bench/bass.py"},
        "config": config.to_dict(),
        "reproduce": reproduce or f"score-av train bass --out {out}",
    }
    write_model_card(out, card)
    return card
