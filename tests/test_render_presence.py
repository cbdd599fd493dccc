"""`score-av render --presence`: the people counted in a clip steer its music as they do live. A bar
someone enters is decided anew, as after a cut (a new phrase); a bar with nobody in it plays still
(quiet, held within the cut distance). The rule itself on made arrays, then a real render of the
first seconds of the shared person-detection clip with the real counter."""
from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from score_av.cli import build_parser, main
from score_av.cli.render import people_heard, scoring_options
from score_av.clips import write_clip
from score_av.conductor import CUT, VELOCITY, Conducting, conduct
from score_av.errors import ScoreAVError
from score_av.mapping import hold_steady
from score_av.presence import PRESENCE_HZ, BarPeople, Counts, entered
from score_av.render import RenderOptions, render_clip, score_with_options
from score_av.report import report_figure
from score_av.sources import iter_frames
from score_av.timeline import Timeline
from conftest import SHARED
from test_cli import one_line_error

PERSON = SHARED / "clips" / "one-by-one-person-detection.mp4"
SECONDS = 24.0  # the empty room (0-5 s), the first visitor (6-19 s), the room empty again (20-22 s), the second


# --- the rule, on made arrays --------------------------------------------------------------------

def test_an_entrance_is_someone_after_nobody_and_an_empty_bar_is_still():
    assert entered(0, 1) and entered(0, 3)
    assert not entered(None, 1) and not entered(1, 2) and not entered(2, 0) and not entered(0, 0)
    room = BarPeople(8, np.array([0, 0, 2, 1, 0, 0, 1, 3]))
    assert np.flatnonzero(room.entrances).tolist() == [2, 6]
    assert np.flatnonzero(room.empty).tolist() == [0, 1, 4, 5]
    assert room.motion(np.full(8, 0.7)).tolist() == pytest.approx([0, 0, 0.7, 0.7, 0, 0, 0.7, 0.7])
    assert room.hold_distance(1.0).tolist() == [CUT, CUT, 0, 1, CUT, CUT, 0, 1]
    assert room.hold_distance(5.0).tolist() == [5, 5, 0, 5, 5, 5, 0, 5]  # a --steady past the cut distance stays
    nobody = BarPeople(8)  # not counted: the rule changes nothing
    assert not nobody.entrances.any() and not nobody.empty.any()
    assert nobody.motion(np.full(8, 0.7)).tolist() == pytest.approx([0.7] * 8)
    assert nobody.hold_distance(1.0).tolist() == [1.0] * 8


def test_a_bar_counts_the_most_people_seen_in_it():
    timeline = Timeline(bpm=120, start=0.0, duration=8.0)  # 4 bars of 2 s
    step = 1 / PRESENCE_HZ
    times = np.arange(0, 5.0, step)  # counts stop at 5 s: the last bar takes the count on screen then
    counts = np.zeros(len(times), int)
    counts[(times >= 2.5) & (times < 3.0)] = 2  # a moment in bar 1
    counts[times >= 4.4] = 1  # the last count or two before they stop
    room = BarPeople.of(timeline, Counts(times, counts))
    assert room.people.tolist() == [0, 2, 1, 1]
    assert np.flatnonzero(room.entrances).tolist() == [1]
    assert BarPeople.of(timeline, None).people is None


def test_holding_follows_each_bars_own_distance():
    codes = np.array([[0.0], [2.0], [2.5], [0.5], [0.6]], np.float32)
    held = hold_steady(codes, np.array([1.0, CUT, CUT, 0.0, 1.0]))[:, 0]
    assert held.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.5, 0.5])  # empty bars held, an entrance its own
    assert np.array_equal(hold_steady(codes, 1.0), hold_steady(codes, np.ones(5)))
    with pytest.raises(ValueError):
        hold_steady(codes, np.array([1.0, -1.0, 1.0, 1.0, 1.0]))


