"""Curriculum learning (Bengio et al. 2009; Zaremba & Sutskever 2014): levels, stages, and the
examples of an epoch under each strategy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.train import Curriculum, fit


def test_levels_are_quantile_bins_of_the_difficulty():
    rng = np.random.default_rng(0)
    scores = rng.permutation(100).astype(float)
    cur = Curriculum(scores, stages=4)
    for level in range(1, 5):
        members = scores[cur.levels == level]
        assert len(members) == 25
        assert members.min() == 25 * (level - 1) and members.max() == 25 * level - 1


def test_equal_scores_share_a_level():
    cur = Curriculum([3.0] * 10, stages=5)
    assert (cur.levels == 1).all()
    cur = Curriculum([1, 1, 1, 1, 2, 2, 2, 2, 3, 3], stages=2)
    # the median, 2, is the edge: a score on an edge stays in the lower level, and no score is split
    assert cur.levels.tolist() == [1] * 8 + [2] * 2


@pytest.mark.parametrize("epochs, stages, expected", [
    (10, 5, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
    (7, 3, [1, 1, 1, 2, 2, 3, 3]),
    (3, 5, [1, 2, 4]),
    (4, 1, [1, 1, 1, 1]),
])
def test_stages_split_the_epochs_evenly(epochs, stages, expected):
    cur = Curriculum(np.arange(10.0), stages=stages)
    assert [cur.stage(e, epochs) for e in range(epochs)] == expected
    assert expected == [min(stages, 1 + e * stages // epochs) for e in range(epochs)]


def _scores(n=1000, seed=0):
    # integer scores: plenty of ties
    return np.random.default_rng(seed).integers(0, 50, size=n).astype(float)


def test_naive_stage_one_is_level_one_sorted_by_difficulty():
    scores = _scores()
    cur = Curriculum(scores, strategy="naive", stages=5)
    order = cur.order(0, 10, len(scores), np.random.default_rng(1))
    level_one = np.flatnonzero(cur.levels == 1)
    assert sorted(order.tolist()) == level_one.tolist()  # exactly the level-1 examples, once each
    assert (np.diff(scores[order]) >= 0).all()          # easiest first
    # ties come in random order
    other = cur.order(0, 10, len(scores), np.random.default_rng(2))
    assert (scores[other] == scores[order]).all() and not (other == order).all()


def test_naive_pool_grows_with_the_stages():
    scores = _scores()
    cur = Curriculum(scores, strategy="naive", stages=5)
    rng = np.random.default_rng(0)
    for e in range(10):
        s = cur.stage(e, 10)
        order = cur.order(e, 10, len(scores), rng)
        assert sorted(order.tolist()) == np.flatnonzero(cur.levels <= s).tolist()
        assert (np.diff(scores[order]) >= 0).all()
    assert len(order) == len(scores)  # the last stage is the whole data set


def test_mixed_draws_levels_uniformly_from_those_reached():
    scores = np.arange(1000.0)
    cur = Curriculum(scores, strategy="mixed", stages=5)
    n = 1000
    counts = np.zeros((6,), int)
    rng = np.random.default_rng(0)
    for _ in range(6):  # 6000 draws at stage 3
        order = cur.order(4, 10, n, rng)
        assert len(order) == n
        counts += np.bincount(cur.levels[order], minlength=6)
    assert counts[4:].sum() == 0 and counts[0] == 0
    # uniform over levels 1..3: 2000 each, binomial sd ~ 36.5
    assert np.abs(counts[1:4] - 2000).max() < 5 * 36.5
    # and the examples within a level uniformly: a chi-square-free check, all of them appear
    assert len(np.unique(order[cur.levels[order] == 1])) > 150


def test_mixed_skips_empty_levels():
    scores = np.array([0.0] * 80 + [1.0] * 20)  # quantile edges all at 0: levels 1 and 5 only
    cur = Curriculum(scores, strategy="mixed", stages=5)
    assert set(cur.levels.tolist()) == {1, 5}
    order = cur.order(9, 10, 100, np.random.default_rng(0))
    assert set(cur.levels[order].tolist()) == {1, 5}


def test_combined_is_half_naive_pool_half_uniform_over_all_levels():
    scores = np.arange(1000.0)
    cur = Curriculum(scores, strategy="combined", stages=5)
    n = 1000
    rng = np.random.default_rng(0)
    counts = np.zeros(6, int)
    for _ in range(10):  # stage 1: the naive pool is level 1
        order = cur.order(0, 10, n, rng)
        assert len(order) == n
        counts += np.bincount(cur.levels[order], minlength=6)
    # level 1: the naive half (5000) + a fifth of the mixed half (1000); the other levels 1000 each
    assert abs(counts[1] - 6000) < 5 * np.sqrt(5000 * 0.2 * 0.8)
    for level in range(2, 6):
        assert abs(counts[level] - 1000) < 5 * np.sqrt(5000 * 0.2 * 0.8)
    # not sorted: the two halves are interleaved at random
    assert not (np.diff(scores[order]) >= 0).all()


def test_combined_at_stage_s_has_the_naive_half_from_levels_up_to_s():
    scores = np.arange(1000.0)
    cur = Curriculum(scores, strategy="combined", stages=4)
    rng = np.random.default_rng(3)
    counts = np.zeros(5, int)
    for _ in range(10):
        counts += np.bincount(cur.levels[cur.order(4, 8, 1000, rng)], minlength=5)  # stage 3
    # levels 1..3: 5000/3 naive + 5000/4 mixed each; level 4: 5000/4 mixed only
    for level, expected in ((1, 5000 / 3 + 1250), (2, 5000 / 3 + 1250), (3, 5000 / 3 + 1250), (4, 1250)):
        assert abs(counts[level] - expected) < 200


def test_orders_are_reproducible_from_the_generator():
    cur = Curriculum(_scores(), strategy="mixed")
    a = cur.order(3, 10, 1000, np.random.default_rng(5))
    b = cur.order(3, 10, 1000, np.random.default_rng(5))
    assert (a == b).all()


def test_fit_trains_on_the_curriculums_orders():
    n, epochs = 30, 4
    X, y = torch.randn(n, 2), torch.randn(n, 1)
    scores = np.random.default_rng(0).random(n)
    seen = {}

    class Record(sgdlab.train.Callback):
        def on_batch_end(self, ctx, loss):
            seen.setdefault(ctx.epoch, []).extend(ctx.batch_indices.tolist())

    for strategy in ("naive", "mixed", "combined"):
        seen.clear()
        h = fit(torch.nn.Linear(2, 1), F.mse_loss, (X, y), optimizer="sgd", epochs=epochs, batch_size=4,
                curriculum=Curriculum(scores, strategy=strategy, stages=2), callbacks=[Record()],
                seed=9, progress=False)
        rng = np.random.default_rng(9)  # fit's documented generator
        expected = [Curriculum(scores, strategy=strategy, stages=2).order(e, epochs, n, rng).tolist()
                    for e in range(epochs)]
        assert [seen[e + 1] for e in range(epochs)] == expected
        assert h.updates == [-(-len(o) // 4) for o in expected]
    assert h.updates[0] == 8  # combined keeps n examples an epoch; naive stage 1 had half


def test_difficulty_callable_is_called_once_with_the_training_data():
    X, y = torch.randn(20, 2), torch.randn(20, 1)
    calls = []

    def difficulty(X_, y_):
        calls.append((X_, y_))
        return y_.abs().squeeze(1)

    cur = Curriculum(difficulty, stages=2)
    fit(torch.nn.Linear(2, 1), F.mse_loss, (X, y), optimizer="sgd", epochs=3, curriculum=cur,
        progress=False)
    assert len(calls) == 1 and calls[0][0] is X and calls[0][1] is y
    assert np.allclose(cur.scores, y.abs().squeeze(1).numpy())


def test_difficulty_callable_gets_a_dataset():
    ds = torch.utils.data.TensorDataset(torch.randn(12, 2), torch.randn(12, 1))
    got = []

    def difficulty(dataset):
        got.append(dataset)
        return np.arange(len(dataset))

    fit(torch.nn.Linear(2, 1), F.mse_loss, ds, optimizer="sgd", epochs=2,
        curriculum=Curriculum(difficulty, stages=3), progress=False)
    assert got == [ds]


def test_order_before_the_scores_are_known():
    with pytest.raises(RuntimeError, match="call bind"):
        Curriculum(lambda X, y: np.zeros(len(X))).order(0, 2, 4, np.random.default_rng())


@pytest.mark.parametrize("difficulty, match", [
    (np.zeros((3, 2)), "expected a 1-D array"),
    ([], "expected a 1-D array"),
    ([1.0, float("nan")], "1 scores are not finite"),
])
def test_difficulty_scores_of_a_wrong_shape_or_not_finite_are_refused(difficulty, match):
    with pytest.raises(ValueError, match=match):
        Curriculum(difficulty)


def test_difficulty_scores_that_are_not_numbers_are_a_type_error():
    with pytest.raises(TypeError, match="expected a callable, or one number per example"):
        Curriculum(["a", "b"])


def test_stages_below_one_are_refused():
    with pytest.raises(ValueError, match=r"Invalid stages: 0 \(expected an int >= 1\)"):
        Curriculum(np.arange(4.0), stages=0)


@pytest.mark.parametrize("stages", [2.5, True, "3"])
def test_stages_that_are_not_ints_are_a_type_error(stages):
    with pytest.raises(TypeError, match=f"Invalid stages: {stages!r} of type"):
        Curriculum(np.arange(4.0), stages=stages)


def test_stage_of_an_epoch_past_the_last_is_refused():
    cur = Curriculum(np.arange(4.0))
    with pytest.raises(ValueError, match=r"Invalid epoch: 5 \(expected an int in \[0, 4\]\)"):
        cur.stage(5, 5)
