"""Between the mapping and the notes: what makes a string of decoded bars into music.

The music model decodes one bar at a time from one code, knowing nothing of the piece. The
conductor gives the bars a piece to belong to:

- **a key.** Each new bar is decoded, moved by the transposition that puts most of its notes in
  the key, read back by the encoder (so the code says the new key) and decoded again with the
  notes outside the key made rare (`Conducting.chromatic`, a logit penalty: passing notes and
  leading tones stay possible, at about the corpus's rate) and the notes outside a comfortable
  register forbidden. With `modulate`, a cut in the picture may move the piece to a related key:
  the one the bar decoded there fits best. A cut inside a bar makes two jumps of the look (the bar
  that holds both shots, and the one after it): it moves the key once.
- **phrases.** Phrases are 8 bars, counted from the first bar and started again on the bar after a
  cut (a jump of the look past CUT, or a bar given as a cut: someone entering an empty room,
  presence.py). Bars are placed an octave up or down so that each begins near
  where the last one ended, and every fourth bar of a phrase ends on the tonic, whatever made it:
  a new bar, a held one, a developed one or a theme brought back (phrase_end).
- **development.** Where the picture holds one look, the music plays a phrase, not a loop. The
  bar the look started with is the anchor: it comes back every RETURN bars (bar 5 of 8 answers bar
  1, as in a tune), and each bar between is inpainted (music_vae/inpaint.py) from the bars of the
  shot before it towards the anchor's return, or, offline, towards the next look when the picture
  changes first within the shot. It never sounds like another of the look's last DEVELOP_AVOID bars
  (develop_bar): a still shot of 16 bars is two phrases, not a 4-bar loop. It takes its rhythm from
  the real bar whose code lies nearest the inpainted one (real_rhythms) and its pitches from its own
  code: decoded freely, an inpainted code gives a plainer bar than a tune's. Off
  (`development=False`, `--no-development`) a held look repeats its bar; so it does with a music
  model no inpainting model learned.
- **bridges.** With `bridge_cuts` (offline only: it needs the shot after), the last bar before a
  cut is inpainted between the bars of the shot before and those of the shot after: the model's own
  code for that bar, not a copy of either side's (unless it sounds like a bar of the shot), so the
  music leans towards the next shot; the cut is still heard at its bar line, where the new shot's
  bar starts. A shot of one bar keeps its bar.
- **variation.** Inside a shot a new bar keeps the first beats of the bar before, more the less
  the picture moved (keep_steps), and decodes the rest from its own code: decoded whole, two
  bars of a dense idiom differ in most steps whatever their codes, and a slow move would sound
  like a cut.
- **themes.** Every look scored is remembered with its bar. When the picture comes back to a
  look (its code within `theme_radius` of one already played, other than the bar sounding now:
  whether the music moves on at all is `hold_steady`'s to say), that bar is played again, note
  for note. Offline this is deterministic; the memory keeps at most `memory` looks.
- **movement.** Each bar's motion (0 still to 1 busy) sets the loudness of its notes. With
  `density`, it also moves the code of a new bar along the model's density vector
  (attributes.py: from half of it towards sparser bars when still to half of it towards denser
  ones when busy). That is off by default: on the shared and made clips it made bars within a
  shot differ as the motion did, and added leaps.

A bar whose code did not change (held by `mapping.hold_steady`) keeps the bar before it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from music_vae.representation import FIRST_PITCH_TOKEN, MIN_PITCH, STEPS_PER_BAR, STEPS_PER_QUARTER, VOCAB_SIZE

from .errors import ScoreAVError
from .key import Key
from .models import MusicModel

PHRASE = 4              # every PHRASE-th bar of a phrase ends on the tonic
RETURN = 4              # a held look's anchor bar comes back every RETURN bars
DEVELOP_AVOID = 7       # a developed bar is none of the look's last DEVELOP_AVOID bars (a phrase's others)
REGISTER = (55, 84)     # MIDI pitches a melody stays within: G3 to C6
VELOCITY = (56, 104)    # the loudness of a still bar and of a busy one
THEME_RADIUS = 1.0      # distance of positions within which a look counts as one already scored
CUT = 3.0               # distance between neighbouring bars' looks (positions) that counts as a cut


@dataclass(frozen=True)
class Conducting:
    """How the conductor plays; every part can be turned off (None or 0)."""
    key: Key | None = None          # None: each bar in its own key, as decoded
    modulate: bool = False
    chromatic: float = 10.0         # logit penalty of a note outside the key (inf: never)
    leap_penalty: float = 6.0       # logit penalty of a note more than 7 semitones from the one before
    register: tuple[int, int] | None = REGISTER
    phrases: bool = True
    theme_radius: float = THEME_RADIUS  # 0: no themes
    memory: int = 4096              # looks remembered
    velocity: tuple[int, int] | None = VELOCITY
    density: float = 0.0            # motion adds this much of the model's density vector (more notes); 0: none
    variation: bool = True          # a new bar near the one before keeps its first beats (keep_steps)
    development: bool = True        # a held look grows a phrase from its anchor bar (needs music.inpainter())
    bridge_cuts: bool = False       # the bar before a cut inpainted between the two shots (offline)


@dataclass
class Conducted:
    bars: np.ndarray                # (n, 16) tokens
    velocities: np.ndarray          # (n,) MIDI velocity of each bar's notes
    keys: list[Key | None]          # the key of each bar
    theme_of: np.ndarray            # (n,) index of the earlier bar a bar repeats as a theme, -1 if none
    held: np.ndarray                # (n,) bool: the bar keeps the one before (its code did not move)
    codes: np.ndarray | None = None  # (n, d) the music code each bar plays (its position, placed)
    developed: np.ndarray | None = None  # (n,) bool: the bar was inpainted, growing a held look's phrase
    phrase_start: np.ndarray | None = None  # (n,) the first bar of the phrase each bar belongs to
    bridged: np.ndarray | None = None   # (n,) bool: the bar was inpainted between the shot it ends and the next
    extra: dict = field(default_factory=dict)


def pitch_of(tokens: np.ndarray) -> np.ndarray:
    return tokens.astype(int) - FIRST_PITCH_TOKEN + MIN_PITCH


def transpose(bars: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Bars (n, 16) with every note moved by shifts (n,) semitones, kept on the piano."""
    bars = np.asarray(bars)
    moved = np.where(bars >= FIRST_PITCH_TOKEN, bars + np.asarray(shifts)[:, None], bars)
    return np.where(bars >= FIRST_PITCH_TOKEN, np.clip(moved, FIRST_PITCH_TOKEN, VOCAB_SIZE - 1), bars)