def test_conduct_decides_a_cut_bar_anew(models):
    """Made looks: A three bars, B two, A again, held on. Bar 5 comes back to A (a theme) and bar 6
    holds it; given as cuts (someone came in), each starts a phrase, neither is a theme nor held."""
    music = models.music
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(music.latent_dim), rng.standard_normal(music.latent_dim) * 2
    looks = np.stack([a, a, a, b, b, a, a, a]).astype(np.float32)
    how = Conducting(development=False)
    plain = conduct(music, looks, looks, np.zeros(8), how)
    assert plain.theme_of[5] == 0 and plain.held[6] and plain.phrase_start[6] != 6
    cuts = np.zeros(8, bool)
    cuts[[5, 6]] = True
    anew = conduct(music, looks, looks, np.zeros(8), how, cuts=cuts)
    assert anew.theme_of[5] == -1 and anew.theme_of[6] == -1
    assert not anew.held[5] and not anew.held[6] and anew.held[7]
    assert anew.phrase_start.tolist() == plain.phrase_start[:5].tolist() + [5, 6, 6]
    assert np.array_equal(anew.bars[:5], plain.bars[:5])  # before the first entrance nothing changes
    with pytest.raises(ValueError):
        conduct(music, looks, looks, np.zeros(8), how, cuts=np.zeros(3, bool))


# --- a real render ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def room_clip(tmp_path_factory) -> Path:
    """The first SECONDS of the person-detection clip, at its own size and rate (10 fps)."""
    if not PERSON.exists():
        pytest.skip(f"{PERSON} is not here (the shared clips sit beside the checkout)")
    frames = (f for _, f in itertools.takewhile(lambda p: p[0] < SECONDS - 1e-6, iter_frames(PERSON)))
    return write_clip(tmp_path_factory.mktemp("room") / "room.mp4", frames, 10.0, options={"preset": "veryfast"})


@pytest.fixture(scope="module")
def rendered(room_clip, models, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    return render_clip(room_clip, out / "room.scored.mp4", RenderOptions(presence=True, report=out / "room.png"),
                       models=models)


def legend(figure) -> list[str]:
    import matplotlib.pyplot as plt

    labels = [text.get_text() for ax in figure.axes if ax.get_legend() for text in ax.get_legend().get_texts()]
    plt.close(figure)
    return labels


def test_people_entering_start_phrases_and_the_empty_room_is_quiet(rendered):
    score = rendered.score
    people, conducted = score.people, score.conducted
    assert people is not None and people.shape == (score.timeline.n_bars,) == (12,)
    assert people[:3].tolist() == [0, 0, 0]  # the empty room, 0-6 s
    assert (people[3:10] >= 1).all(), people  # the first visitor, 6-19 s
    entrances = np.flatnonzero(score.entrances)
    assert 3 in entrances, people
    for k in entrances:  # decided anew, as after a cut
        assert conducted.phrase_start[k] == k and not conducted.held[k] and conducted.theme_of[k] == -1
    empty = people == 0
    assert (conducted.velocities[empty] == VELOCITY[0]).all() and (score.motion[empty] == 0).all()
    assert conducted.held[1:3].all()  # the empty room keeps its music (it grows its phrase)
    labels = legend(report_figure(score))
    assert any(label.startswith("people") for label in labels) and any("enters" in label for label in labels)
    assert (rendered.written[-1].suffix, rendered.written[-1].stat().st_size > 20_000) == (".png", True)
    said = people_heard(score)
    assert f"{len(entrances)} entrance" in said and "6.0" in said


def test_without_presence_the_same_render_counts_nobody(rendered, room_clip, models):
    plain = score_with_options(room_clip, models, RenderOptions())
    assert plain.people is None and not plain.entrances.any() and people_heard(plain) == ""
    assert not any(label.startswith("people") for label in legend(report_figure(plain)))
    assert plain.timeline.n_bars == rendered.score.timeline.n_bars


def test_presence_is_an_option_of_render_and_batch_and_fails_in_one_line(capsys, room_clip, tmp_path, monkeypatch):
    parser = build_parser()
    assert scoring_options(parser.parse_args(["render", "c.mp4", "--presence"])).presence
    assert scoring_options(parser.parse_args(["batch", "c.mp4", "-o", "out", "--presence"])).presence
    assert not scoring_options(parser.parse_args(["render", "c.mp4"])).presence
    for command in ("render", "batch"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "someone comes into a room seen empty" in " ".join(capsys.readouterr().out.split())
    RenderOptions(presence=True).check()
    monkeypatch.delattr(cv2, "HOGDescriptor")  # an OpenCV without the people detector
    RenderOptions().check()  # nothing asked of it without --presence
    with pytest.raises(ScoreAVError, match="HOG"):
        RenderOptions(presence=True).check()
    assert "HOG" in one_line_error(capsys, "render", room_clip, "-o", tmp_path / "x.mp4", "--presence")
    assert list(tmp_path.iterdir()) == []
