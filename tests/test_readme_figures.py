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
    changed["groups"]["render-speed"]["figures"]["ratio_render_to_ffmpeg"] += 0.5
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
