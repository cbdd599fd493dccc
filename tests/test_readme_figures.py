"""The README's figures are the committed measurements (docs/figures.json), rendered; nothing is run here.

A figure edited by hand in the README, or docs/figures.json updated without the README, fails;
so does a model card that no longer says what the README quotes from it.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "bench" / "readme_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rf = _script()
README = (ROOT / "README.md").read_text()
FIGURES = rf.load_figures(ROOT / "docs" / "figures.json")


def test_every_group_was_measured_with_its_command_and_date():
    assert set(FIGURES["groups"]) == set(rf.GROUPS)
    for name, group in FIGURES["groups"].items():
        assert group["command"] and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC$", group["date"]), name
        assert group["figures"], name


def test_readme_is_the_rendering_of_the_committed_figures():
    rendered = rf.render_readme(README, FIGURES)
    if rendered != README:
        now, want = rf.passages(README), rf.passages(rendered)
        differ = [n for n in want if now[n] != want[n]]
        pytest.fail(f"README passages {differ} differ from docs/figures.json: "
                    f"run `python bench/readme_figures.py --from-json` (or measure again)")


def test_a_figure_edited_by_hand_is_caught():
    edited = README.replace("<!-- figures:render-speed -->On this", "<!-- figures:render-speed -->On  this", 1)
    assert edited != README and rf.render_readme(edited, FIGURES) != edited


def test_figures_changed_without_the_readme_are_caught():
    changed = json.loads(json.dumps(FIGURES))
    changed["groups"]["render-speed"]["figures"]["clips"][0]["renders"]["default"]["ratio_render_to_ffmpeg"] += 0.5
    assert rf.render_readme(README, changed) != README


def test_every_passage_is_marked_once():
    names = [n for n, _ in rf.MARKER.findall(README)]
    assert sorted(names) == sorted(rf.PASSAGES)


def test_the_cards_in_the_json_are_the_cards_shipped():
    assert FIGURES["groups"]["cards"]["figures"] == rf.card_figures(ROOT / "media" / "models"), \
        "a model card changed: run `python bench/readme_figures.py --only cards`"


@pytest.mark.parametrize("name", ["vae", "flat", "musae", "dance", "video"])
def test_readme_quotes_each_cards_training_as_the_card_says(name):
    card = json.loads((ROOT / "media" / "models" / f"{name}.json").read_text())
    steps, wall = card["training"]["steps"], card["training"]["wall_seconds"]
    minutes = f"{round(wall / 60)} min"
    text = rf.passages(README)
    block = text["train-video-block" if name == "video" else "train-music-block"]
    line = next(line for line in block.splitlines() if f"--out media/models/{name}.pt" in line)
    assert f"~{minutes} on " in line, line
    table = text["models-table"]
    if name in ("vae", "dance", "video"):
        row = next(r for r in table.splitlines() if r.startswith(f"| `{name}`"))
        assert f"| {steps} steps, {minutes} on " in row, row
    else:
        row = next(r for r in table.splitlines() if r.startswith("| `flat`, `musae`"))
        flat, musae = (json.loads((ROOT / "media" / "models" / f"{n}.json").read_text())["training"]
                       for n in ("flat", "musae"))
        assert f"{flat['steps']} and {musae['steps']} more steps" in row, row
        assert minutes in row, row
    if name == "flat":
        assert f"({steps} steps)" in text["flat-steps"] or f"for {steps} steps" in text["flat-steps"]


def test_video_response_gives_every_correlation_and_the_readme_quotes_them():
    """Over every bar line, and over those where the picture moved past --steady (a held look now
    changes its music by design); the default's over the bar lines where the music changed too."""
    response = FIGURES["groups"]["video-response"]["figures"]
    text = rf.passages(README)["response-person"]
    for model in (rf.DEFAULT_MUSIC, "vae"):
        person = response[model][rf.PERSON_CLIP]
        assert {"spearman", "spearman_changed_bars", "spearman_moved_bars", "bar_lines", "bar_lines_moved",
                "bar_lines_music_unchanged"} <= set(person)
        assert f"{person['spearman']:.2f}" in text and f"{person['spearman_moved_bars']:.2f}" in text
    assert f"{response[rf.DEFAULT_MUSIC][rf.PERSON_CLIP]['spearman_changed_bars']:.2f}" in text
    for key in ("spearman_changed_bars", "spearman_moved_bars"):
        changed = json.loads(json.dumps(FIGURES))
        changed["groups"]["video-response"]["figures"][rf.DEFAULT_MUSIC][rf.PERSON_CLIP][key] += 0.2
        assert rf.render_readme(README, changed) != README


