"""Chords under a melody: one or two diatonic chords a bar, chosen by a Viterbi search, and voiced.

Why a search and not a network: a soundtrack's bars come from the music VAE in a known key, and
what makes an accompaniment sound right is simple and checkable (the melody's strong-beat notes
are tones of the chord, the chords move as tunes' chords do, and they do not change more than the
melody needs). So each half bar (8 sixteenths) is a slot; each slot takes one of the key's
diatonic triads (plus V7, and the major V in minor); a slot's score is how well the chord holds
the notes sounding in it, each step weighted by how strong it is (beat 1, then 3, then 2 and 4,
then off-beats); moving between slots costs a change (more in the middle of a bar), made cheaper
or dearer by the move's log-probability (against a uniform choice; a change never pays for itself)
under a prior learned from the Bach chorales' roman numerals
(`fit_progression_prior`, shipped as media/models/harmony.json, made by `score-av train harmony`).
It is music-only: the key comes in as a tonic pitch class and a mode name (the modes of
`score_av.key`), and chords go out as spans in sixteenths; `voice` turns them into Notes in the
middle register for a track of their own. Definitions and figures: docs/architecture.md.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MusicInputError
from .representation import FIRST_PITCH_TOKEN, MIN_PITCH, NOTE_OFF, STEPS_PER_BAR, VOCAB_SIZE, Note

MODES = {  # the modes of score_av.key (music_vae may not import it)
    "major": (0, 2, 4, 5, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}
PRIOR_MODE = {"major": "major", "mixolydian": "major", "dorian": "minor", "minor": "minor"}  # chorales are major or minor
NUMERALS = ("I", "II", "III", "IV", "V", "VI", "VII")
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SLOT = STEPS_PER_BAR // 2  # a chord lasts at least half a bar
PRIOR_FILE = "harmony.json"


def step_weights() -> np.ndarray:
    """How much a melody note sounding on each sixteenth of the bar asks to be a chord tone."""
    w = np.full(STEPS_PER_BAR, 0.1)
    w[0::2] = 0.2                     # eighth off-beats
    w[4::4] = 0.5                     # beats 2 and 4
    w[0], w[8] = 1.0, 0.8             # beats 1 and 3
    return w


@dataclass(frozen=True)
class Settings:
    """The search's weights (chosen by reasoning, checked on held-out O'Neill's tunes, never on the
    tunes with human chords that bench/harmony.py compares against)."""

    miss: float = 1.0           # a non-chord tone costs this times its step weight (a chord tone earns 1x)
    change: float = 1.0         # cost of a chord change
    mid_bar: float = 0.6        # extra cost of a change on beat 3 rather than at the bar line
    prior: float = 1.0          # weight of the chorales' log-probability of the move
    dim: float = 0.8            # diminished triads are rare in folk accompaniment
    seventh: float = 0.3        # V7 only where its seventh helps


@dataclass(frozen=True)
class Chord:
    """A chord of the key: its scale degree (0 = I), root pitch class, quality and pitch classes."""

    degree: int
    root: int
    quality: str                # "major", "minor", "diminished", "dominant-seventh"
    pitch_classes: tuple[int, ...]

    @property
    def name(self) -> str:
        suffix = {"major": "", "minor": "m", "diminished": "dim", "dominant-seventh": "7"}[self.quality]
        return NAMES[self.root] + suffix

    @property
    def numeral(self) -> str:
        n = NUMERALS[self.degree]
        return {"major": n, "minor": n.lower(), "diminished": n.lower() + "o", "dominant-seventh": n + "7"}[self.quality]

    @property
    def is_minor(self) -> bool:
        """Major or minor, as chord symbols are compared: diminished counts as minor, V7 as major."""
        return self.quality in ("minor", "diminished")


@dataclass(frozen=True)
class ChordSpan:
    chord: Chord
    start: int   # sixteenths from the start of the first bar
    end: int


def _check_key(tonic: int, mode: str) -> None:
    if not isinstance(tonic, (int, np.integer)) or not 0 <= tonic < 12:
        raise ValueError(f"tonic must be a pitch class 0..11 (0 = C), not {tonic!r}")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")


def _triad(tonic: int, scale: tuple[int, ...], degree: int) -> Chord:
    pcs = tuple((tonic + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4))
    third, fifth = (pcs[1] - pcs[0]) % 12, (pcs[2] - pcs[0]) % 12
    quality = "diminished" if fifth == 6 else "major" if third == 4 else "minor"
    return Chord(degree, pcs[0], quality, pcs)


def chords_of_key(tonic: int, mode: str) -> list[Chord]:
    """The key's seven diatonic triads, and the dominant (V, V7) with a major third where the mode has none."""
    _check_key(tonic, mode)
    scale = MODES[mode]
    chords = [_triad(tonic, scale, d) for d in range(7)]
    root = (tonic + 7) % 12
    if chords[4].quality != "major":
        chords.append(Chord(4, root, "major", (root, (root + 4) % 12, (root + 7) % 12)))
    chords.append(Chord(4, root, "dominant-seventh", (root, (root + 4) % 12, (root + 7) % 12, (root + 10) % 12)))
    return chords