def best_shift(bar: np.ndarray, key: Key, register: tuple[int, int] | None = None) -> int:
    """The transposition that puts most of the bar's note onsets in the key and, by whole octaves,
    most of them in the register; the smallest move wins ties."""
    pitches = pitch_of(bar[bar >= FIRST_PITCH_TOKEN])
    if not len(pitches):
        return 0
    lo, hi = register or (MIN_PITCH, MIN_PITCH + VOCAB_SIZE - FIRST_PITCH_TOKEN - 1)
    centre = (lo + hi) / 2

    def fit(s: int) -> tuple:
        moved = pitches + s
        return (int(key.contains(moved).sum()), int(((moved >= lo) & (moved <= hi)).sum()),
                -abs(float(np.median(moved)) - centre), -abs(s))
    return max(range(-17, 19), key=fit)


def key_bias(key: Key | None, chromatic: float, register: tuple[int, int] | None, n: int) -> np.ndarray:
    """(n, 16, vocab) logit bias: -chromatic outside the key, -inf outside the register."""
    bias = np.zeros(VOCAB_SIZE, np.float32)
    pitches = np.arange(MIN_PITCH, MIN_PITCH + VOCAB_SIZE - FIRST_PITCH_TOKEN)
    if key is not None:
        bias[FIRST_PITCH_TOKEN:][~key.contains(pitches)] = -chromatic
    if register is not None:
        bias[FIRST_PITCH_TOKEN:][(pitches < register[0]) | (pitches > register[1])] = -np.inf
    return np.broadcast_to(bias, (n, STEPS_PER_BAR, VOCAB_SIZE)).copy()