def test_the_time_make_figures_takes_is_the_sum_of_the_groups_seconds():
    total = sum(group["seconds"] for group in FIGURES["groups"].values())
    cycle = FIGURES["groups"]["musae-cycle"]["seconds"] / total
    text = rf.passages(README)["figures-time"]
    assert f"about {total / 3600:.1f} hours" in text and f"{cycle:.0%} of it" in text
    longer = json.loads(json.dumps(FIGURES))
    longer["groups"]["musae-cycle"]["seconds"] += 3600
    assert rf.render_readme(README, longer) != README


def test_the_phrase_test_names_the_reference_clips_and_seeds_it_used():
    r = FIGURES["groups"]["phrase-test"]["figures"]
    text = " ".join(rf.passages(README)["phrase-test"].split())
    for name in r["reference"]["training_collections_test_split"]["names"]:
        assert rf.BOOKS[name] in text, name
    assert f"with {len(r['seeds'])} seeds" in text
    fewer = json.loads(json.dumps(FIGURES))
    fewer["groups"]["phrase-test"]["figures"]["seeds"] = r["seeds"][:3]
    assert "with 3 seeds" in " ".join(rf.passages(rf.render_readme(README, fewer))["phrase-test"].split())
    own = json.loads(json.dumps(FIGURES))  # a model trained on the reference's books: said so
    ref = own["groups"]["phrase-test"]["figures"]["reference"]
    ref["model_trained_on"] = ref["training_collections_test_split"]["names"]
    assert "books it learned from" in rf.passages(rf.render_readme(README, own))["phrase-test"]


def test_the_musical_claims_about_dance_are_the_musicality_figures():
    m = FIGURES["groups"]["musicality"]["figures"]["rendered"]
    text = " ".join(rf.passages(README)["dance-vs-vae"].split())
    for model in (rf.DEFAULT_MUSIC, "vae"):
        person = m[model][rf.PERSON_CLIP]
        assert f"{person['key_fit']:.2f}" in text and f"{m[model]['a-b-a']['recall']:.2f}" in text
    changed = json.loads(json.dumps(FIGURES))
    changed["groups"]["musicality"]["figures"]["rendered"]["vae"][rf.PERSON_CLIP]["leaps"] += 0.25
    assert rf.render_readme(README, changed) != README


BENCH = ROOT / "bench"
CLIP_HELPERS = {"looped_clips.py", "readme_figures.py"}


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_every_benchmark_that_scores_a_real_clip_takes_clip(script):
    text = (BENCH / script).read_text()
    if script in CLIP_HELPERS or not re.search(r"SHARED|PERSON|shared_clips|shared\" / \"clips", text):
        return
    assert '"--clip"' in text and "clips_to_score(" in text, f"bench/{script} scores a real clip without --clip"


def test_a_benchmark_without_a_clip_says_so_in_one_line_and_exits_2(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(BENCH / "render_options.py"), "--clip", str(tmp_path / "no.mp4")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "no such clip" in done.stderr
    sys.path.insert(0, str(BENCH))
    try:
        from looped_clips import clips_to_score
    finally:
        sys.path.remove(str(BENCH))
    with pytest.raises(SystemExit) as exit_:
        clips_to_score("bench/x.py", None, [tmp_path / "shared" / "clip.mp4"])
    assert exit_.value.code == 2
