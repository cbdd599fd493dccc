"""`score-av music ...`: look at the corpus, and hear the music VAE on its own."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from music_vae.corpus import DEFAULT_TRAINING_DATA, COLLECTIONS, load_corpus
from music_vae.data_prior import COMPONENTS
from music_vae.errors import MusicInputError

from .common import add_model_option, add_sound_options, add_style_option, summary, write_music


def register(sub) -> None:
    music = sub.add_parser("music", help="the music VAE on its own: corpus, sample, interpolate",
                           description="Work with the music VAE without any picture.")
    msub = music.add_subparsers(dest="music_command", metavar="ACTION", required=True)

    p = msub.add_parser("corpus", help="parse (once, then cached) and report a corpus",
                        description="Parse tunes into 4/4 bars (2/4 paired) and report what was read, "
                                    "what was skipped and why, and bars per style. Collections: "
                                    + ", ".join(f"{k} ({v.about})" for k, v in COLLECTIONS.items()) + ".")
    p.add_argument("sources", nargs="*", default=DEFAULT_TRAINING_DATA, metavar="SOURCE",
                   help="collection names or .mid/.abc files, folders, .txt lists "
                        f"(default: {' '.join(DEFAULT_TRAINING_DATA)})")
    p.add_argument("--workers", type=int, help="parsing processes (default: all cores)")
    p.add_argument("--no-cache", action="store_true", help="parse again even if a cached copy exists")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run_corpus)

    p = msub.add_parser("sample", help="bars decoded from random codes",
                        description="Draw codes from the model's data prior (where its codes of real bars lie; "
                                    "`score-av music prior`), or from one style's part of it with --style, decode "
                                    "them to bars, and write them one after another as MIDI (and WAV with --wav). "
                                    "A model without a data prior draws from N(0, I) (musae: its style mixture).")
    add_model_option(p)
    add_style_option(p)
    p.add_argument("-n", "--bars", type=int, default=8, help="how many bars (default: 8)")
    p.add_argument("--temperature", type=float, default=0.5,
                   help="0 decodes greedily; higher is more adventurous (default: 0.5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    add_sound_options(p)
    p.set_defaults(run=run_sample)

    p = msub.add_parser("attributes", help="measure the model's attribute vectors (note density) on real bars",
                        description="Encode real bars and take the mean code of the densest quarter minus that of "
                                    "the sparsest (MusicVAE's attribute vectors). `render` moves the codes of busy "
                                    "pictures along it. Written beside the checkpoint as NAME.attributes.json.")
    add_model_option(p)
    p.add_argument("--data", nargs="+", default=["oneills"], metavar="SOURCE",
                   help="collections or MIDI/ABC files to measure on (default: oneills)")
    p.add_argument("--split", choices=["train", "valid", "test"], default="train", help="default: train")
    p.add_argument("-o", "--out", type=Path, help="default: NAME.attributes.json beside the checkpoint")
    p.set_defaults(run=run_attributes)

    p = msub.add_parser("prior", help="fit the model's data prior: where its codes of real bars lie",
                        description="Encode the bars the model was trained on (its training split) and fit a "
                                    "Gaussian mixture with full covariances to their codes, a few components per "
                                    "style, each style's number chosen by the log-likelihood of the validation "
                                    "split, and keep a fifth of the codes as anchors that placed codes are pulled "
                                    "towards. `render` places the picture's codes in it and `sample` draws from it. "
                                    "Written beside the checkpoint as NAME.prior.npz; the figures go into the "
                                    "model card NAME.json.")
    add_model_option(p)
    p.add_argument("--components", type=int, nargs="+", default=list(COMPONENTS), metavar="K",
                   help=f"components per style to try (default: {' '.join(map(str, COMPONENTS))})")
    p.add_argument("-o", "--out", type=Path, help="default: NAME.prior.npz beside the checkpoint (and its card updated)")
    p.set_defaults(run=run_prior)

    p = msub.add_parser("interpolate", help="a straight walk between two bars",
                        description="Encode one bar of A and one of B and decode evenly spaced points on "
                                    "the line (or great circle) between their codes.")
    add_model_option(p)
    p.add_argument("a", type=Path, help="a .mid or .abc file")
    p.add_argument("b", type=Path, help="a .mid or .abc file (may be A again)")
    p.add_argument("--bar-a", type=int, default=1, help="which bar of A, counting from 1 (default: 1)")
    p.add_argument("--bar-b", type=int, default=1, help="which bar of B, counting from 1 (default: 1)")
    p.add_argument("--steps", type=int, default=16, help="bars on the way, both ends included (default: 16)")
    p.add_argument("--method", choices=["linear", "slerp"], default="linear", help="default: linear")
    add_sound_options(p)
    p.set_defaults(run=run_interpolate)

    p = msub.add_parser("inpaint", help="replace bars of a tune with the inpainting model's",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="""\
