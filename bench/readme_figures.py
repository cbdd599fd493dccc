"""Every figure in the README, measured: run the commands that make them, keep them in one JSON, rewrite the README.

The README's figures live between markers, `<!-- figures:NAME -->` ... `<!-- /figures:NAME -->`,
and each passage is rendered here from docs/figures.json by a template (PASSAGES). The JSON holds
one group per command that makes figures (GROUPS): what the command printed, the command, the
date, the machine and its load average before and after the run (the timings were taken on a
shared machine: prefer the ratios, which set a time beside a reference measured in the same run).

    python bench/readme_figures.py                     # run everything (hours: the README says how long)
    python bench/readme_figures.py --only compare      # run one group (repeatable), keep the others
    python bench/readme_figures.py --from-json         # only rewrite the README from docs/figures.json
    python bench/readme_figures.py --check             # exit 1 when the README is not the rendering

Groups, in the order a full run takes them (the two measured on the demo clip come last):
cards (the model cards in media/models/), compare (`score-av eval compare`), walks and
style-classifier (measured here, `--measure NAME`), music-speed, variant-cost, render-speed,
render-memory (the benchmark scripts beside this one), musae-cycle (trains `--config musae-cycle`,
not shipped, and reads its card), video-response and demo-styles (the demo clip), phrase-test
and phrase-test-vae (bench/phrase_test.py with the default model and with vae), musicality
(bench/musicality.py with the default model and vae) and render-options (bench/render_options.py).
The cards group also carries each music model's data-prior figures. The benchmarks that score
real footage use the clips in ../shared/clips (see bench/looped_clips.py).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIGURES = ROOT / "docs" / "figures.json"
MODELS = ROOT / "media" / "models"
DEMO_CLIP = ROOT / "media" / "demo-clip.mp4"
CACHE = Path(os.environ.get("SCORE_AV_CACHE", Path.home() / ".cache" / "score-av")) / "figures"
MUSIC_MODELS = ("vae", "flat", "musae")  # the three variants the comparisons put side by side
DEFAULT_MUSIC = "dance"  # the default music model (score_av.models.MUSIC_MODEL): a vae trained on fiddle tunes alone
SHIPPED_MUSIC = (*MUSIC_MODELS, DEFAULT_MUSIC)
CARDS = (*SHIPPED_MUSIC, "video")
PY = sys.executable

# --------------------------------------------------------------------------------------------
# groups: each is a command that prints JSON (or the model cards, read as they are)
# --------------------------------------------------------------------------------------------


def _cmd(*args: str) -> list[str]:
    return [PY, *args]


def _score_av(*args: str) -> list[str]:
    return [PY, "-m", "score_av", *args]


def _self(measure: str) -> list[str]:
    return [PY, "bench/readme_figures.py", "--measure", measure]


CYCLE_OUT = CACHE / "musae-cycle.pt"

GROUPS = {  # name -> (command, depends on the demo clip)
    "cards": (None, False),
    "compare": (_score_av("eval", "compare", "--models", *MUSIC_MODELS, "--json", "--device", "cpu"), False),
    "walks": (_self("walks"), False),
    "style-classifier": (_self("style-classifier"), False),
    "music-speed": (_cmd("bench/music_vae_speed.py"), False),
    "variant-cost": (_cmd("bench/music_variant_cost.py"), False),
    "render-speed": (_cmd("bench/render_speed.py", "--kinds", "720p", "1080p", "--minutes", "5", "--repeats", "3"), False),
    "render-memory": (_cmd("bench/render_memory.py"), False),
    "musae-cycle": (_score_av("train", "music", "--variant", "musae", "--config", "musae-cycle",
                              "--out", str(CYCLE_OUT), "--device", "cpu"), False),
    "video-response": (_cmd("bench/video_response.py", "--models", DEFAULT_MUSIC, *MUSIC_MODELS), True),
    "demo-styles": (_self("demo-styles"), True),
    "phrase-test": (_cmd("bench/phrase_test.py"), False),
    "phrase-test-vae": (_cmd("bench/phrase_test.py", "--model", "vae"), False),
    "musicality": (_cmd("bench/musicality.py", "--models", DEFAULT_MUSIC, "vae"), False),
    "structure": (_cmd("bench/structure.py", "--and-without-development"), False),
    "render-options": (_cmd("bench/render_options.py"), False),
    "band": (_cmd("bench/band.py"), True),
    "presence": (_cmd("bench/presence.py"), False),
    "render-presence": (_cmd("bench/render_presence.py"), False),
    "live-latency": (_cmd("bench/live_latency.py", "--seconds", "600", "--preset", "folk"), True),
    "gestures": (_cmd("bench/gestures.py", "--seconds", "180"), False),
    "live-soak": (_cmd("bench/live_soak.py", "--minutes", "75", "--period", "180", "--outage", "10", "--preset", "folk",
                       "--looks-every", "600"), False),
    "batch-speed": (_cmd("bench/batch_speed.py"), True),
}


def shown(cmd: list[str]) -> str:
    """The command as a person would type it in the checkout."""
    words = ["python" if w == PY else w for w in cmd]
    if words[:3] == ["python", "-m", "score_av"]:
        words = ["score-av", *words[3:]]
    return shlex.join(words).replace(str(Path.home()), "~")


def card_figures(models: Path = MODELS) -> dict:
    """What the README quotes from each model card: parameters, training, machine, metrics."""
    out = {}
    for name in CARDS:
        card = json.loads((models / f"{name}.json").read_text())
        t = card["training"]
        out[name] = {
            "parameters": card["parameters"],
            "steps": t["steps"],
            "wall_seconds": t["wall_seconds"],
            "started_from": (t.get("started_from") or {}).get("model"),
            "threads": card["machine"]["threads"],
            "cpu_count": card["machine"]["cpu_count"],
            "reproduce": card["reproduce"],
            "metrics": {split: {k: v for k, v in m.items() if not isinstance(v, (list, dict))}
                        for split, m in card["metrics"].items()},
        }
        if name == "video":
            out[name]["latent_dim"] = card["config"]["model"]["latent_dim"]
        if "data_prior" in card:
            prior = card["data_prior"]
            out[name]["data_prior"] = {"components": prior["components"],
                                       "test_log_likelihood_nats": prior["test_log_likelihood_nats"],
                                       "rhythm_against_test_bars": prior["rhythm_against_test_bars"]}
    return out


def parse_json(stdout: str) -> dict:
    """The JSON object a command printed (it may print other lines before or after)."""
    start = stdout.index("{")
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


def demo_clip_sha256() -> str | None:
    return hashlib.sha256(DEMO_CLIP.read_bytes()).hexdigest() if DEMO_CLIP.is_file() else None


def run_group(name: str) -> dict:
    cmd, on_demo = GROUPS[name]
    load = os.getloadavg()
    started = time.time()
    if cmd is None:
        figures = card_figures()
        command = "the model cards media/models/{" + ",".join(CARDS) + "}.json"
    else:
        command = shown(cmd)
        print(f"[{name}] {command}", file=sys.stderr, flush=True)
        if name == "musae-cycle":
            CACHE.mkdir(parents=True, exist_ok=True)
            for stale in (CYCLE_OUT, CYCLE_OUT.with_suffix(".json"), CYCLE_OUT.with_suffix(".train.pt")):
                stale.unlink(missing_ok=True)  # trained from the start, every time
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
        if done.returncode:
            raise SystemExit(f"[{name}] {command} failed (exit status {done.returncode})")
        if name == "musae-cycle":
            card = json.loads(CYCLE_OUT.with_suffix(".json").read_text())
            figures = {"steps": card["training"]["steps"], "wall_seconds": card["training"]["wall_seconds"],
                       "metrics": {"test": {k: v for k, v in card["metrics"]["test"].items()
                                            if not isinstance(v, list)}}}
        else:
            figures = parse_json(done.stdout)
    group = {"command": command,
             "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "seconds": round(time.time() - started, 1),
             "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                         "load_average_before": [round(x, 2) for x in load],
                         "load_average_after": [round(x, 2) for x in os.getloadavg()]},
             "figures": figures}
    if on_demo:
        group["demo_clip_sha256"] = demo_clip_sha256()
    return group


# --------------------------------------------------------------------------------------------
# measurements made here (`--measure NAME`): each prints one JSON object
# --------------------------------------------------------------------------------------------


def _test_split(name: str = "vae"):
    from music_vae.corpus import load_corpus
    from music_vae.trained_model import MusicVAE

    vae = MusicVAE(name, device="cpu")
    cfg = vae.config.train
    corpus = load_corpus(list(cfg.data), progress=False)
    return vae, corpus, cfg.split_seed


def measure_walks(pairs: int = 128, seed: int = 0, fine_steps: int = 150) -> dict:
    """The plain VAE's walks between test bars (the pairs of `score-av eval`): how many notes a
    16-point walk changes in all beside how many its two ends differ by, and, on the walk cut in
    `fine_steps` steps, what happens at its biggest jump: the tokens that change in the decoder's
    probabilities (teacher-forced on the bar before the jump: its argmax) and in what is played (greedy)."""
    import numpy as np
    import torch

    from music_vae.metrics import INTERP_POINTS, interpolate_codes, interpolation_pairs, step_changes

    vae, corpus, split_seed = _test_split("vae")
    model = vae.model.eval()
    bars = corpus.split("test", split_seed).bars
    index = interpolation_pairs(len(bars), pairs, seed)
    x = torch.as_tensor(np.asarray(bars), dtype=torch.long)
    with torch.no_grad():
        mu_a, mu_b = model.encode(x[index[:, 0]])[0], model.encode(x[index[:, 1]])[0]
        codes = torch.stack([interpolate_codes(a, b, INTERP_POINTS) for a, b in zip(mu_a, mu_b)])
        walk = model.decode(codes.flatten(0, 1)).view(pairs, INTERP_POINTS, -1)
        walked = step_changes(walk).sum(1)                      # bars' worth of notes changed on the way
        ends = (walk[:, 0] != walk[:, -1]).float().mean(-1)     # share of notes the two ends differ by
        steps = walk.shape[-1]
        fine = torch.stack([interpolate_codes(a, b, fine_steps + 1) for a, b in zip(mu_a, mu_b)])
        played = torch.cat([model.decode(c) for c in fine.flatten(0, 1).split(4096)]).view(pairs, fine_steps + 1, -1)
        jump = step_changes(played).argmax(1)                   # the biggest step of each walk
        rows = torch.arange(pairs)
        before, after = played[rows, jump], played[rows, jump + 1]
        z0, z1 = fine[rows, jump], fine[rows, jump + 1]
        inputs = model.shifted(before)
        heard0 = model.logits(z0, inputs).argmax(-1)
        heard1 = model.logits(z1, inputs).argmax(-1)
    greedy = (before != after).sum(-1).float()
    probabilities = (heard0 != heard1).sum(-1).float()
    moved = greedy > 0
    return {"model": "vae", "bars": int(len(bars)), "pairs": pairs, "seed": seed,
            "walk_points": INTERP_POINTS, "tokens_per_bar": int(steps),
            "walk_notes_changed_in_all_bars": round(float(walked.mean()), 3),
            "ends_differ_bars": round(float(ends.mean()), 3),
            "walked_over_ends": round(float(walked.sum() / ends.sum()), 2),
            "fine_steps": fine_steps, "jumps": int(moved.sum()),
            "biggest_jump_tokens_changed_teacher_forced": round(float(probabilities[moved].mean()), 2),
            "biggest_jump_tokens_changed_greedy": round(float(greedy[moved].mean()), 2)}


def measure_style_classifier(epochs: int = 8, batch_size: int = 256, seed: int = 0) -> dict:
    """A classifier trained for nothing else: the music VAE's encoder network (embedding and
    bidirectional LSTM, fresh weights) with a linear layer over the styles, trained on the bars of
    the training split with every style weighted the same; the epoch with the best validation
    score is kept, and scored on the test split like the style probe (mean over styles of the
    share of that style's bars named right)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    from music_vae.styles import equal_weights, style_labels

    vae, corpus, split_seed = _test_split("vae")
    cfg = vae.model.cfg
    train, valid, test = (corpus.split(s, split_seed) for s in ("train", "valid", "test"))
    names, y_train = style_labels(train)
    sides = {"valid": (valid, style_labels(valid, names)[1]), "test": (test, style_labels(test, names)[1])}
    torch.manual_seed(seed)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(cfg.vocab_size + 1, cfg.embed_dim)
            self.lstm = nn.LSTM(cfg.embed_dim, cfg.encoder_hidden, batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * cfg.encoder_hidden, len(names))

        def forward(self, bars):
            _, (h, _) = self.lstm(self.embed(bars))
            return self.out(torch.cat([h[0], h[1]], -1))

    def score(net, corpus, labels) -> float:
        keep = labels >= 0
        with torch.no_grad():
            x = torch.as_tensor(corpus.bars[keep].astype(np.int64))
            guess = torch.cat([net(c).argmax(-1) for c in x.split(2048)]).numpy()
        y = labels[keep]
        return float(np.mean([(guess[y == k] == k).mean() for k in range(len(names)) if (y == k).any()]))

    net = Classifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    weight = equal_weights(torch.as_tensor(y_train), len(names))
    x_train = torch.as_tensor(train.bars.astype(np.int64))
    y = torch.as_tensor(y_train)
    rng = np.random.default_rng(seed)
    best = (-1.0, None, 0)
    for epoch in range(1, epochs + 1):
        net.train()
        for idx in np.array_split(rng.permutation(len(x_train)), max(1, len(x_train) // batch_size)):
            loss = F.cross_entropy(net(x_train[idx]), y[idx], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        v = score(net, *sides["valid"])
        if v > best[0]:
            best = (v, {k: t.clone() for k, t in net.state_dict().items()}, epoch)
    net.load_state_dict(best[1])
    return {"styles": list(names), "train_bars": int(len(x_train)), "epochs": epochs, "kept_epoch": best[2],
            "valid_accuracy": round(best[0], 3), "test_accuracy": round(score(net, *sides["test"]), 3)}


def measure_demo_styles() -> dict:
    """Notes in the demo clip's score with musae, without a style and with two styles (render's defaults)."""
    from music_vae.trained_model import MusicVAE
    from score_av.demo import DEMO_CLIP as CLIP, make_demo_clip
    from score_av.score import score_clip
    from video_vae.trained_model import VideoVAE

    clip = CLIP if CLIP.is_file() else make_demo_clip()
    music, video = MusicVAE("musae", "cpu"), VideoVAE("video", "cpu")
    notes = {style or "none": len(score_clip(clip, music, video, style=style).notes)
             for style in (None, "irish", "bach")}
    return {"model": "musae", "clip": clip.name, "notes": notes}


MEASURES = {"walks": measure_walks, "style-classifier": measure_style_classifier, "demo-styles": measure_demo_styles}

# --------------------------------------------------------------------------------------------
# the README's passages, rendered from the figures
# --------------------------------------------------------------------------------------------


def g(fig: dict, name: str) -> dict:
    if name not in fig.get("groups", {}):
        raise KeyError(f"docs/figures.json has no group {name!r}: run bench/readme_figures.py --only {name}")
    return fig["groups"][name]["figures"]


def f3(x: float) -> str:
    return f"{x:.3f}"


def sci(x: float) -> str:
    """5.1e6, as the README writes large numbers."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def minutes(seconds: float) -> str:
    return f"{round(seconds / 60)} min"


def cores(n: int) -> str:
    return "one core" if n == 1 else f"{n} cores"


def share_words(r: float) -> str:
    """A ratio below one in words: about a quarter, a third, half, two thirds, three quarters."""
    words = {"about a fifth": 1 / 5, "about a quarter": 1 / 4, "about a third": 1 / 3, "about half": 1 / 2,
             "about two thirds": 2 / 3, "about three quarters": 3 / 4, "about": 1.0}
    return min(words, key=lambda w: abs(math.log(r / words[w])))


def pct(x: float) -> str:
    """A share as a percentage with two significant figures: 1.7%, 0.45%."""
    return f"{100 * x:.2g}%"


def minutes_of(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


def _card_train(c: dict) -> str:
    return f"{c['steps']} steps, {minutes(c['wall_seconds'])} on {cores(c['threads'])}"


def p_flat_steps(fig: dict) -> str:
    cards = g(fig, "cards")
    flat, vae = cards["flat"], cards["vae"]
    if flat["steps"] == vae["steps"]:
        return f"trains as long as the `vae` did ({flat['steps']} steps)"
    return f"trains for {flat['steps']} steps (the `vae` trained for {vae['steps']})"


def p_walk_detour(fig: dict) -> str:
    w = g(fig, "walks")
    r = w["walked_over_ends"]
    return f"{r:.0f} times" if r >= 3 else f"{r:.1f} times"


def p_cascade(fig: dict) -> str:
    w = g(fig, "walks")
    return (f"{w['biggest_jump_tokens_changed_teacher_forced']:.1f} notes change in the probabilities,"
            f"\n    {w['biggest_jump_tokens_changed_greedy']:.1f} in what is played")


def p_compare_table(fig: dict) -> str:
    c, cost = g(fig, "compare"), g(fig, "variant-cost")
    m = c["models"]
    names = list(m)
    first = m[names[0]]
    styles = first.get("style_probe_styles", [])
    cpus = fig["groups"]["compare"]["machine"]["cpu_count"]

    def row(label: str, cell) -> str:
        return f"| {label} | " + " | ".join(cell(n) for n in names) + " |"

    def acc(n):
        return f"{m[n]['teacher_forced_accuracy']:.3f} / {m[n]['sampled_accuracy']:.3f}"

    def interp(n):
        return f"{m[n]['interp_mean_step_change']:.3f} / {m[n]['interp_max_step_change']:.3f}"

    def flat(n):
        return f"{sci(m[n]['flatness_condition_number'])} / {m[n]['flatness_logdet_std']:.1f}"

    def sample(n):
        return f3(m[n]["style_sample_accuracy"]) if "style_sample_accuracy" in m[n] else ""

    def over(n):
        r = cost["variants"][n]["over_vae"]
        return "1.0" if n == "vae" else f"{r:.2f}"

    sampled_by = " and ".join(f"{n}" for n in names if "style_sample_accuracy" in m[n])
    lines = [f"Measured on the same {first['bars']} held-out bars (`score-av eval compare`, this {cpus}-core machine):",
             "",
             "| figure | " + " | ".join(names) + " |",
             "|" + "---|" * (len(names) + 1),
             row("teacher-forced / sampled accuracy", acc),
             row("interpolation mean / max step change", interp),
             row("interpolation evenness", lambda n: f3(m[n]["interp_evenness"])),
             row("flatness: condition number of G / std of log sqrt det G", flat),
             row(f"style probe accuracy ({len(styles)} styles, chance {1 / len(styles):.1f})",
                 lambda n: f3(m[n]["style_probe_accuracy"])),
             row(f"{sampled_by} samples recognised as their style", sample),
             row("training time per epoch over vae (`bench/music_variant_cost.py`)", over)]
    return "\n".join(re.sub(r"\|  (?=\|)", "| ", line) for line in lines)


def p_compare_reading(fig: dict) -> str:
    m = g(fig, "compare")["models"]
    vae, flat, musae = m["vae"], m["flat"], m["musae"]
    walks, clf, demo, cycle = g(fig, "walks"), g(fig, "style-classifier"), g(fig, "demo-styles"), g(fig, "musae-cycle")
    steps = walks["walk_points"] - 1
    tf_loss = vae["teacher_forced_accuracy"] - flat["teacher_forced_accuracy"]
    sampled_loss = vae["sampled_accuracy"] - flat["sampled_accuracy"]
    accuracy = ("stays within 0.01 of the plain VAE's accuracy" if max(tf_loss, sampled_loss) <= 0.01 else
                f"loses {tf_loss:.3f} of the plain VAE's teacher-forced and {sampled_loss:.3f} of its sampled accuracy")
    length = flat["interp_mean_step_change"] / vae["interp_mean_step_change"]
    peak = flat["interp_max_step_change"] / vae["interp_max_step_change"]
    cond = vae["flatness_condition_number"] / flat["flatness_condition_number"]
    conditioned = f"{cond:.0f}x better conditioned" if cond >= 1 else f"{1 / cond:.0f}x worse conditioned"
    evenness = (f"the walks are {'less' if flat['interp_evenness'] < vae['interp_evenness'] else 'more'} even by the "
                f"mean/max measure ({flat['interp_evenness']:.3f} against {vae['interp_evenness']:.3f})")
    if peak > 0.5:
        largest = (f"its largest step is {1 - peak:.0%} smaller; its metric is {conditioned}. But somewhere on most "
                   "walks one note still tips the decoder from one bar to the other and several notes change at "
                   "once, so the largest step is not the half of the plain VAE's that issue 4 asks for, and, the "
                   f"other steps being much smaller, {evenness}.")
    else:
        largest = (f"its largest step is {peak:.2f} of the plain VAE's ({flat['interp_max_step_change']:.3f} against "
                   f"{vae['interp_max_step_change']:.3f}), within the half that issue 4 asks for; its metric is "
                   f"{conditioned}. But, the other steps being smaller still, {evenness}.")
    probe = musae["style_probe_accuracy"] - vae["style_probe_accuracy"]
    cyc = cycle["metrics"]["test"]
    notes = demo["notes"]
    text = (
        f"What this says, honestly: `flat` {accuracy}, its walks between two bars are {share_words(length)} as long "
        f"(a {walks['walk_points']}-point walk changes {steps * flat['interp_mean_step_change']:.2f} bars' worth of "
        f"notes in all, against {steps * vae['interp_mean_step_change']:.2f}) and {largest} "
        f"MusAE's codes name the style of a single bar {abs(probe):.2f} {'better' if probe >= 0 else 'worse'} than "
        f"the plain VAE's (a classifier trained for nothing else reaches about {clf['test_accuracy']:.2f} on single "
        f"bars), at a cost of {vae['teacher_forced_accuracy'] - musae['teacher_forced_accuracy']:.3f} in "
        f"teacher-forced and {vae['sampled_accuracy'] - musae['sampled_accuracy']:.3f} in sampled accuracy; "
        f"`--style` changes the music plainly (the demo clip: {notes['irish']} notes with `--style irish`, "
        f"{notes['bach']} with `--style bach`, {notes['none']} without), but a bar drawn from a style's component "
        f"is named as that style only {musae['style_sample_accuracy']:.0%} of the time. `--config musae-cycle` adds "
        f"a term that teaches the decoder to write bars the encoder puts back in their component: "
        f"{cyc['style_sample_accuracy']:.0%} of its samples are recognised, at a cost of "
        f"{vae['sampled_accuracy'] - cyc['sampled_accuracy']:.3f} in sampled accuracy, so it is not the shipped "
        f"`musae`. Both are work in progress (issue 4).")
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def _train_block(cards: dict, names: tuple[str, ...]) -> str:
    lines = [(".venv/bin/" + cards[n]["reproduce"],
              (f"from {cards[n]['started_from']}, " if cards[n]["started_from"] else "")
              + f"~{minutes(cards[n]['wall_seconds'])} on {cores(cards[n]['threads'])}") for n in names]
    width = max(len(".venv/bin/" + c["reproduce"]) for c in cards.values()) + 1  # the blocks align alike
    return "```sh\n" + "\n".join(f"{cmd:<{width}}# {note}" for cmd, note in lines) + "\n```"


def p_train_music(fig: dict) -> str:
    return _train_block(g(fig, "cards"), SHIPPED_MUSIC)


def p_train_video(fig: dict) -> str:
    return _train_block(g(fig, "cards"), ("video",))


def p_models_table(fig: dict) -> str:
    cards = g(fig, "cards")
    vae, flat, musae, dance, video = (cards[n] for n in CARDS)
    params = (f"{flat['parameters']:,}" if flat["parameters"] == musae["parameters"]
              else f"{flat['parameters']:,} / {musae['parameters']:,}")
    v = video["metrics"]["valid"]
    dims = (f"all {v['active_dims']} latent dimensions in use" if v["active_dims"] == video["latent_dim"]
            else f"{v['active_dims']} of {video['latent_dim']} latent dimensions in use")
    return "\n".join([
        "| model | parameters | trained | figures |",
        "|---|---|---|---|",
        f"| `flat`, `musae` (music) | {params} | from `vae`, {flat['steps']} and {musae['steps']} more steps: "
        f"{minutes(flat['wall_seconds'])} on {cores(flat['threads'])} and {minutes(musae['wall_seconds'])} on "
        f"{cores(musae['threads'])} | see the table under \"Music models\" |",
        *(f"| `{name}` (music) | {card['parameters']:,} | {_card_train(card)} | {_music_figures(card)} |"
          for name, card in (("vae", vae), ("dance", dance))),
        f"| `video` | {video['parameters']:,} | {_card_train(video)} | held-out synthetic scenes: PSNR "
        f"{v['psnr_db']:.1f} dB, {dims} |"])


def _music_figures(card: dict) -> str:
    t, r = card["metrics"]["test"], card["metrics"]["ryans"]
    return (f"test split: teacher-forced {t['teacher_forced_accuracy']:.3f}, sampled {t['sampled_accuracy']:.3f}, "
            f"interpolation mean/max step change {t['interp_mean_step_change']:.3f}/{t['interp_max_step_change']:.3f}; "
            f"Ryan's Mammoth (never trained on): {r['teacher_forced_accuracy']:.3f}, {r['sampled_accuracy']:.3f}, "
            f"{r['interp_mean_step_change']:.3f}/{r['interp_max_step_change']:.3f}")


def p_music_speed(fig: dict) -> str:
    s = g(fig, "music-speed")
    t, d = s["training"], s["decode"]
    return (f"{t['bars_per_second']:.0f} bars a second in training ({t['epochs_per_hour']:.1f} epochs of the\n"
            f"    training split an hour); one bar decodes in {1000 * d['one_bar_seconds']:.1f} ms, "
            f"{pct(d['one_bar_over_a_sixteenth'])} of a sixteenth note at 120 bpm, and\n"
            f"    a batch of 64 in {pct(d['batch64_over_a_bar'])} of a bar")


def p_render_speed(fig: dict) -> str:
    s = g(fig, "render-speed")
    command = fig["groups"]["render-speed"]["command"]
    options = " ".join(command.split()[2:])
    cpus = fig["groups"]["render-speed"]["machine"]["cpu_count"]
    if "clips" not in s:  # one clip, as the bench printed before it timed several kinds
        return (f"On this project's {cpus}-core machine\n"
                f"    (`{options}`, a {s['video_seconds']:.0f} s clip): "
                f"render / ffmpeg = {s['ratio_render_to_ffmpeg']:.2f} "
                f"with start-up ({s['startup_s']:.1f} s of\n"
                f"    imports and model loading) included, {s['ratio_without_startup']:.2f} without")
    kinds = []
    for c in s["clips"]:
        default, alone = c["renders"]["default"], c["renders"].get("melody-alone")
        melody = f", the melody alone {alone['ratio_render_to_ffmpeg']:.2f}" if alone else ""
        kinds.append(f"{c['size']} {c['fps']:g} fps {c['codec'].upper()} ({c['video_seconds']:.0f} s, "
                     f"FFmpeg {c['ffmpeg_decode_s']:.1f} s): {default['ratio_render_to_ffmpeg']:.2f} with start-up "
                     f"({c['startup_s']:.1f} s) included, {default['ratio_without_startup']:.2f} without{melody}, "
                     f"at most {default['render_peak_mb']:.0f} MB")
    return (f"On this project's {cpus}-core machine (`{options}`), render / ffmpeg, the median of "
            f"{s.get('repeats', 1)}:\n    " + ";\n    ".join(kinds))


def p_render_memory(fig: dict) -> str:
    runs = g(fig, "render-memory")["runs"]
    renders = " and ".join(f"{r['render_peak_rss_mb']:.0f} MB for {minutes_of(r['video_seconds'])}"
                           + ("\n    minutes" if i == 0 else " minutes") for i, r in enumerate(runs))
    ff = sorted({round(r["ffmpeg_decode_peak_rss_mb"]) for r in runs})
    return f"{renders} (FFmpeg: {' and '.join(map(str, ff))} MB)"


def _response(fig: dict) -> dict:
    return g(fig, "video-response")


PERSON_CLIP = "one-by-one-person-detection.mp4"
CLIP_WORDS = {PERSON_CLIP: "the person-detection clip", "asl_book_webcam.mkv": "the webcam clip"}
BOOKS = {"oneills": "O'Neill's", "airds": "Aird's", "essen": "Essen", "bach": "Bach", "ryans": "Ryan's"}


def filled(text: str, indent: str = "    ", width: int = 96) -> str:
    """A passage's text in lines of at most `width`, the later ones indented as the list item it is in."""
    return textwrap.fill(" ".join(text.split()), width=width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False)


def words_and(items: list[str]) -> str:
    """a, b and c"""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def p_response_person(fig: dict) -> str:
    r = {n: _response(fig)[n][PERSON_CLIP] for n in (DEFAULT_MUSIC, "vae")}
    d, v = r[DEFAULT_MUSIC], r["vae"]
    return filled(f"on the person-detection clip with `{DEFAULT_MUSIC}`, {d['spearman']:.2f} over all "
                  f"{d['bar_lines']} bar lines and {d['spearman_moved_bars']:.2f} over the {d['bar_lines_moved']} "
                  f"where the picture moved past `--steady` (`spearman_moved_bars`); with `vae` {v['spearman']:.2f} "
                  f"and {v['spearman_moved_bars']:.2f}. At the other {d['bar_lines'] - d['bar_lines_moved']} bar "
                  f"lines the look held, and `{DEFAULT_MUSIC}`'s music develops there by design (a phrase grows "
                  f"from the look's bar; `vae` has no inpainting model and repeats its bar, as `--no-development` "
                  f"does), so the first figure mixes the picture's moves with the phrase's; the second says whether, "
                  f"where the picture moves, the music changes more the further it moved (1: the further it moved, "
                  f"the more the music changed, at every such bar line; 0: no relation). Over the bar lines where "
                  f"the music changed at all: {d['spearman_changed_bars']:.2f} (`spearman_changed_bars`)")


def p_response_demo(fig: dict) -> str:
    demo = {n: r["demo-clip (cuts known)"] for n, r in _response(fig).items()}
    q = {n: d["music_change_where_video_moved_least_half"] for n, d in demo.items()}
    cuts = {n: f"{d['cuts_above_p90']} of {len(d['music_change_at_cuts'])}" for n, d in demo.items()}
    return (f"where the picture moves least the music changes {q[DEFAULT_MUSIC]:.2f} of its notes from bar to bar "
            f"with\n"
            f"    `{DEFAULT_MUSIC}`, {q['vae']:.2f} with `vae`, {q['flat']:.2f} with `flat` and {q['musae']:.2f} with "
            f"`musae`, and the change at a cut is\n    above the 90th percentile of the changes inside the shots "
            f"for {cuts[DEFAULT_MUSIC]} cuts with `{DEFAULT_MUSIC}`, {cuts['vae']}\n    with `vae`, {cuts['flat']} "
            f"with `flat` and {cuts['musae']} with `musae`")


def p_data_prior(fig: dict) -> str:
    prior = g(fig, "cards")[DEFAULT_MUSIC]["data_prior"]
    ll, rhythm = prior["test_log_likelihood_nats"], prior["rhythm_against_test_bars"]
    ours, theirs = rhythm["data_prior"], rhythm["trained_prior"]
    return (f"the test split's codes have a log-likelihood of {ll['data_prior']:.1f} nats under the "
            f"`{DEFAULT_MUSIC}`'s\n"
            f"data prior ({prior['components']} components) against {ll['trained_prior']:.1f} under N(0, I); "
            f"bars drawn from it put {ours['offbeat_sixteenths']:.0%} of\n"
            f"their onsets on off-beat sixteenths (real held-out bars {ours['reference_offbeat_sixteenths']:.0%}, "
            f"N(0, I) {theirs['offbeat_sixteenths']:.0%}), and their onset positions\n"
            f"and durations are {ours['onset_position_tv']:.2f} and {ours['duration_tv']:.2f} from real bars' in "
            f"total variation ({theirs['onset_position_tv']:.2f} and {theirs['duration_tv']:.2f} from N(0, I))")


def _phrase_clips(r: dict) -> tuple[str, int]:
    """The clips that gave phrases, in words, and the number of seeds (from the JSON)."""
    clips = sorted({k.rsplit("@", 1)[0] for k in r["phrases"]["rendered_groups"]})
    return words_and([CLIP_WORDS.get(c, f"`{c}`") for c in clips]), len(r["seeds"])


def _reference(r: dict) -> str:
    """The held-out tunes the second comparison used, named as they are."""
    ref = r["reference"]
    split, own = ref["training_collections_test_split"], ref["model_trained_on"]
    books = words_and([BOOKS.get(n, n) for n in split["names"]])
    if set(own) == set(split["names"]):
        return f"against the held-out tunes of the books it learned from, {books} in every meter"
    return (f"against the held-out tunes of the `vae`'s training data, {books} in every meter, of which "
            f"`{r['model']}` learned from {words_and([BOOKS.get(n, n) for n in own])} only")


def p_phrase_test(fig: dict) -> str:
    r, v = g(fig, "phrase-test"), g(fig, "phrase-test-vae")
    clips, seeds = _phrase_clips(r)
    return filled(f"{r['rendered_vs_real']['mean']:.2f} for soundtracks of {clips} with {seeds} seeds against "
                  f"Ryan's common-time tunes with `{r['model']}` (the aim is 0.8 or less; two halves of Ryan's: "
                  f"{r['real_vs_real']['mean']:.2f}; {_reference(r)}: "
                  f"{r['rendered_vs_training_collections_test_split']['mean']:.2f}), "
                  f"{r['notes_per_bar']['rendered']:.1f} notes a bar against {r['notes_per_bar']['real']:.1f} in "
                  f"Ryan's; with `--model vae` {v['rendered_vs_real']['mean']:.2f} "
                  f"({v['notes_per_bar']['rendered']:.1f} notes a bar). Against `{r['model']}`'s own held-out "
                  f"tunes ({_own_books(r)} in common time): "
                  f"{r['rendered_vs_own_training_collections_test_split']['mean']:.2f} with the features that see "
                  f"the order of the bars (bar k against k-1, k-2 and k-4: a loop gives itself away there), "
                  f"{r['rendered_vs_own_training_collections_test_split_without_self_similarity']['mean']:.2f} "
                  f"without them (two halves of those tunes: "
                  f"{r['own_training_collections_test_split_halves']['mean']:.2f})")


def _own_books(r: dict) -> str:
    return words_and([BOOKS.get(n, n) for n in r["own_training_collections_test_split"]["names"]])


def p_dance_vs_vae(fig: dict) -> str:
    r, v, m = g(fig, "phrase-test"), g(fig, "phrase-test-vae"), g(fig, "musicality")
    clips, seeds = _phrase_clips(r)
    d, w = (m["rendered"][n] for n in (DEFAULT_MUSIC, "vae"))
    dp, wp, da, wa = d[PERSON_CLIP], w[PERSON_CLIP], d["a-b-a"], w["a-b-a"]
    real = m["real_tunes"]
    rd, rv = r["rendered_vs_real"]["mean"], v["rendered_vs_real"]["mean"]
    notes, notes_vae = r["notes_per_bar"]["rendered"], v["notes_per_bar"]["rendered"]
    return filled(f"{notes:.1f} notes a bar where `vae` plays {notes_vae:.1f} "
            f"(the phrase test's soundtracks of {clips}, {seeds} seeds). Its soundtracks are "
            f"{'harder' if rd < rv else 'no harder'} to tell from real dance tunes neither model saw (the phrase test, "
            f"under \"Measuring\": {rd:.2f} against `vae`'s {rv:.2f}; 0.5 means they cannot be told apart). On the "
            f"person-detection clip (`bench/musicality.py`), `{DEFAULT_MUSIC}` against `vae`: key fit "
            f"{dp['key_fit']:.2f} and {wp['key_fit']:.2f}, leaps over a fifth {dp['leaps']:.0%} and {wp['leaps']:.0%} "
            f"of intervals, pitch-class entropy {dp['pitch_class_entropy']:.2f} and {wp['pitch_class_entropy']:.2f} "
            f"bits (real tunes, each on its own: O'Neill's test split {real['oneills_test_split']['key_fit']:.2f}, "
            f"{real['oneills_test_split']['leaps']:.0%}, {real['oneills_test_split']['pitch_class_entropy']:.2f}; "
            f"Ryan's {real['ryans']['key_fit']:.2f}, {real['ryans']['leaps']:.0%}, "
            f"{real['ryans']['pitch_class_entropy']:.2f}); the response to the picture {dp['spearman']:.2f} and "
            f"{wp['spearman']:.2f} over every bar line, {dp['spearman_changed_bars']:.2f} and "
            f"{wp['spearman_changed_bars']:.2f} over those where the music changed; and on a made clip whose first "
            f"shot comes back (A-B-A), the returning bars recall the first ones {da['recall']:.2f} and "
            f"{wa['recall']:.2f} (1: note for note)", indent="")


def p_structure(fig: dict) -> str:
    r = g(fig, "structure")
    now, loop, ryans, own = (r["rendered"], r["rendered_without_development"], r["real_tunes"]["ryans"],
                             r["real_tunes"]["own_training_collections_test_split"])
    shown = [CLIP_WORDS.get(c, c) for c in r["clips"] if r["rendered_by_clip"][c]["phrases"]]
    shown = [c.replace("montage-person-asl.mp4", "the two cut together (`looped_clips.montage`)") for c in shown]

    def figs(x):
        return (f"{x['same_as_bar_before']:.1%}, {x['phrases_with_run_of_3']:.1%}, "
                f"{x['distinct_bars_per_phrase']:.2f}, {x['bar_k_plus_4_repeats_k']:.0%}")
    return filled(f"over the {now['phrases']} phrases of {words_and(shown)} with {len(r['seeds'])} seeds and "
                  f"`{r['model']}`, the share of bars that are the bar before note for note, of phrases holding a run "
                  f"of 3 or more identical bars, the distinct bars a phrase (of 8) and the share of bars k that bar "
                  f"k+4 repeats: {figs(now)} (the aims: at most 8%, at most 5%, at least 5.5); with "
                  f"`--no-development`, the loop it replaced, {figs(loop)}; real tunes never trained on, "
                  f"Ryan's: {figs(ryans)}; `{r['model']}`'s own held-out tunes: {figs(own)}")


def p_render_options(fig: dict) -> str:
    r = g(fig, "render-options")
    runs = r["runs"]

    def rho(x):
        return "" if x is None else f"{x:.2f}"

    lines = [filled(f"Measured on {CLIP_WORDS.get(r['clip'], r['clip'])} with `{r['model']}` "
                    f"(`bench/render_options.py`, one render each): the bar lines where the look held (the picture "
                    f"within `--steady`: the music develops there, or repeats with `--no-development`), those where "
                    f"the music did not change at all, and the video response over every bar line and over those "
                    f"where the picture moved past `--steady`, as under \"Measuring\":", indent="", width=100),
             "",
             "| options | notes a bar | share of notes changed, bar to bar | looks held | music unchanged | "
             "response: all / moved | MIDI programs, audio tracks |",
             "|---|---|---|---|---|---|---|"]
    for label, run in runs.items():
        lines.append(f"| {'none' if label == 'defaults' else '`' + label + '`'} | {run['notes_per_bar']:.1f} | "
                     f"{run['mean_bar_change']:.2f} | {run['looks_held']} of {run['bar_lines']} | "
                     f"{run['bar_lines_music_unchanged']} | "
                     f"{rho(run['spearman'])} / {rho(run['spearman_moved_bars'])} | "
                     f"{', '.join(map(str, run['programs']))}; {run['audio_tracks']} |")
    return "\n".join(lines)


def p_band(fig: dict) -> str:
    r = g(fig, "band")["clips"]
    person, demo = r[PERSON_CLIP], next(v for k, v in r.items() if k != PERSON_CLIP)
    lay = person["layers"]

    def rho(x):
        return "n/a" if x is None else f"{x:.2f}"
    presets = ", ".join(f"{name} {p['over_melody_alone']:.2f}" for name, p in person["presets"].items())
    return filled(f"on the person-detection clip ({lay['bars']} bars), with every layer: the bass plays "
                  f"{lay['notes_per_bar']['bass']:.1f} notes a bar, the more the busier the bar (Spearman against "
                  f"motion {rho(lay['bass_notes_vs_motion_spearman'])}), and higher the brighter the picture "
                  f"({rho(lay['bass_pitch_vs_brightness_spearman'])} against brightness, which ranges only "
                  f"{lay['brightness_range'][0]:.2f}-{lay['brightness_range'][1]:.2f} there); the drums "
                  f"{lay['notes_per_bar']['drums']:.1f} notes a bar, {rho(lay['drum_notes_vs_motion_spearman'])} "
                  f"against motion; {lay['melody_strong_beat_chord_tones']:.0%} of the melody's notes on beats 1 "
                  f"and 3 are tones of the chord under them. The melody is the same in every run: "
                  f"{'yes' if person['melody_unchanged'] and demo['melody_unchanged'] else 'NO'}. A render with "
                  f"every layer takes {person['all_layers_over_melody']:.2f}x the time of the melody alone "
                  f"(the demo clip: {demo['all_layers_over_melody']:.2f}x; medians of "
                  f"{len(person['render_seconds']['melody'])} interleaved renders after a warm-up, models loaded once); "
                  f"each preset: {presets}", indent="")


def p_figures_time(fig: dict) -> str:
    groups = fig["groups"]
    total = sum(grp["seconds"] for grp in groups.values())
    cycle = groups["musae-cycle"]["seconds"] / total
    cpus = sorted({grp["machine"]["cpu_count"] for grp in groups.values()})
    return (f"about {total / 3600:.1f} hours on {words_and([str(c) for c in cpus])} cores, "
            f"{cycle:.0%} of it training `--config musae-cycle`")


def p_live_latency(fig: dict) -> str:
    r = g(fig, "live-latency")
    note, cc, jitter = (r["latency_ms_picture_to_first_changed_note"], r["latency_ms_picture_to_expression"],
                        r["note_jitter_ms"])
    at_once = r["latency_ms_changes_answered_at_once"]
    pending = f", {r['changes_pending']} still waiting when the run stopped" if r["changes_pending"] else ""
    band = f" the {r['preset']} band playing," if r.get("preset") else ""
    b = r.get("audio_buffer")
    buffer = (f",{band} through an audio buffer of {b['periods']} x {b['period_size']} samples ({b['ms']:g} ms)"
              if b else "")
    underruns = underruns_of(r)
    threads = r.get("cpu_by_thread")
    split = ("; by thread: " + ", ".join(f"`{name}` {share:.0%}" for name, share in list(threads.items())[:4])
             if threads else "")
    return (f"{r['picture_changes']} changes of the picture, each counted: {r['picture_changes_answered']} answered "
            f"by a changed note, {r['changes_merged']} covered by\n    the answer to another, "
            f"{r['changes_withdrawn']} gone back before an answer was due{pending} ({r['changes_deferred']} of the "
            f"{r['picture_changes']} came within a beat of\n    the last answer, or before the next bar was decided, "
            f"and waited); from the frame that shows a\n    change to the first changed note heard, over every change "
            f"answered: median {note['median']:.0f} ms, p95 {note['p95']:.0f} ms, at\n    most {note['max']:.0f} ms "
            f"(a sixteenth is {r['reference']['sixteenth_note_ms']:.0f} ms); over the {at_once['n']} answered at the "
            f"frame that showed them: median\n    {at_once['median']:.0f} ms, p95 {at_once['p95']:.0f} ms, at most "
            f"{at_once['max']:.0f} ms; to the expression change heard: median "
            f"{cc['median']:.0f} ms, p95 {cc['p95']:.0f} ms;\n    jitter of all {jitter['n']} notes against the tick "
            f"each was scheduled for: p95 {jitter['p95']:.0f} ms, at most {jitter['max']:.0f} ms, "
            f"{r['answers_off_the_grid']} of\n    them answers struck off the grid on purpose; {underruns}; "
            f"the whole process took {r['cpu_share_of_all_cores']:.0%} of the two\n    cores (reading the "
            f"file alone: {r['reference']['cpu_share_of_all_cores_reading_the_file_only']:.1%}{split}), over "
            f"{r['seconds'] / 60:.0f} minutes{buffer}")


def underruns_of(r: dict) -> str:
    """A live run's underruns, beside the machine's own stalls where the run measured them."""
    m, n = r.get("machine_stalls"), r["audio_underruns"]
    said = f"{n} audio underrun{'s' if n != 1 else ''}"
    if not m:
        return said
    # the reference: a process of its own woke as late as the buffer lasts (bench/machine_stalls.py)
    longest = f"{m['longest_ms'][0] if m['longest_ms'] else 0:.0f} ms"
    stalls = m["stalls_as_long_as_the_buffer"]
    if n:
        return (f"{said} ({m['underruns_beside_such_a_stall']} of them as the machine itself stalled as long as "
                f"the buffer lasts, which it did {stalls} time{'s' if stalls != 1 else ''} in the run, at most "
                f"{longest}: a process of its own woke that late)")
    return (f"{said} (the machine itself stalled as long as the buffer lasts {stalls} time{'s' if stalls != 1 else ''}"
            f" in the run, at most {longest}: a process of its own woke that late)")


def p_gestures(fig: dict) -> str:
    r = g(fig, "gestures")
    on, off = r["gestures"], r["reference_without_gestures"]
    levels = on["levels_played"]
    return (f"over {on['bars']} bars ({r['seconds'] / 60:g} minutes), per-bar motion against the notes struck: "
            f"Spearman {on['spearman_motion_vs_notes']:.2f}\n  ({on['spearman_motion_vs_notes_answered_window']:.2f} "
            f"against the motion each figure answers, shown half a beat earlier), against pitch movement "
            f"{on['spearman_motion_vs_pitch_movement']:.2f}\n  "
            f"({on['spearman_motion_vs_pitch_movement_answered_window']:.2f}); "
            f"{round(on['share_of_those_with_an_answered_change'] * on['windows_of_4_moving_bars'])} of the "
            f"{on['windows_of_4_moving_bars']} stretches of four bars of movement held an answered change "
            f"({on['gestures_answered']} figures answered in all);\n  "
            f"{on['notes_per_bar_mean']:.1f} notes a bar; the bars' last figures still, moving, busy, very busy: "
            f"{levels['0']}, {levels['1']}, {levels['2']}, {levels['3']}; {on['audio_underruns']} underruns, "
            f"{on['cpu_share_of_all_cores']:.0%} of the two cores. The same clip with `--no-gestures`:\n  Spearman "
            f"{off['spearman_motion_vs_notes']:.2f} against the notes, {off['spearman_motion_vs_pitch_movement']:.2f} "
            f"against pitch movement, {off['notes_per_bar_mean']:.1f} notes a bar, and "
            f"{off['picture_changes_answered']} picture changes answered (only the loudness moved)")


def _bars(bars: list[int]) -> str:
    """bar 3, bars 3 and 11"""
    return ("bar " if len(bars) == 1 else "bars ") + words_and([str(b) for b in bars])


def p_presence(fig: dict) -> str:
    r = g(fig, "presence")
    empty = ("every empty one left empty" if r["empty_left_empty"] == 1
             else f"{r['empty_left_empty']:.2f} of the empty ones left empty")
    return filled(f"{r['counts_per_second']:.3g} counts a second against a truth labelled by hand second by second "
                  f"(`bench/presence_truth.json` says how): \"someone there\" balanced accuracy "
                  f"{r['balanced_accuracy']:.2f} ({r['someone_there_found']:.2f} of the seconds with someone found, "
                  f"{empty}), at a median {r['ms_per_frame']['median']:.0f} ms a count")


def p_render_presence(fig: dict) -> str:
    r = g(fig, "render-presence")
    t, heard, empty, s = r["truth"], r["entrances_heard"], r["empty_bars"], r["seconds"]
    someone = [k for k, v in enumerate(t["someone_there_per_bar"]) if v]
    nobody = [k for k, v in enumerate(t["someone_there_per_bar"]) if not v]
    missed = [k for k in someone if r["people_per_bar"][k] == 0]
    seen_empty = [k for k in nobody if r["people_per_bar"][k] > 0]
    started = sum(e["phrase_starts_here"] for e in heard)
    already = sum(e["phrase_started_here_without"] for e in heard)
    changed = [e["tokens_changed_vs_without"] for e in heard if e["tokens_changed_vs_without"] > 0]
    counting = s["stages_with"]["counting people"]
    seconds = counting["wall"] / s["counting_per_second_of_picture"]["wall"]
    without = min(x["wall"] for x in s["render_without"])
    text = (f"clip ({r['bars']} bars, {len(t['entrances'])} visits), someone was counted in "
            + ("every bar the hand truth (`bench/presence_truth.json`) has someone in" if not missed else
               f"{len(someone) - len(missed)} of the {len(someone)} bars the hand truth (`bench/presence_truth.json`) "
               f"has someone in (not in {_bars(missed)})")
            + f", and in {len(seen_empty)} of its {len(nobody)} empty bars"
            + (f" ({_bars(seen_empty)})" if seen_empty else "")
            + f"; {len(heard)} entrances were heard, on {_bars([e['bar'] for e in heard])} (the truth's: "
            f"{_bars(t['entrances'])}; {t['entrances_heard_within_a_bar']} of them heard within a bar). "
            + ("Each" if started == len(heard) else f"{started} of them")
            + f" started a phrase ({already} already did without `--presence`: the look jumped there), and "
            f"{len(changed)} played other notes than without it"
            + (f" ({min(changed):.0%} to {max(changed):.0%} of their steps)" if changed else "")
            + f". The {empty['count']} bars counted empty played at a mean velocity of {empty['mean_velocity']:.0f} "
            f"({empty['mean_velocity_without']:.0f} without; the still loudness is {empty['still_velocity']}), and "
            f"{empty['held']} of them held on ({empty['held_without']} without). Counting is what it costs: "
            f"{counting['wall']:.0f} s for the clip's {seconds:.0f} s ({s['counting_per_second_of_picture']['wall']:.2f} s "
            f"a second of picture, {counting['cpu']:.0f} s of CPU) against {without:.0f} s for a whole render "
            f"without it, on the shared 2-core machine (its load then is in docs/figures.json): a render with `--presence` takes "
            f"{s['ratio_cpu']:.0f} times the CPU")
    return filled(text, indent="")


def p_live_soak(fig: dict) -> str:
    r = g(fig, "live-soak")
    cam, back, mem, out = r["camera"], r["recovery_after_source_back_s"], r["memory"], r["outages"]
    period, outage = out[1]["start"] - out[0]["start"], out[0]["end"] - out[0]["start"]
    playing = (f" (the {r['preset']} band playing, people counted, gestures heard, the key following the light)"
               if r.get("preset") else "")
    return (f"over {r['minutes']:.0f} minutes{playing} with the file failing every {period / 60:g} minutes for {outage:g} s "
            f"(unplugged, frozen, "
            f"hung in turn), each of the {cam['losses']} losses\n    was noticed within "
            f"{cam['noticed_after_s']['max']:.2f} s and frames flowed again at most {back['max']:.2f} s after the "
            f"source was back; resident memory\n    {mem['rss_mb_first']:.0f} MB at the start, "
            f"{mem['rss_mb_last']:.0f} MB at the end, at most {mem['rss_mb_max']:.0f} MB, drifting "
            f"{mem['slope_mb_per_hour_second_half']:+.1f} MB an hour over the second half; "
            f"{underruns_of(r)}{memory_looks_of(r)}")


def memory_looks_of(r: dict) -> str:
    """What the soak's looks at memory saw (`--looks-every`): the libraries' pages and glibc's heaps."""
    looks = [look for look in r.get("memory_looks", []) if "malloc_mb" in look]
    if len(looks) < 2:
        return ""
    every = (looks[1]["t_s"] - looks[0]["t_s"]) / 60
    pages = [look["file_mb"] for look in looks]
    heaps = [look["malloc_mb"]["heaps"] for look in looks]
    span = lambda xs: f"{min(xs):.0f} MB" if round(min(xs)) == round(max(xs)) else f"{min(xs):.0f}-{max(xs):.0f} MB"
    return (f". Memory looked at every {every:g} minutes: the pages of the libraries stayed at {span(pages)} "
            f"and glibc's heaps at {span(heaps)}")


def p_batch_speed(fig: dict) -> str:
    r = g(fig, "batch-speed")
    runs, ratios = r["runs"], r["ratios"]
    rate = lambda name: runs[name]["video_seconds_per_second"]
    return (f"{r['clips']['count']} clips, {r['clips']['seconds_of_video_in_the_files'] / 60:.0f} minutes of video, "
            f"start-up included: one worker scores {rate('local_1_worker'):.0f} s of video a second,\n"
            f"  two workers {rate('local_2_workers'):.0f} ({ratios['local_2_workers_over_1_worker']:.2f} times "
            f"as fast), Ray with two workers {rate('ray_2_workers'):.0f}; FFmpeg only decoding the same clips: "
            f"{runs['local_1_worker']['ffmpeg_video_seconds_per_second']:.0f};\n  one worker keeps "
            f"{runs['local_1_worker']['cores_busy']:.1f} cores busy (its frame encoder and synthesizer run beside its decoding), two "
            f"keep {runs['local_2_workers']['cores_busy']:.1f}; single-threaded FFmpeg in two lanes runs "
            f"{ratios['ffmpeg_2_lanes_over_1_lane']:.2f} times as fast as in one;\n  "
            + ("the MIDI of every clip is the same on all three" if r["same_music_across_backends"]
               else "the MIDI differs between runs"))


PASSAGES = {  # marker name -> template; a name that ends in "-table", "-block" or "-reading" is a block
    "flat-steps": p_flat_steps,
    "walk-detour": p_walk_detour,
    "cascade": p_cascade,
    "compare-table": p_compare_table,
    "compare-reading": p_compare_reading,
    "train-music-block": p_train_music,
    "train-video-block": p_train_video,
    "models-table": p_models_table,
    "music-speed": p_music_speed,
    "render-speed": p_render_speed,
    "render-memory": p_render_memory,
    "response-person": p_response_person,
    "response-demo": p_response_demo,
    "data-prior": p_data_prior,
    "phrase-test": p_phrase_test,
    "dance-vs-vae": p_dance_vs_vae,
    "render-options-table": p_render_options,
    "structure": p_structure,
    "band": p_band,
    "figures-time": p_figures_time,
    "live-latency": p_live_latency,
    "gestures": p_gestures,
    "presence": p_presence,
    "render-presence": p_render_presence,
    "live-soak": p_live_soak,
    "batch-speed": p_batch_speed,
}
BLOCK = ("-table", "-block", "-reading")
MARKER = re.compile(r"<!-- figures:([\w-]+) -->(.*?)<!-- /figures:\1 -->", re.S)


def render_passage(name: str, fig: dict) -> str:
    text = PASSAGES[name](fig)
    return f"\n{text}\n" if name.endswith(BLOCK) else text


def render_readme(text: str, fig: dict) -> str:
    """The README with every passage between markers rendered from the figures; every passage must be there once."""
    found = MARKER.findall(text)
    names = [n for n, _ in found]
    unknown = sorted(set(names) - set(PASSAGES))
    missing = sorted(set(PASSAGES) - set(names))
    twice = sorted({n for n in names if names.count(n) > 1})
    if unknown or missing or twice:
        raise ValueError(f"README markers: unknown {unknown}, missing {missing}, repeated {twice}")
    return MARKER.sub(lambda m: f"<!-- figures:{m[1]} -->{render_passage(m[1], fig)}<!-- /figures:{m[1]} -->", text)


def passages(text: str) -> dict[str, str]:
    """The README's passages as they stand, by name."""
    return {n: body for n, body in MARKER.findall(text)}


def load_figures(path: Path = FIGURES) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"groups": {}}


def save_figures(fig: dict, path: Path = FIGURES) -> None:
    fig["about"] = ("The README's figures (between <!-- figures:NAME --> markers), one group per command that made "
                    "them, with its date, machine and load average. Made by `make figures` "
                    "(python bench/readme_figures.py; --only GROUP reruns one, --from-json rewrites the README "
                    "from this file). Timings come from a shared 2-core machine: prefer the ratios.")
    fig["groups"] = {name: fig["groups"][name] for name in GROUPS if name in fig["groups"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".partial")
    tmp.write_text(json.dumps({"about": fig["about"], "groups": fig["groups"]}, indent=1) + "\n")
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=list(GROUPS), metavar="GROUP",
                    help=f"run this group only (repeatable): {', '.join(GROUPS)}")
    ap.add_argument("--from-json", action="store_true", help="run nothing: rewrite the README from docs/figures.json")
    ap.add_argument("--check", action="store_true", help="run nothing: exit 1 if the README is not the rendering")
    ap.add_argument("--measure", choices=list(MEASURES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(MEASURES[args.measure](), indent=2))
        return 0
    fig = load_figures()
    if not (args.from_json or args.check):
        for name in args.only or list(GROUPS):
            group = run_group(name)
            fig = load_figures()  # as it is now: another run may have kept a group meanwhile
            fig["groups"][name] = group
            save_figures(fig)  # each group kept as soon as it is measured
            print(f"[{name}] done: {fig['groups'][name]['seconds']} s", file=sys.stderr, flush=True)
    text = README.read_text()
    rendered = render_readme(text, fig)
    if args.check:
        if rendered != text:
            print("README.md differs from docs/figures.json: run `python bench/readme_figures.py --from-json`",
                  file=sys.stderr)
            return 1
        return 0
    if rendered != text:
        tmp = README.with_name("." + README.name + ".partial")
        tmp.write_text(rendered)
        os.replace(tmp, README)
        print("README.md rewritten from docs/figures.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
