"""Does the bass model beat the rule, and does each axis of its 2-D code move its figure? One JSON.

On the held-out chorales (the test split by chorale, music_vae/bass.py `load_chorales`), given the
soprano and the chords of each half bar, the bass decoded greedily at the prior's centre (z = 0)
against the rule "the chord's root on beats 1 and 3" (music_vae/bass.py `rule_bass`), in step
accuracy (share of sixteenths whose sounding bass pitch is the true one) and onset accuracy (share of
the true note-ons played at the same step with the same pitch), also on pitch classes; then each axis
over the grid -2..2 (the other at 0), each figure averaged over the held-out bars, and the Spearman
correlation of the grid with the figure the axis is tied to.

Two sources of chords, each measured for both methods:
- `chorale`: read from the chorale's four voices (the triad that best fits each half bar);
- `harmony`: chosen from the soprano alone by music_vae/harmony.py (key read from the soprano,
  `harmonize` with the shipped progression prior, uniform if none), as at use. Left out, with the
  reason, where the module is not there or fails.

Under the harmony's chords, also how the bass sits in the key and under the chords (`consonance`),
Bach's own basses beside the model's: the share of notes in the key, and of notes on beats 1 and
3 that are tones of the chord above.

    python bench/bass.py [--model bass] [--split test] [--out FILE.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from music_vae.bass import Bass, BassData, chords_of_spans, evaluate, load_chorales, rule_centre
from music_vae.representation import FIRST_PITCH_TOKEN, MIN_PITCH, STEPS_PER_BAR


def harmony_chords(data: BassData) -> tuple[np.ndarray, str]:
    """Chords (n, 2, 2) for every bar chosen from its chorale's soprano alone by music_vae.harmony, and how."""
    from music_vae import harmony

    try:
        prior, prior_name = harmony.load_prior(), "the shipped progression prior (media/models/harmony.json)"
    except Exception as exc:  # no shipped prior yet: the search without it
        prior, prior_name = harmony.uniform_prior(), f"a uniform progression prior ({exc})"
    chords = np.zeros((len(data), 2, 2), np.int64)
    for p in np.unique(data.piece):
        idx = np.flatnonzero(data.piece == p)
        soprano = data.melody[idx].astype(np.int64)
        tonic, mode = harmony.read_key(soprano)
        chords[idx] = chords_of_spans(harmony.harmonize(soprano, tonic, mode, prior), len(idx))
    return chords, (f"music_vae.harmony from the soprano alone: key by read_key, harmonize with {prior_name}; "
                    "each chorale's usable bars harmonised as one stream")


def consonance(data: BassData, bass: np.ndarray, chords: np.ndarray) -> dict:
    """How a bass sits under its chords and key: the share of its notes in the chorale's key (read from
    the soprano, harmony.read_key; major, or natural minor for minor and dorian) and of its notes on
    beats 1 and 3 that are tones of the chord above them. Bach's own basses are the reference."""
    from music_vae import harmony
    from music_vae.bass import QUALITIES, TRIADS

    major, minor = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
    in_key, chord_tone = [], []
    for p in np.unique(data.piece):
        idx = np.flatnonzero(data.piece == p)
        tonic, mode = harmony.read_key(data.melody[idx].astype(np.int64))
        scale = {(tonic + i) % 12 for i in (minor if mode in ("minor", "dorian") else major)}
        for i in idx:
            for step in np.flatnonzero(bass[i] >= FIRST_PITCH_TOKEN):
                pc = (int(bass[i][step]) - FIRST_PITCH_TOKEN + MIN_PITCH) % 12
                in_key.append(pc in scale)
                root, quality = chords[i, step // (STEPS_PER_BAR // 2)]
                if step % (STEPS_PER_BAR // 2) == 0 and root >= 0:
                    chord_tone.append((pc - root) % 12 in TRIADS[QUALITIES[quality]])
    return {"notes_in_key": round(float(np.mean(in_key)), 3),
            "strong_beat_notes_chord_tones": round(float(np.mean(chord_tone)), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bass")
    ap.add_argument("--split", default="test", choices=("train", "valid", "test"))
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    started = time.time()
    model = Bass(args.model, device="cpu")
    data = load_chorales(progress=False)
    seed = model.config.train.split_seed
    held, centre = data.split(args.split, seed), rule_centre(data.split("train", seed))
    out = {"model": str(model.path), "split": args.split, "chords": {}}
    out["chords"]["chorale"] = {"how": "read from the chorale's four voices", **evaluate(model, held, centre)}
    try:
        chords, how = harmony_chords(held)
        agree = float((chords[..., 0] == held.chords[..., 0]).mean())
        out["chords"]["harmony"] = {"how": how, "root_agreement_with_chorale_chords": round(agree, 3),
                                    **evaluate(model, held, centre, chords=chords)}
        out["consonance_under_harmony_chords"] = {
            "bach": consonance(held, held.bass, chords),
            "model_z0": consonance(held, model.play(held.melody.astype(np.int64), chords), chords)}
    except Exception as exc:  # the harmony module missing or failing: say so, keep the chorale figures
        out["chords"]["harmony"] = {"left_out": f"{type(exc).__name__}: {exc}"}
    out["seconds"] = round(time.time() - started, 1)
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