Replace some bars of a melody with bars the latent inpainting model writes from
the bars around them (up to 6 before and 6 after); every other note is kept as
it was, at the tune's own tempo and program (ABC: its Q: line, else 120 bpm, and
piano). The model fills 1 to 8 bars at a time.

Bars are counted from 1 at the first full bar; a pick-up before it is bar 0 and
is always kept (in MIDI a pick-up is a short first measure with a time signature
of its own, as notation programs write it, and OUT.mid is written so). The file
must hold one melody in 4/4 or 2/2: no chords, no second voice. Notes are put on
the sixteenth grid (triplets move onto it; the command says how many).

A note held into the replaced bars ends at their first bar line; one held out of
them into the next kept bar is cut at that bar line, and its part after it is
played as a note of its own, so the kept bars sound as they did.

Example:
  score-av music inpaint reel.abc --bars 5-8 -o reel.mid --wav reel.wav
  score-av music inpaint reel.abc --bars 5-8 -o reel.mid --samples 3 --seed 1
""")
    p.add_argument("input", type=Path, metavar="IN", help="a .mid, .abc (one tune) or MusicXML file")
    p.add_argument("--bars", required=True, metavar="A-B",
                   help="the bars to replace: one (5) or a range (5-8), counted from 1")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUT.mid", help="MIDI file to write")
    p.add_argument("--samples", type=int, default=1, metavar="N",
                   help="write N different fills, OUT-1.mid ... OUT-N.mid, drawn from the model's own "
                        "probabilities with --seed (default: 1, the model's likeliest fill, written to OUT.mid)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the samples (default: 0)")
    p.add_argument("--wav", type=Path, metavar="OUT.wav",
                   help="also render each MIDI file through FluidSynth to a WAV (OUT-1.wav ... with --samples)")
    p.add_argument("--soundfont", type=Path, metavar="SF2",
                   help="soundfont for --wav (default: $SCORE_AV_SOUNDFONT, then a GM font on the system)")
    p.add_argument("--model", default="inpaint", metavar="NAME_OR_PATH",
                   help="the inpainting model: inpaint (the default, shipped in media/models/, over the music "
                        "model dance) or a checkpoint path")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")
    p.set_defaults(run=run_inpaint)

    p = msub.add_parser("arrange", help="a band under a melody you bring: bass, chords, drums",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="""\
Put the band that scores clips under a melody of your own. The melody is kept
note for note on its own track, at its own tempo and instrument; under its full
bars (a pick-up is bar 0 and has none) the harmony chooses chords in its key,
the bass model plays under the melody and those chords, and the drums keep a
steady medium groove with fills at every fourth and eighth bar. One MIDI track
per layer, named after it.

The bass has a 2-D control, --xy X Y, each in [-1, 1]: X its register (low to
high), Y how many notes it plays a bar (few to many). In `score-av render` the
picture sets it (brightness and motion); here you do.

The file must hold one melody in 4/4 or 2/2: no chords, no second voice.

Examples:
  score-av music arrange reel.abc -o reel.mid --wav reel.wav
  score-av music arrange tune.mid -o band.mid --preset chamber --xy -0.5 0.8
  score-av music arrange tune.mid -o bass.mid --layers bass --key "E dorian"