def sounding_pitches(tokens) -> np.ndarray:
    """The melody pitch sounding at each step of a token stream (-1 where nothing sounds)."""
    tokens = np.asarray(tokens).reshape(-1)
    out = np.full(len(tokens), -1)
    current = -1
    for i, tok in enumerate(tokens.tolist()):
        if tok == NOTE_OFF:
            current = -1
        elif tok >= FIRST_PITCH_TOKEN:
            current = tok - FIRST_PITCH_TOKEN + MIN_PITCH
        out[i] = current
    return out


def _as_bars(bars) -> np.ndarray:
    arr = np.asarray(bars)
    if arr.size == 0:
        return arr.reshape(0, STEPS_PER_BAR).astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"melody bars must be integer tokens, not {arr.dtype}")
    if arr.size % STEPS_PER_BAR:
        raise ValueError(f"melody of {arr.size} steps is not a whole number of {STEPS_PER_BAR}-step bars")
    if arr.min() < 0 or arr.max() >= VOCAB_SIZE:
        raise ValueError(f"melody tokens must lie in 0..{VOCAB_SIZE - 1}")
    return arr.reshape(-1, STEPS_PER_BAR)


# ---------------------------------------------------------------------------------------------
# The progression prior
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prior:
    """log P(first chord's degree) and log P(next degree | this degree, the chord changes), per mode."""

    start: dict[str, np.ndarray]    # mode -> (7,)
    change: dict[str, np.ndarray]   # mode -> (7, 7), -inf on the diagonal


def uniform_prior() -> Prior:
    start = np.full(7, -math.log(7))
    change = np.full((7, 7), -math.log(6))
    np.fill_diagonal(change, -np.inf)
    return Prior({m: start for m in ("major", "minor")}, {m: change for m in ("major", "minor")})


