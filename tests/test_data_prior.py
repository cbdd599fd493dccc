"""The data prior (music_vae/data_prior.py): a mixture fitted to real codes, and the map into it."""
import tracemalloc

import numpy as np
import pytest

from music_vae.data_prior import DataPrior, fit_data_prior, prior_path, read_data_prior
from music_vae.errors import MusicInputError


def known_mixture() -> DataPrior:
    """Three components in 2-d, one of them stretched and tilted."""
    chols = np.array([np.eye(2) * 0.3, np.linalg.cholesky([[1.0, 0.6], [0.6, 0.5]]), np.eye(2) * 0.1])
    return DataPrior([0.5, 0.3, 0.2], [[0, 0], [4, 1], [-3, 2]], chols, ["a", "a", "b"])


def test_its_samples_and_the_codes_placed_in_it_lie_where_the_mixture_does():
    prior = known_mixture()
    mean, std = prior.moments()
    drawn = prior.sample(20000, seed=0)
    assert np.allclose(drawn.mean(0), mean, atol=0.05) and np.allclose(drawn.std(0), std, rtol=0.03)
    z = np.random.default_rng(0).standard_normal((20000, 2))
    codes, k = prior.place(z), prior.component_of(z)
    overall_mean, overall_chol = prior.overall()
    by_moments = overall_mean + z @ overall_chol.T  # what placing by the mixture's mean and covariance gives
    likely = prior.log_likelihood(codes).mean()
    assert likely > prior.log_likelihood(drawn).mean() - 1.0 and likely > prior.log_likelihood(by_moments).mean() + 10
    assert set(np.unique(k)) == {0, 1, 2}  # every component has its cell
    second = codes[k == 1] - prior.means[1]  # within a cell, coloured by the component's own factor
    assert np.allclose(second, (z[k == 1] - np.linalg.solve(overall_chol, prior.means[1] - overall_mean))
                       @ prior.chols[1].T, atol=1e-4)


def test_near_codes_land_near_and_only_a_change_of_component_jumps():
    prior = known_mixture()
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5000, 2))
    near = z + 0.01 * rng.standard_normal(z.shape)
    moved = np.linalg.norm(prior.place(near) - prior.place(z), axis=1)
    same = prior.component_of(z) == prior.component_of(near)
    assert same.mean() > 0.98
    assert moved[same].max() < 0.05 and moved[~same].min() > 0.5
    far = prior.place(-z)  # other pictures: other music
    assert np.median(np.linalg.norm(far - prior.place(z), axis=1)) > 1.0


def test_validation_picks_as_many_components_as_each_style_has_clusters():
    rng = np.random.default_rng(2)

    def draw(n):
        two = np.concatenate([rng.normal(-4, 0.5, (n, 3)), rng.normal(4, 0.5, (n, 3))])
        one = rng.normal(0, 1.0, (n, 3))
        return np.concatenate([two, one]), np.array(["two"] * 2 * n + ["one"] * n)

    (codes, styles), (valid, valid_styles) = draw(400), draw(100)
    prior, report = fit_data_prior(codes, styles, valid, valid_styles, candidates=(1, 2, 4))
    assert report["two"]["components"] >= 2 and report["one"]["components"] == 1
    assert prior.restricted("two").weights.sum() == pytest.approx(1.0)
    assert np.isclose(prior.weights[prior.styles == "two"].sum(), 2 / 3)  # styles weigh as their codes
    assert prior.log_likelihood(valid).mean() > DataPrior([1], [codes.mean(0)], [np.diag(codes.std(0))], ["x"]) \
        .log_likelihood(valid).mean() + 1.0
    with pytest.raises(MusicInputError, match="unknown style"):
        prior.restricted("three")


def test_too_few_codes_is_a_clear_error():
    with pytest.raises(MusicInputError, match="too few"):
        fit_data_prior(np.zeros((3, 8)), np.array(["a"] * 3), np.zeros((1, 8)), np.array(["a"]))


def test_codes_are_pulled_towards_the_real_codes_of_their_component():
    rng = np.random.default_rng(4)
    angle = rng.uniform(0, 2 * np.pi, 600)  # real codes on a ring, which two Gaussians fill like discs
    real = 3 * np.c_[np.cos(angle), np.sin(angle)] + rng.normal(0, 0.05, (600, 2))
    prior, _ = fit_data_prior(real, np.array(["a"] * 600), real, np.array(["a"] * 600), candidates=(2,),
                              anchors_share=0.5)
    assert len(prior.anchors) == 300 and set(np.unique(prior.anchor_of)) == {0, 1}
    without = DataPrior(prior.weights, prior.means, prior.chols, prior.styles)  # the same mixture, no anchors
    z = rng.standard_normal((2000, 2))
    gap = lambda codes: np.min(np.linalg.norm(codes[:, None] - real[None], axis=2), axis=1).mean()  # noqa: E731
    assert gap(prior.place(z)) < 0.5 * gap(without.place(z))
    moved = np.linalg.norm(prior.place(z + 1e-3) - prior.place(z), axis=1)
    assert np.median(moved) < 1e-3  # near codes mostly share their anchor


def test_an_hour_of_bars_is_pulled_to_the_nearest_anchor_in_little_memory():
    rng = np.random.default_rng(6)
    d, n = 32, 2000  # an hour of bars at 120 bpm is 1800
    chol = np.linalg.cholesky(np.cov(rng.standard_normal((200, d)).T) + np.eye(d))
    anchors = rng.standard_normal((600, d))
    prior = DataPrior([1.0], np.zeros((1, d)), chol[None], ["a"], anchors, np.zeros(600, int))
    codes = rng.standard_normal((n, d)).astype(np.float32)
    tracemalloc.start()
    pulled = prior.pull(codes, np.zeros(n, int))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40e6  # an (n, anchors, d) array of differences would be 307 MB
    white = lambda x: np.linalg.solve(chol, np.asarray(x, np.float64).T).T  # noqa: E731
    nearest = anchors[np.argmin(((white(codes)[:, None] - white(anchors)[None]) ** 2).sum(2), axis=1)]
    assert np.allclose(pulled, nearest + 0.3 * (codes - nearest), atol=1e-5)


def test_it_is_kept_beside_the_checkpoint_and_read_back_the_same(tmp_path):
    prior, checkpoint = known_mixture(), tmp_path / "m.pt"
    prior = DataPrior(prior.weights, prior.means, prior.chols, prior.styles, prior.sample(40, seed=5),
                      np.arange(40) % 3)
    assert read_data_prior(checkpoint) is None
    prior.save(prior_path(checkpoint))
    again = read_data_prior(checkpoint)
    z = np.random.default_rng(3).standard_normal((50, 2))
    assert np.allclose(again.place(z), prior.place(z), atol=1e-2) and list(again.styles) == ["a", "a", "b"]
    assert np.array_equal(again.restricted("b").anchor_of, np.zeros(13))  # anchors follow their components