""")
    p.add_argument("input", type=Path, metavar="IN", help="a .mid, .abc (one tune) or MusicXML file")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUT.mid", help="MIDI file to write")
    p.add_argument("--layers", default=None, metavar="LIST",
                   help="the layers under the melody, comma-separated: bass, harmony, drums (default: the "
                        "preset's, else all three)")
    p.add_argument("--preset", metavar="NAME|FILE.toml",
                   help="instruments and levels of the layers (as render's --preset); the melody keeps its own instrument")
    p.add_argument("--xy", nargs=2, type=float, default=(0.0, 0.0), metavar=("X", "Y"),
                   help="the bass's register and notes per bar, each in [-1, 1] (default: 0 0, the middle)")
    p.add_argument("--key", metavar="KEY", help="the key, e.g. D, 'E dorian', 'F# minor' (default: read from the melody)")
    p.add_argument("--wav", type=Path, metavar="OUT.wav", help="also render the arrangement through FluidSynth")
    p.add_argument("--soundfont", type=Path, metavar="SF2",
                   help="soundfont for --wav (default: $SCORE_AV_SOUNDFONT, then a GM font on the system)")
    p.set_defaults(run=run_arrange)


def run_attributes(args: argparse.Namespace) -> int:
    from music_vae.attributes import attributes_path, measure_attributes
    from modelkit import atomic_write_json

    started = time.time()
    model = _load(args)
    corpus = load_corpus(args.data, progress=True).split(args.split)
    if len(corpus) < 8:
        raise MusicInputError(f"{' '.join(args.data)}: {len(corpus)} bars in the {args.split} split; too few to measure")
    about = f"{' '.join(args.data)}, {args.split} split (seed {model.config.train.split_seed})"
    found = {"model": model.path.stem, **measure_attributes(model, corpus.bars, about),
             "reproduce": f"score-av music attributes --model {args.model} --data {' '.join(args.data)}"}
    out = args.out or attributes_path(model.path)
    atomic_write_json(out, found)
    summary(f"attribute vectors of {model.path.stem} from {len(corpus)} bars", [out], started)
    return 0


def run_prior(args: argparse.Namespace) -> int:
    from music_vae.data_prior import prior_path
    from modelkit import read_model_card, write_model_card

    started = time.time()
    model = _load(args)
    train_cfg = model.config.train
    corpus = load_corpus(list(train_cfg.data), progress=True)
    train, valid, test = (corpus.split(side, train_cfg.split_seed) for side in ("train", "valid", "test"))
    bar = tqdm(desc="fitting mixtures", unit="fit")
    prior, report = model.fit_data_prior(train, valid, test, args.components,
                                         progress=lambda style, k, ll: bar.set_postfix_str(f"{style} K={k}") or bar.update())
    bar.close()
    out = args.out or prior_path(model.path)
    prior.save(out)
    if args.out is None:
        card = read_model_card(model.path)
        card["data_prior"] = {"file": out.name, "components": len(prior.weights),
                              "fitted_on": f"{' '.join(train_cfg.data)}, train split (seed {train_cfg.split_seed}), "
                                           f"{len(train)} bars; components per style chosen on the valid split",
                              **report, "reproduce": f"score-av music prior --model {model.path.stem}"}
        write_model_card(model.path, card)
    summary(f"data prior of {model.path.stem}: {len(prior.weights)} components over {len(report['styles'])} styles",
            [out], started)
    return 0


def run_corpus(args: argparse.Namespace) -> int:
    started = time.time()
    corpus = load_corpus(args.sources, workers=args.workers, use_cache=not args.no_cache)
    report = corpus.report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"tunes read    {report['tunes_read']:>7}")
    print(f"tunes used    {report['tunes_used']:>7}   split by tune: {report['tunes_per_split']}")
    print("tunes skipped, by reason:")
    reasons = list(report["tunes_skipped"].items())
    for reason, n in reasons[:12]:
        print(f"  {n:>7}  {reason}")
    if len(reasons) > 12:
        print(f"  {sum(n for _, n in reasons[12:]):>7}  {len(reasons) - 12} other reasons (--json lists all)")
    print("bars left out of used tunes:")
    for reason, n in report["bars_left_out"].items():
        print(f"  {n:>7}  {reason}")
    print("bars per style:")
    for style, n in report["bars_per_style"].items():
        print(f"  {n:>7}  {style}")
    print(f"{report['bars']} bars from {' '.join(args.sources)} ({time.time() - started:.1f} s)")
    return 0


def _load(args):
    from music_vae.trained_model import MusicVAE
    return MusicVAE(args.model, device=args.device)


def run_sample(args: argparse.Namespace) -> int:
    started = time.time()
    if args.bars < 1:
        raise MusicInputError("--bars must be at least 1")
    bars = _load(args).sample(args.bars, temperature=args.temperature, seed=args.seed, style=args.style)
    what = f"{args.bars} sampled bars" + (f" in the {args.style} style" if args.style else "")
    summary(what, write_music(bars, args), started)
    return 0


def _bar_of(path: Path, index: int) -> np.ndarray:
    bars = load_corpus([str(path)], use_cache=False, progress=False).bars
    if not 1 <= index <= len(bars):
        raise MusicInputError(f"{path}: asked for bar {index}, but it has {len(bars)} usable bars")
    return bars[index - 1]


def run_interpolate(args: argparse.Namespace) -> int:
    started = time.time()
    if args.steps < 2:
        raise MusicInputError("--steps must be at least 2")
    a, b = _bar_of(args.a, args.bar_a), _bar_of(args.b, args.bar_b)
    bars = _load(args).interpolate(a, b, n=args.steps, method=args.method)
    summary(f"{args.steps}-bar {args.method} interpolation", write_music(bars, args), started)
    return 0


def run_arrange(args: argparse.Namespace) -> int:
    from modelkit.atomic import atomic_save_midi
    from music_vae.melody_file import read_melody
    from music_vae.midi_io import bar_seconds
    from music_vae.representation import STEPS_PER_BAR

    from .. import synth
    from ..arrangement import arrange_melody
    from ..band import LAYERS, band_for
    from ..key import Key
    from .common import RELEASE_SECONDS

    started = time.time()
    key = Key.parse(args.key) if args.key else None
    layers = None if args.layers is None else ("melody", *[n for n in args.layers.split(",") if n.strip()])
    band = band_for(args.preset, layers)
    if args.layers is None and args.preset is None:
        band = band.with_layers(LAYERS)
    font = synth.find_soundfont(args.soundfont) if args.wav else None  # before the work, not after
    melody = read_melody(args.input)
    midi = arrange_melody(melody, band, key, tuple(args.xy))
    paths = [atomic_save_midi(args.out, midi)]
    if args.wav:
        seconds = len(melody.tokens) / STEPS_PER_BAR * bar_seconds(melody.bpm) + RELEASE_SECONDS
        synth.write_wav(args.wav, synth.render(midi, font, duration=seconds))
        paths.append(args.wav)
    if melody.off_grid:
        print(f"score-av: {melody.off_grid} notes off the sixteenth grid (triplets?) were moved onto it")
    summary(f"{args.input.name} arranged: {', '.join(band.layers)}, {melody.n_bars} bars", paths, started)
    return 0


def run_inpaint(args: argparse.Namespace) -> int:
    from music_vae.melody_file import inpaint_file, melody_midi, parse_bars, sample_paths
    from music_vae.midi_io import bar_seconds
    from music_vae.representation import STEPS_PER_BAR

    from .. import synth
    from .common import RELEASE_SECONDS

    started = time.time()
    first, last = parse_bars(args.bars)
    font = synth.find_soundfont(args.soundfont) if args.wav else None  # before the work, not after
    written = inpaint_file(args.input, first, last, args.out, args.samples, args.seed, args.model, args.device)
    paths = [path for path, _ in written]
    for wav, (_, melody) in zip(sample_paths(args.wav, args.samples) if args.wav else [], written):
        seconds = len(melody.tokens) / STEPS_PER_BAR * bar_seconds(melody.bpm) + RELEASE_SECONDS
        synth.write_wav(wav, synth.render(melody_midi(melody), font, duration=seconds))
        paths.append(wav)
    if written[0][1].off_grid:
        print(f"score-av: {written[0][1].off_grid} notes off the sixteenth grid (triplets?) were moved onto it")
    span = f"bars {first}-{last}" if last > first else f"bar {first}"
    what = f"{span} of {args.input.name} inpainted" + (f", {args.samples} samples (seed {args.seed})"
                                                        if args.samples > 1 else "")
    summary(what, paths, started)
    return 0