def _log_probs(counts: np.ndarray, smoothing: float) -> np.ndarray:
    c = np.asarray(counts, dtype=float) + smoothing
    if c.ndim == 2:
        np.fill_diagonal(c, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(c / c.sum(axis=-1, keepdims=True))


def chorale_degrees(score) -> tuple[str, list[int]]:
    """A chorale's mode ("major"/"minor") and the scale degree (0..6) of its chord on every beat:
    the four voices `chordify`d, the chord sounding at each quarter read as a roman numeral in the
    chorale's key (music21's key analysis)."""
    from music21 import roman

    key = score.analyze("key")
    chords = sorted(score.chordify().flatten().getElementsByClass("Chord"), key=lambda c: c.offset)
    degrees, i = [], 0
    end = max((c.offset + c.quarterLength for c in chords), default=0.0)
    beat = 0.0
    while beat < end:
        while i + 1 < len(chords) and chords[i + 1].offset <= beat:
            i += 1
        c = chords[i]
        if c.offset <= beat < c.offset + c.quarterLength and len(c.pitches) >= 2:
            degrees.append(int(roman.romanNumeralFromChord(c, key).scaleDegree) - 1)
        beat += 1.0
    return key.mode, degrees


def fit_progression_prior(out: Path | None = None, split: str = "train", smoothing: float = 1.0,
                          limit: int | None = None, progress: bool = False) -> dict:
    """Count chord moves in the Bach chorales of music21's corpus and return (and write to `out`,
    atomically) the prior as a small JSON-able dict: counts and log-probabilities per mode.

    Only the chorales on the `split` side of the corpus's split (seed 0, as the music models and
    the bass model split them) are read, so held-out chorales stay held out. Repeated beats of one
    degree are one chord; a move is a change of degree."""
    import music21
    from music21 import corpus

    from .corpus.dataset import DEFAULT_SPLIT_SEED, split_of
    from .corpus.sources import collection_items

    items = [it for it in collection_items("bach") if split_of(it.tune_id, DEFAULT_SPLIT_SEED) == split]
    items = items[:limit] if limit else items
    start = {m: np.zeros(7, int) for m in ("major", "minor")}
    change = {m: np.zeros((7, 7), int) for m in ("major", "minor")}
    beats, used, skipped = Counter(), Counter(), Counter()
    for n, item in enumerate(items):
        try:
            score = corpus.parse(item.payload)
            if len(score.parts) != 4:
                skipped["not four voices"] += 1
                continue
            mode, degrees = chorale_degrees(score)
        except Exception as e:  # noqa: BLE001 - one unreadable chorale must not stop the count
            skipped[type(e).__name__] += 1
            continue
        if mode not in start or len(degrees) < 2:
            skipped["no mode or too short"] += 1
            continue
        used[mode] += 1
        beats[mode] += len(degrees)
        start[mode][degrees[0]] += 1
        for a, b in zip(degrees, degrees[1:]):
            if a != b:
                change[mode][a, b] += 1
        if progress and n % 50 == 0:
            print(f"  {n}/{len(items)} chorales", flush=True)
    prior = {
        "what": "chord progression prior of music_vae.harmony: log P(first degree) and log P(next degree | "
                "degree, a change), degrees I..VII of the key; the diagonal of `change` is null (a kept "
                "chord is priced by the search's change cost, not here)",
        "made_by": "score-av train harmony (music_vae.harmony.fit_progression_prior)",
        "data": {"source": "music21 corpus: Bach chorales (four voices), chordified, the chord on each beat "
                           "as a roman numeral in the key music21 analyses",
                 "split": split, "split_seed": DEFAULT_SPLIT_SEED, "chorales": dict(used), "beats": dict(beats),
                 "skipped": dict(skipped), "music21": music21.__version__},
        "smoothing": smoothing,
        "degrees": list(NUMERALS),
        "modes": {m: {"start_counts": start[m].tolist(), "change_counts": change[m].tolist(),
                      "start_logp": _log_probs(start[m], smoothing).round(4).tolist(),
                      "change_logp": [[None if a == b else round(float(v), 4) for b, v in enumerate(row)]
                                      for a, row in enumerate(_log_probs(change[m], smoothing))]}
                  for m in ("major", "minor")},
    }
    if out is not None:
        from modelkit.atomic import atomic_write_json
        atomic_write_json(Path(out), prior)
    return prior


def default_prior_path() -> Path:
    """harmony.json in the first models folder that has it (modelkit's search path)."""
    from modelkit.locate import search_path

    folders = search_path()
    return next((d / PRIOR_FILE for d in folders if (d / PRIOR_FILE).is_file()), folders[0] / PRIOR_FILE)


def load_prior(path: Path | str | None = None) -> Prior:
    """The progression prior from its JSON (default: the shipped media/models/harmony.json)."""
    path = Path(path) if path is not None else default_prior_path()
    try:
        data = json.loads(path.read_text())
        start = {m: np.array(v["start_logp"], dtype=float) for m, v in data["modes"].items()}
        change = {m: np.array([[-np.inf if x is None else x for x in row] for row in v["change_logp"]], dtype=float)
                  for m, v in data["modes"].items()}
    except FileNotFoundError:
        raise MusicInputError(f"{path}: no harmony prior; make it with `score-av train harmony`") from None
    except (ValueError, KeyError, TypeError) as e:
        raise MusicInputError(f"{path}: not a harmony prior ({e}); remake it with `score-av train harmony`") from None
    for m in ("major", "minor"):
        if m not in start or start[m].shape != (7,) or change[m].shape != (7, 7):
            raise MusicInputError(f"{path}: the harmony prior lacks the {m} tables; remake it with `score-av train harmony`")
    return Prior(start, change)


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------

def slot_fit(bars, chords: list[Chord], settings: Settings = Settings()) -> np.ndarray:
    """(n_slots, n_chords): how well each chord holds the melody sounding in each half bar."""
    pitches = sounding_pitches(bars)
    w = np.tile(step_weights(), len(pitches) // STEPS_PER_BAR)
    member = np.array([[pc in c.pitch_classes for pc in range(12)] for c in chords])  # (n_chords, 12)
    sounding = pitches >= 0
    hit = member[:, np.where(sounding, pitches % 12, 0)] & sounding                    # (n_chords, steps)
    miss = ~member[:, np.where(sounding, pitches % 12, 0)] & sounding
    score = (hit * w - settings.miss * miss * w).reshape(len(chords), -1, SLOT).sum(-1).T
    cost = np.array([settings.dim * (c.quality == "diminished") + settings.seventh * (c.quality == "dominant-seventh")
                     for c in chords])
    return score - cost


def harmonize(bars, tonic: int, mode: str = "major", prior: Prior | None = None, settings: Settings = Settings(),
              previous: Chord | None = None) -> list[ChordSpan]:
    """Chords for melody bars (n, 16) of tokens (or a flat stream of whole bars) in the key
    (tonic pitch class, mode): one or two a bar, as spans in sixteenths from the first bar's start.
    `previous` is the chord sounding before these bars (live, bar by bar)."""
    _check_key(tonic, mode)
    bars = _as_bars(bars)
    if not len(bars):
        return []
    prior = prior if prior is not None else uniform_prior()
    chords = chords_of_key(tonic, mode)
    fit = slot_fit(bars, chords, settings)
    pm = PRIOR_MODE[mode]
    deg = np.array([c.degree for c in chords])
    # log-probabilities relative to a uniform choice: a usual move earns, an unusual one costs
    logp = prior.change[pm][deg[:, None], deg[None, :]]
    move = settings.prior * (np.where(np.isfinite(logp), logp, 0.0) + math.log(6)) - settings.change
    move = np.minimum(move, -settings.change / 4)                               # a change never pays for itself
    move = np.where(deg[:, None] == deg[None, :], -settings.change / 2, move)   # V <-> V7
    np.fill_diagonal(move, 0.0)
    changes = move < 0
    if previous is not None:
        first = move[chords.index(previous)] if previous in chords else np.full(len(chords), -settings.change)
    else:
        first = settings.prior * (prior.start[pm][deg] + math.log(7))
    score, back = fit[0] + first, []
    for s in range(1, len(fit)):
        cand = score[:, None] + move - (settings.mid_bar if s % 2 else 0.0) * changes
        back.append(cand.argmax(0))
        score = cand.max(0) + fit[s]
    path = [int(score.argmax())]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    path.reverse()
    spans: list[ChordSpan] = []
    for s, c in enumerate(path):
        if spans and spans[-1].chord == chords[c]:
            spans[-1] = ChordSpan(chords[c], spans[-1].start, (s + 1) * SLOT)
        else:
            spans.append(ChordSpan(chords[c], s * SLOT, (s + 1) * SLOT))
    return spans


def chord_at(spans: list[ChordSpan], step: int) -> Chord | None:
    for s in spans:
        if s.start <= step < s.end:
            return s.chord
    return None


def chord_tone_share(bars, spans: list[ChordSpan], beats=(0, 8)) -> tuple[int, int]:
    """(melody notes that are tones of the chord under them, melody notes) over the steps `beats`
    of every bar (default beats 1 and 3): a note counts if it sounds there (struck or held)."""
    pitches = sounding_pitches(_as_bars(bars))
    hits = total = 0
    for step in range(len(pitches)):
        if step % STEPS_PER_BAR in beats and pitches[step] >= 0:
            chord = chord_at(spans, step)
            total += 1
            hits += chord is not None and pitches[step] % 12 in chord.pitch_classes
    return hits, total


def read_key(bars) -> tuple[int, str]:
    """A melody's key (tonic, mode), for melodies that come without one. Each of the 48 keys scores
    the share of sounding time inside its scale minus the share outside, plus half the share on its
    tonic triad, plus a quarter if the melody ends on its tonic: the scale decides first, then which
    of its modes the melody dwells and ends on."""
    pitches = sounding_pitches(_as_bars(bars))
    if not (pitches >= 0).any():
        raise ValueError("the melody has no notes to read a key from")
    pcs = pitches[pitches >= 0] % 12
    hist = np.bincount(pcs, minlength=12) / len(pcs)
    best, found = -np.inf, (0, "major")
    for mode, scale in MODES.items():
        for tonic in range(12):
            inside = hist[[(tonic + d) % 12 for d in scale]].sum()
            triad = hist[[(tonic + scale[k]) % 12 for k in (0, 2, 4)]].sum()
            score = 2 * inside - 1 + 0.5 * triad + 0.25 * (pcs[-1] == tonic)
            if score > best + 1e-9:
                best, found = score, (tonic, mode)
    return found


# ---------------------------------------------------------------------------------------------
# Voicing
# ---------------------------------------------------------------------------------------------

PATTERNS = ("block", "half", "beats")


def _voicings(chord: Chord, low: int, high: int) -> list[tuple[int, ...]]:
    """Close-position voicings (every inversion) of the chord between low and high."""
    tones, out = list(chord.pitch_classes), []
    for i in range(len(tones)):
        order = tones[i:] + tones[:i]
        base = low + (order[0] - low) % 12
        while True:
            notes = [base]
            for pc in order[1:]:
                notes.append(notes[-1] + (pc - notes[-1]) % 12)
            if notes[-1] > high:
                break
            out.append(tuple(notes))
            base += 12
    return out


def voice(spans: list[ChordSpan], pattern: str = "half", low: int = 48, high: int = 67,
          velocity: int = 70, previous: tuple[int, ...] | None = None) -> list[Note]:
    """The chords as a comping part in the middle register (default C3..G4, under most of the
    melody): close-position chords, each voiced nearest the one before (smooth voice leading),
    struck at each chord change and then once a bar ("block"), on beats 1 and 3 ("half") or on
    every beat, detached ("beats"). `previous`: the voicing sounding before the first chord (live,
    the bar before's last), which it is voiced nearest; None: the first is voiced nearest the middle."""
    if pattern not in PATTERNS:
        raise ValueError(f"pattern {pattern!r} is not one of {', '.join(PATTERNS)}")
    if not 0 <= low < high - 11 <= 127 - 11:
        raise ValueError(f"the register {low}..{high} must span at least an octave within MIDI 0..127")
    every = {"block": STEPS_PER_BAR, "half": SLOT, "beats": STEPS_PER_BAR // 4}[pattern]
    notes, prev = [], previous
    centre = (low + high) / 2
    for span in spans:
        options = _voicings(span.chord, low, high)
        if prev is None:
            chosen = min(options, key=lambda v: abs(np.mean(v) - centre))
        else:
            chosen = min(options, key=lambda v: abs(np.mean(v) - np.mean(prev)) + 0.1 * abs(np.mean(v) - centre))
        prev = chosen
        strikes = [span.start] + [t for t in range(span.start + 1, span.end) if t % every == 0]
        for i, t in enumerate(strikes):
            end = strikes[i + 1] if i + 1 < len(strikes) else span.end
            if pattern == "beats":
                end = min(end, t + 3)
            notes.extend(Note(p, t, end, velocity) for p in chosen)
    return notes


def main(argv: list[str] | None = None) -> int:
    """`python -m music_vae.harmony --out media/models/harmony.json`: fit the prior (what
    `score-av train harmony` runs)."""
    import argparse

    ap = argparse.ArgumentParser(description="Fit the chord progression prior from the Bach chorales.")
    ap.add_argument("--out", type=Path, default=Path("media") / "models" / PRIOR_FILE)
    ap.add_argument("--split", default="train", help="the chorales' split side to count (default: train)")
    args = ap.parse_args(argv)
    prior = fit_progression_prior(args.out, split=args.split, progress=True)
    print(f"{args.out}: {prior['data']['chorales']} chorales, {prior['data']['beats']} beats")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