def codes_in_key(music: MusicModel, codes: np.ndarray, key: Key | None, how: Conducting) -> np.ndarray:
    """The codes that say the same bars in `key`: each decoded, transposed into the key (best_shift)
    and read back by the encoder. The codes themselves when key is None."""
    if key is None or not len(codes):
        return np.asarray(codes, np.float32)
    free = music.decode(codes)
    return music.encode(transpose(free, np.array([best_shift(b, key, how.register) for b in free])))


def decode_keyed(music: MusicModel, keyed: np.ndarray, key: Key | None, how: Conducting,
                 prefix: np.ndarray | None = None, unlike: np.ndarray | None = None) -> np.ndarray:
    """Bars decoded from codes already in `key` (codes_in_key), with the notes outside the key made
    rare, leaps penalised and the register kept. `prefix` (n, k): the first k tokens of each, given.
    `unlike` (16,) or (m, 16): bars they must differ from (each one's last note after the prefix is
    forbidden at its step)."""
    bias = key_bias(key, how.chromatic if key is not None else 0, how.register, len(keyed))
    kept = 0 if prefix is None else prefix.shape[1]
    for other in np.asarray(unlike).reshape(-1, STEPS_PER_BAR) if unlike is not None else []:
        notes = [s for s in np.flatnonzero(other >= FIRST_PITCH_TOKEN) if s >= kept]
        step = notes[-1] if notes else min(kept, STEPS_PER_BAR - 1)
        bias[:, step, other[step]] = -np.inf
    return music.decode(keyed, prefix=prefix, leap_penalty=how.leap_penalty, bias=bias)


