"""Harmony (music_vae/harmony.py): do the chords hold the melody, and do they agree with people's?

Prints one JSON with three groups:

1. `held_out_tunes`: real melodies the harmony was never fitted on: O'Neill's test split (seed 0,
   as the music models split it) and Ryan's Mammoth (no model learned from it), tunes in common
   time (ABC meter 4/4, C or C|), each tune's key read from its melody (`read_key`), harmonised
   whole. Figures: the share of melody notes sounding on beats 1 and 3 (struck or held there)
   that are tones of the chord under them (the aim is 0.85 or more), the same on all four beats,
   and chord changes per bar.
2. `human_chords`: agreement with human chord symbols, beat by beat, on the tunes with chord
   symbols that music21 ships in 4/4 (found by searching its corpus and its ABC test files for
   quoted chord symbols; none of them was used to fit the prior or to choose the search's weights):
   Nottingham Music Database tunes (Cuckoo's Nest and Little Czech Number in the corpus' nottingham
   file, Kitchen Girl in music21.abcFormat.testFiles, its first chord's stray quote mended), and two
   lead sheets (Foster's Jeanie with the Light Brown Hair; Berlin's Alexander's Ragtime Band, not a
   folk tune, so reported apart). Each tune's melody is laid on the 16-step grid by its absolute
   offsets (the pick-up right-aligned in bar 0), its key read from the melody as for any melody, and
   harmonised. On every beat (quarter) from the first chord symbol on, the human chord is the last
   symbol at or before the beat; ours is the chord sounding on that beat; they agree when the root's
   pitch class and the quality (major or minor: 7ths count as major, diminished as minor) are equal.
   Beside it the baseline: the tune's most frequent human chord (by beats) held throughout; and, for
   reference, the human chords' own chord-tone share on beats 1 and 3.
3. `rendered` (with --clip, default the person-detection clip; --no-clip skips): bars score-av
   renders for the clip with the shipped models, harmonised in each bar's key: the same shares.

    PYTHONPATH=. python bench/harmony.py [--prior media/models/harmony.json] [--clip CLIP | --no-clip]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from looped_clips import CLIP_HELP, PERSON, clips_to_score
from music_vae.harmony import Settings, chord_tone_share, harmonize, load_prior, read_key, sounding_pitches
from music_vae.representation import STEPS_PER_BAR, Note, notes_to_tokens

MINOR_KINDS = ("minor", "diminished", "half-diminished", "minor-seventh", "minor-sixth", "minor-ninth",
               "minor-major-seventh", "diminished-seventh")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def figures(melodies, prior, settings) -> dict:
    """Chord-tone shares (beats 1 and 3; all beats) and changes per bar over melodies [(bars, tonic, mode)]."""
    strong, every, changes, n_bars = [0, 0], [0, 0], 0, 0
    for bars, tonic, mode in melodies:
        spans = harmonize(bars, tonic, mode, prior, settings)
        for acc, beats in ((strong, (0, 8)), (every, (0, 4, 8, 12))):
            h, t = chord_tone_share(bars, spans, beats)
            acc[0] += h
            acc[1] += t
        changes += len(spans) - 1
        n_bars += len(bars)
    return {"melodies": len(melodies), "bars": n_bars,
            "chord_tones_beats_1_3": round(strong[0] / max(strong[1], 1), 4), "notes_beats_1_3": strong[1],
            "chord_tones_all_beats": round(every[0] / max(every[1], 1), 4),
            "changes_per_bar": round(changes / max(n_bars - len(melodies), 1), 3)}


def held_out_melodies(limit: int) -> dict[str, list]:
    sys.path.insert(0, str(Path(__file__).parent))
    from phrase_test import common_time_tunes

    from music_vae.corpus import load_corpus
    from music_vae.corpus.dataset import DEFAULT_SPLIT_SEED

    out = {}
    for name, split in (("oneills", "test"), ("ryans", None)):
        corpus = load_corpus([name], progress=False)
        if split:
            corpus = corpus.split(split, DEFAULT_SPLIT_SEED)
        keep = common_time_tunes([name])
        melodies = []
        for t in np.unique(corpus.tune):
            if corpus.tune_ids[t] in keep and len(melodies) < limit:
                bars = corpus.bars[corpus.tune == t].astype(np.int64)
                melodies.append((bars, *read_key(bars)))
        out[f"{name}{'_' + split if split else ''}_common_time"] = melodies
    return out


def human_tunes() -> list[tuple[str, str, object]]:
    """(name, group, music21 score) of the 4/4 tunes with chord symbols music21 ships."""
    from music21 import converter, corpus
    from music21.abcFormat import testFiles

    opus = corpus.parse("nottingham-dataset/reelsa-c.abc")
    tunes = [(s.metadata.title, "folk", s) for s in opus.scores]
    tunes.append(("Kitchen Girl", "folk", converter.parse(testFiles.kitchGirl.replace("'A\"", '"A"'), format="abc")))
    tunes.append(("Jeanie with the Light Brown Hair", "folk", corpus.parse("leadSheet/fosterBrownHair.mxl")))
    tunes.append(("Alexander's Ragtime Band", "other", corpus.parse("leadSheet/berlinAlexandersRagtime.mxl")))
    return tunes


def melody_and_chords(score) -> tuple[np.ndarray, dict[int, tuple[int, bool]]]:
    """The first part's melody as tokens on the 16-step grid (pick-up right-aligned in bar 0) and the
    human chord symbols as {step: (root pitch class, is minor)}."""
    from music21 import harmony

    part = score.parts[0]
    first = part.getElementsByClass("Measure").first()
    pad = float(first.paddingLeft or 0.0) if first is not None else 0.0
    notes, chords = [], {}
    for el in part.recurse():
        at = round((float(el.getOffsetInHierarchy(part)) + pad) * 4)
        if isinstance(el, harmony.ChordSymbol):
            chords.setdefault(at, (el.root().pitchClass, el.chordKind in MINOR_KINDS))
        elif getattr(el, "isNote", False):
            end = round((float(el.getOffsetInHierarchy(part)) + pad + float(el.quarterLength)) * 4)
            if end > at:
                notes.append(Note(el.pitch.midi, at, end))
    return notes_to_tokens(notes), chords


def agreement(prior, settings) -> dict:
    rows, totals = [], Counter()
    for name, group, score in human_tunes():
        tokens, human = melody_and_chords(score)
        bars = tokens.reshape(-1, STEPS_PER_BAR)
        tonic, mode = read_key(bars)
        spans = harmonize(bars, tonic, mode, prior, settings)
        beats, current, ours = [], None, {}
        for span in spans:
            for step in range(span.start, span.end, 4):
                ours[step] = (span.chord.root, span.chord.is_minor)
        for step in range(0, len(tokens), 4):
            for s in range(step - 3, step + 1):
                current = human.get(s, current)
            if current is not None:
                beats.append((current, ours[step]))
        theirs = Counter(h for h, _ in beats)
        top = theirs.most_common(1)[0][0]
        agree = sum(h == o for h, o in beats)
        base = sum(h == top for h, _ in beats)
        hits = total = 0   # the human chords' own chord-tone share on beats 1 and 3, as triads
        pitches, current = sounding_pitches(tokens), None
        for step in range(len(tokens)):
            current = human.get(step, current)
            if step % 8 == 0 and current is not None and pitches[step] >= 0:
                root, minor = current
                total += 1
                hits += (pitches[step] - root) % 12 in (0, 3 if minor else 4, 7)
        rows.append({"tune": name, "group": group, "key_read": f"{tonic} {mode}", "beats": len(beats),
                     "agreement": round(agree / len(beats), 3), "baseline_most_frequent": round(base / len(beats), 3),
                     "human_chord_changes_per_bar": round(sum(a != b for (a, _), (b, _) in zip(beats, beats[1:]))
                                                          / (len(beats) / 4), 3),
                     "human_chord_tones_beats_1_3": round(hits / max(total, 1), 3),
                     "our_chord_tones_beats_1_3": round(np.divide(*chord_tone_share(bars, spans)), 3),
                     "our_changes_per_bar": round((len(spans) - 1) / len(bars), 3)})
        for g in (group, "all"):
            totals[g, "beats"] += len(beats)
            totals[g, "agree"] += agree
            totals[g, "base"] += base
    summary = {g: {"beats": totals[g, "beats"], "agreement": round(totals[g, "agree"] / totals[g, "beats"], 3),
                   "baseline_most_frequent": round(totals[g, "base"] / totals[g, "beats"], 3)}
               for g in ("folk", "all")}
    return {"tunes": rows, **summary}


def rendered(clip: Path, prior, settings) -> dict:
    from score_av.models import Models
    from score_av.score import score_clip

    models = Models.load()
    score = score_clip(clip, models.music, models.video)
    bars = np.asarray(score.bars, dtype=np.int64)
    keys = score.conducted.keys if score.conducted is not None else [None] * len(bars)
    melodies, start = [], 0
    for i in range(1, len(bars) + 1):
        if i == len(bars) or keys[i] != keys[start]:
            run = bars[start:i]
            k = keys[start]
            if (run >= 2).any():
                melodies.append((run, *((k.tonic, k.mode) if k is not None else read_key(run))))
            start = i
    return {"clip": str(clip), **figures(melodies, prior, settings)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", type=Path, help="progression prior JSON (default: the shipped one)")
    ap.add_argument("--clip", type=Path, help=CLIP_HELP.format(default=PERSON.name) + "; rendered and harmonised")
    ap.add_argument("--no-clip", action="store_true", help="skip the rendered bars")
    ap.add_argument("--tunes", type=int, default=300, help="at most this many tunes per collection")
    args = ap.parse_args()
    prior, settings = load_prior(args.prior), Settings()
    clip = None if args.no_clip else clips_to_score("bench/harmony.py", args.clip and [args.clip], [PERSON])[0]
    started = time.perf_counter()
    out = {"settings": settings.__dict__}
    log("held-out tunes ...")
    out["held_out_tunes"] = {name: figures(m, prior, settings) for name, m in held_out_melodies(args.tunes).items()}
    log("tunes with human chords ...")
    out["human_chords"] = agreement(prior, settings)
    if clip is not None:
        log("rendering the clip ...")
        out["rendered"] = rendered(clip, prior, settings)
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