def keep_steps(distance: float) -> int:
    """How much of the bar before a new bar keeps when its look is `distance` from that bar's: whole
    beats, more the nearer it is, none at a cut (CUT), and never the last beat. A slowly moving
    shot then varies its bars as a tune does (the head kept, the rest new) instead of starting a
    new one every bar, and the music changes in step with the picture."""
    beats = int(np.floor((1 - distance / CUT) * STEPS_PER_BAR / STEPS_PER_QUARTER))
    return STEPS_PER_QUARTER * min(max(beats, 0), STEPS_PER_BAR // STEPS_PER_QUARTER - 1)


def cadence(bar: np.ndarray, key: Key, register: tuple[int, int] | None) -> np.ndarray:
    """The bar with its last note moved to a tonic within the register: the one nearest the note
    before it (a phrase closes by stepping to the tonic, not by a leap), or nearest the last note
    itself when it is the bar's only one."""
    steps = np.flatnonzero(bar >= FIRST_PITCH_TOKEN)
    if not len(steps):
        return bar
    approach = int(pitch_of(bar[steps[-2:]])[0])  # the note before the last, or the last when alone
    lo, hi = register or (MIN_PITCH, MIN_PITCH + VOCAB_SIZE - FIRST_PITCH_TOKEN - 1)
    tonics = [p for p in range(lo, hi + 1) if p % 12 == key.tonic]
    if not tonics:
        return bar
    out = bar.copy()
    out[steps[-1]] = min(tonics, key=lambda p: (abs(p - approach), p)) - MIN_PITCH + FIRST_PITCH_TOKEN
    return out


def phrase_end(bar: np.ndarray, key: Key | None, how: Conducting, index: int) -> np.ndarray:
    """The bar that sounds as bar `index` of its phrase (from 0): when it closes one (every PHRASE-th
    bar) its last note is moved to the tonic, whether it was decoded anew, held, developed or
    brought back as a theme. A listener hears where phrases end, not how their bars were made."""
    if how.phrases and key is not None and index % PHRASE == PHRASE - 1:
        return cadence(bar, key, how.register)
    return bar


def place_octave(bar: np.ndarray, last_pitch: int | None, register: tuple[int, int] | None) -> np.ndarray:
    """The bar moved by whole octaves so that its first note is nearest the note before it, within the register."""
    steps = np.flatnonzero(bar >= FIRST_PITCH_TOKEN)
    if last_pitch is None or not len(steps):
        return bar
    pitches = pitch_of(bar[steps])
    lo, hi = register or (MIN_PITCH, MIN_PITCH + VOCAB_SIZE - FIRST_PITCH_TOKEN - 1)
    options = [o for o in (0, -12, 12, -24, 24) if pitches.min() + o >= lo and pitches.max() + o <= hi] or [0]
    best = min(options, key=lambda o: (abs(pitches[0] + o - last_pitch), abs(o)))
    return transpose(bar[None], np.array([best]))[0]


def finish_bar(music: MusicModel, keyed: np.ndarray, key: Key | None, how: Conducting,
               before: tuple[np.ndarray, float] | None, last_pitch: int | None,
               whole: np.ndarray | None = None) -> np.ndarray:
    """A new bar of the piece, decoded from `keyed` (its code in `key`). `before` is the bar
    played before it and the distance between their looks: a near one lends its first beats
    (keep_steps) and the rest is decoded after them; otherwise the bar is decoded whole (or is
    `whole`, already decoded in a batch) and placed by octaves near `last_pitch`. The offline
    conductor and the live engine both finish their new bars here; phrase_end then closes the phrase."""
    keep = keep_steps(before[1]) if how.variation and before is not None else 0
    if keep:
        bar = decode_keyed(music, keyed[None], key, how, prefix=before[0][None, :keep])[0]
    else:
        bar = whole if whole is not None else decode_keyed(music, keyed[None], key, how)[0]
        if how.phrases:
            bar = place_octave(bar, last_pitch, how.register)
    return bar


def inpainter_for(music: MusicModel, how: Conducting):
    """The inpainting model that develops held looks, or None (development off, or none learned this model)."""
    find = getattr(music, "inpainter", None)
    return find() if how.development and find is not None else None


def bars_to_return(offset: int) -> int:
    """Bars from a held look's bar `offset` (1 or more after its anchor) to the anchor's next return."""
    return RETURN - offset % RETURN


def same_notes(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two bars strike the same pitches at the same steps, or the same figure whole octaves apart:
    what a listener hears as one bar again, whether a note is held to the bar line or stopped before it,
    and wherever place_octave puts it."""
    on_a, on_b = a >= FIRST_PITCH_TOKEN, b >= FIRST_PITCH_TOKEN
    if not np.array_equal(on_a, on_b):
        return False
    shift = a[on_a].astype(int) - b[on_b].astype(int)
    return bool(not len(shift) or (np.all(shift == shift[0]) and shift[0] % 12 == 0))


class CodeMemo:
    """The music model's codes of bars, each bar encoded once: development reads the same bars (the
    anchor, the shot's last bars) again for every bar it inpaints. Holds at most `size` bars; also the
    rhythms of the real bars development borrows (real_rhythms), each decoded once."""

    def __init__(self, music: MusicModel, size: int = 512):
        self.music, self.size, self.codes, self.rhythms = music, size, {}, {}

    def __call__(self, bars: np.ndarray) -> np.ndarray:
        bars = np.asarray(bars, np.int64).reshape(-1, STEPS_PER_BAR)
        keys = [bar.tobytes() for bar in bars]
        new = [k for k in dict.fromkeys(keys) if k not in self.codes]
        if new:
            if len(self.codes) + len(new) > self.size:
                self.codes.clear()   # the bars asked for that were held go with the rest: encode them all
                new = list(dict.fromkeys(keys))
            fresh = self.music.encode(np.stack([np.frombuffer(k, np.int64) for k in new]))
            self.codes.update(zip(new, fresh))
        return np.stack([self.codes[k] for k in keys]) if keys else np.zeros((0, self.music.latent_dim), np.float32)


def real_rhythms(music: MusicModel, codes: np.ndarray, how: Conducting, memo: CodeMemo | None = None) -> np.ndarray | None:
    """The rhythm of the real bar whose code lies nearest each of `codes` (n, d): the bar decoded from
    the nearest of the data prior's anchors (codes of real bars of the training corpus), as tokens
    (n, 16) whose onsets, holds and rests a developed bar takes (rhythm_bias). None when the model has
    no data prior. The anchors not in `memo` yet are decoded together, in one batch.

    An inpainted code decodes, greedily, to a plainer bar than a tune's (more quarter notes, fewer
    running eighths): the code is a blend of what could come, and the decoder hedges towards holds.
    The nearest real bar keeps the place in the code space the inpainting chose, with a rhythm a tune has."""
    prior = getattr(music, "data_prior", None)
    if prior is None or getattr(prior, "anchors", None) is None or not len(prior.anchors):
        return None
    codes = np.asarray(codes, np.float32).reshape(len(codes), -1)
    nearest = [int(i) for i in ((prior.anchors[None] - codes[:, None]) ** 2).sum(-1).argmin(1)]
    known = memo.rhythms if memo is not None else {}
    new = sorted({i for i in nearest if i not in known})
    fresh = dict(zip(new, decode_keyed(music, prior.anchors[new].astype(np.float32), None, how))) if new else {}
    if memo is not None:
        memo.rhythms.update(fresh)
    return np.stack([fresh[i] if i in fresh else known[i] for i in nearest])


def rhythm_bias(template: np.ndarray) -> np.ndarray:
    """(16, vocab) logit bias that makes a bar strike where `template` strikes and hold or rest where it
    does: at an onset any pitch, elsewhere the template's own token."""
    bias = np.zeros((STEPS_PER_BAR, VOCAB_SIZE), np.float32)
    for step, token in enumerate(np.asarray(template)):
        if token >= FIRST_PITCH_TOKEN:
            bias[step, :FIRST_PITCH_TOKEN] = -np.inf
        else:
            bias[step, :] = -np.inf
            bias[step, token] = 0.0
    return bias


def develop_bar(inpainter, music: MusicModel, past: np.ndarray, future: np.ndarray, missing: int,
                key: Key | None, how: Conducting, last_pitch: int | None, played: np.ndarray,
                own_first: bool = False, encode: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The first of `missing` bars inpainted between the bars `past` (p, 16: the shot's, up to the bar
    before; the anchor among them) and `future` (f, 16: the anchor's return, or the next look), decoded
    in `key` as a new bar is and placed near `last_pitch`: the likeliest of the model's options that
    sounds like none of the bars `played` in this phrase of the look (DEVELOP_AVOID) nor the bar after it
    (same_notes), else its first option made unlike each of them. A phrase then holds its anchor twice
    and new bars between. Each option is decoded with the rhythm of the real bar nearest its code
    (real_rhythms; the anchor's when that bar is silent) and its own pitches; when every such bar is one
    to avoid, the options are decoded freely. `encode`: the bars' codes (a CodeMemo, which also keeps
    the rhythms), music.encode when None."""
    codes = (encode or music.encode)(np.concatenate([past, future]).astype(np.int64))
    options = inpainter.first_bar_options(codes[:len(past)], codes[len(past):], missing, own_first=own_first)
    avoid = list(played) + (list(future[:1]) if missing == 1 else [])
    place = (lambda b: place_octave(b, last_pitch, how.register)) if how.phrases else (lambda b: b)
    templates = real_rhythms(music, options, how, encode if isinstance(encode, CodeMemo) else None)
    if templates is not None:  # every option decoded at once: a batch of them costs about what one does
        bias = key_bias(key, how.chromatic if key is not None else 0, how.register, len(options))
        for i, template in enumerate(templates):
            silent = not (template >= FIRST_PITCH_TOKEN).any()
            bias[i] += rhythm_bias(played[0] if silent and len(played) else template)
        for bar in music.decode(options, leap_penalty=how.leap_penalty, bias=bias):
            bar = place(bar)
            if not any(same_notes(bar, other) for other in avoid):
                return bar
    for tried in (options[:1], options[1:]):  # the likeliest is usually taken: the others only decoded when not
        for bar in decode_keyed(music, tried, key, how) if len(tried) else []:
            bar = place(bar)
            if not any(same_notes(bar, other) for other in avoid):
                return bar
    return place(decode_keyed(music, options[:1], key, how, unlike=np.array(avoid) if avoid else None)[0])


def conduct(music: MusicModel, positions: np.ndarray, looks: np.ndarray, motion: np.ndarray,
            how: Conducting = Conducting(), place: Callable[[np.ndarray], np.ndarray] | None = None,
            cuts: np.ndarray | None = None) -> Conducted:
    """Bars for the positions (n, d) each bar plays (held ones repeated), given each bar's own look
    (n, d: its position before holding) and motion (n,) in [0, 1]. Positions are the mapping's
    standardised codes (mapping.py): themes and cuts are measured there, and `place` carries them to
    the music codes decoded (None: the positions are music codes already).

    `cuts` (n,) bool: bars decided anew as after a cut whatever their looks did (someone entering a
    room counted empty: presence.BarPeople.entrances). There, as at a jump of the look, the phrase
    starts again (and with `modulate` the key may move); the bar is never held nor a theme brought
    back, and keeps nothing of the bar before (variation)."""
    n = len(positions)
    codes = np.asarray(place(positions) if place is not None and n else positions, np.float32)
    anew = np.zeros(n, bool) if cuts is None else np.asarray(cuts, bool)
    if anew.shape != (n,):
        raise ValueError(f"cuts must be one bool per bar ({n},), got {anew.shape}")
    held = np.r_[False, np.all(positions[1:] == positions[:-1], axis=1)] & ~anew if n else np.zeros(0, bool)
    theme_of = np.full(n, -1)
    memory: list[int] = []  # bars whose look is remembered
    keys: list[Key | None] = []
    key = how.key
    new = []
    playing = -1  # the bar whose notes are sounding: a theme never brings back the bar just played
    jumps = (np.r_[False, np.linalg.norm(np.diff(looks, axis=0), axis=1) > CUT] | anew) if n else np.zeros(0, bool)
    phrase_start = np.maximum.accumulate(np.where(jumps, np.arange(n), 0)) if n else np.zeros(0, int)
    for k in range(n):
        if how.modulate and key is not None and jumps[k] and not jumps[k - 1]:  # a cut inside a bar jumps twice
            key = _closest_related(music, codes[k], key)
        keys.append(key)
        if held[k]:
            continue
        remembered = np.asarray([j for j in memory if j != playing], dtype=int)
        if how.theme_radius > 0 and len(remembered) and not anew[k]:
            distance = np.linalg.norm(positions[remembered] - positions[k], axis=1)
            if distance.min() < how.theme_radius:
                theme_of[k] = playing = remembered[int(distance.argmin())]
                continue
        playing = k
        new.append(k)
        memory.append(k)
        if len(memory) > how.memory:
            memory.pop(0)

    bars = np.zeros((n, STEPS_PER_BAR), np.int64)
    busier = codes + how.density * (np.asarray(motion, np.float32)[:, None] - 0.5) * \
        music.attributes.get("density", np.zeros(codes.shape[1], np.float32)) if n else codes
    keyed = np.zeros_like(busier)
    for key_here in dict.fromkeys(keys[k] for k in new):
        idx = [k for k in new if keys[k] == key_here]
        keyed[idx] = codes_in_key(music, busier[idx], key_here, how)
        bars[idx] = decode_keyed(music, keyed[idx], key_here, how)
    inpainter = inpainter_for(music, how)
    memo = CodeMemo(music)
    developed = np.zeros(n, bool)
    run_end = _run_ends(held)
    last_pitch, anchor, anchor_bar = None, 0, None
    for k in range(n):
        if held[k] and inpainter is not None and (k - anchor) % RETURN:
            missing = bars_to_return(k - anchor)
            future, after = anchor_bar, run_end[k] + 1
            if after - k < missing and after < n and not jumps[after]:  # the next look comes first, in this shot
                future, missing = bars[theme_of[after]] if theme_of[after] >= 0 else bars[after], after - k
            past = bars[max(phrase_start[k], k - inpainter.max_context):k]
            bars[k] = develop_bar(inpainter, music, past, future[None], missing, keys[k], how, last_pitch,
                                  played=bars[max(anchor, k - DEVELOP_AVOID):k], encode=memo)
            developed[k] = True
        elif held[k]:
            bars[k] = anchor_bar if inpainter is not None else bars[k - 1]
        else:
            if theme_of[k] >= 0:
                bars[k] = bars[theme_of[k]]
            else:
                moved = float(np.linalg.norm(positions[k] - positions[k - 1])) if k else 0.0
                before = (bars[k - 1], max(moved, CUT) if anew[k] else moved) if k else None
                bars[k] = finish_bar(music, keyed[k], keys[k], how, before, last_pitch, whole=bars[k])
            anchor, anchor_bar = k, bars[k].copy()
        bars[k] = phrase_end(bars[k], keys[k], how, k - phrase_start[k])
        onsets = bars[k][bars[k] >= FIRST_PITCH_TOKEN]
        if len(onsets):
            last_pitch = int(pitch_of(onsets[-1:])[0])
    bridged = np.zeros(n, bool)
    if how.bridge_cuts:
        bridge = inpainter or _inpainter_anyway(music)
        for cut in np.flatnonzero(jumps & ~np.r_[False, jumps[:-1]]):
            k = cut - 1  # the shot's last bar
            if k < 1 or phrase_start[k] == k:
                continue  # a shot of one bar keeps its bar
            after = phrase_start[cut:] == phrase_start[cut]
            past = bars[max(phrase_start[k], k - bridge.max_context):k]
            future = bars[cut:cut + bridge.max_context][after[:bridge.max_context]]
            last = bars[k - 1][bars[k - 1] >= FIRST_PITCH_TOKEN]
            bars[k] = develop_bar(bridge, music, past, future, 1, keys[k], how,
                                  int(pitch_of(last[-1:])[0]) if len(last) else None, played=past, own_first=True,
                                  encode=memo)
            bars[k] = phrase_end(bars[k], keys[k], how, k - phrase_start[k])
            bridged[k] = True
    lo, hi = how.velocity or (90, 90)
    velocities = np.round(lo + (hi - lo) * np.clip(np.asarray(motion, np.float32), 0, 1)).astype(int)
    return Conducted(bars, velocities, keys, theme_of, held, codes, developed, phrase_start, bridged)


def _inpainter_anyway(music: MusicModel):
    """The inpainting model bridges ask for, development on or off; one line when the model has none."""
    found = getattr(music, "inpainter", lambda: None)()
    if found is None:
        raise ScoreAVError("--bridge-cuts needs an inpainting model of the music model; the shipped one learned "
                           "dance's codes (score-av train inpaint --music-model NAME makes one)")
    return found


def _run_ends(held: np.ndarray) -> np.ndarray:
    """For each bar, the last bar of the run of held bars it is in or starts (itself when none follows)."""
    n = len(held)
    ends = np.arange(n)
    for k in range(n - 2, -1, -1):
        if held[k + 1]:
            ends[k] = ends[k + 1]
    return ends


def _closest_related(music: MusicModel, code: np.ndarray, key: Key) -> Key:
    """Of the keys related to `key`, the one the bar decoded at `code` fits best (the first on a tie)."""
    bar = music.decode(code[None])[0]
    pitches = pitch_of(bar[bar >= FIRST_PITCH_TOKEN])
    return max(key.related(), key=lambda kk: int(kk.contains(pitches).sum()))
