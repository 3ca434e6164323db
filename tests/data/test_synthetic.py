"""sgdlab.data's synthetic problems: sparse power-law classification, low-rank ratings, sizes."""

import re

import numpy as np
import pytest
import scipy.sparse as sp

from sgdlab.data import SIZE_PRESETS, low_rank_ratings, parse_size, sparse_classification
from sgdlab.data import synthetic


def test_shape_nnz_per_row_and_values():
    X, y = sparse_classification(3000, 800, 25, seed=3)
    assert isinstance(X, sp.csr_matrix) and X.shape == (3000, 800) and X.dtype == np.float64
    assert X.indices.dtype == np.int32
    np.testing.assert_array_equal(np.diff(X.indptr), 25)
    rows = X.indices.reshape(3000, 25)
    assert (np.diff(rows, axis=1) > 0).all()  # distinct features, sorted
    assert (X.data > 0).all()
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A.ravel(), 1.0, rtol=1e-12)
    assert y.dtype == np.float64 and set(np.unique(y)) == {-1.0, 1.0}
    X32, _ = sparse_classification(100, 50, 5, dtype=np.float32)
    assert X32.dtype == np.float32


def test_same_seed_same_data_different_seed_different_data():
    X1, y1 = sparse_classification(2000, 500, 10, seed=7)
    X2, y2 = sparse_classification(2000, 500, 10, seed=7)
    X3, y3 = sparse_classification(2000, 500, 10, seed=8)
    np.testing.assert_array_equal(X1.indices, X2.indices)
    np.testing.assert_array_equal(X1.data, X2.data)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1.indices, X3.indices)
    assert not np.array_equal(y1, y3)


@pytest.mark.parametrize("power", [1.1, 1.5])
def test_feature_frequencies_follow_the_power_law(power):
    n, d, k = 50_000, 5_000, 20
    X, _ = sparse_classification(n, d, k, power=power, seed=0)
    counts = np.bincount(X.indices, minlength=d)
    ranks = np.arange(1, d + 1)
    # The head is saturated: a feature can be in a row once, and the first few are in nearly every
    # row, so the law shows in the rows-per-feature counts below that. Fit where a feature is in at
    # most 5% of the rows (there the fraction of rows holding j is ~ 1 - exp(-c p_j), concave in
    # p_j: it flattens the slope by ~0.03 at most, measured 0.02-0.03) and at least 100 (Poisson
    # noise <= 10% per count; over the ~400-900 ranks fitted it moves the slope by < 0.01).
    fit = (counts >= 100) & (counts <= 0.05 * n)
    assert fit.sum() > 300
    slope = np.polyfit(np.log(ranks[fit]), np.log(counts[fit]), 1)[0]
    assert abs(slope + power) < 0.06, slope
    # and the head: the most frequent features are the first ones, in nearly every row
    assert counts[0] > 0.9 * n and counts[:10].min() > counts[100:].max()


@pytest.mark.parametrize("n", [1000, 1001])
def test_labels_balanced(n):
    _, y = sparse_classification(n, 300, 5, seed=1)
    assert (y > 0).sum() == n // 2 and (y < 0).sum() == n - n // 2
    # with no label noise and sparse w* many scores tie: still balanced (ties broken at random)
    _, y = sparse_classification(n, 300, 1, noise=0.0, informative=0.05, seed=1)
    assert (y > 0).sum() == n // 2


def test_linear_classifier_learns_it():
    from sklearn.linear_model import LogisticRegression

    X, y = sparse_classification(10_000, 1_000, 20, seed=0)
    clf = LogisticRegression(C=10.0, max_iter=1000).fit(X[:7500], y[:7500])
    accuracy = clf.score(X[7500:], y[7500:])
    assert accuracy > 0.8, accuracy  # measured 0.91 over seeds 0-2; chance is 0.5


def test_rows_finished_by_gumbel_top_k_are_distinct(monkeypatch):
    monkeypatch.setattr(synthetic, "_MAX_ROUNDS", 0)  # every row with a repeat goes the exact fallback
    X, _ = sparse_classification(500, 60, 50, power=3.0, seed=0)
    rows = X.indices.reshape(500, 50)
    assert (np.diff(rows, axis=1) > 0).all()
    X, _ = sparse_classification(300, 40, 40, power=2.0, seed=0)  # every feature in every row
    np.testing.assert_array_equal(X.indices.reshape(300, 40), np.tile(np.arange(40), (300, 1)))


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_samples=0, n_features=10, nnz_per_row=2), "n_samples"),
    (dict(n_samples=10, n_features=10, nnz_per_row=11), "nnz_per_row"),
    (dict(n_samples=10, n_features=10, nnz_per_row=2, power=-1), "power"),
    (dict(n_samples=10, n_features=10, nnz_per_row=2, noise=-0.1), "noise"),
    (dict(n_samples=10, n_features=10, nnz_per_row=2, informative=0.0), "informative"),
    (dict(n_samples=10, n_features=10, nnz_per_row=2, dtype=np.int64), "dtype"),
])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"^Invalid {name}: "):
        sparse_classification(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_samples="10"), TypeError, "Invalid n_samples: '10' of type str (expected an int >= 1)"),
    (dict(n_samples=10.0), TypeError, "Invalid n_samples: 10.0 of type float (expected an int >= 1)"),
    (dict(power=float("nan")), ValueError, "Invalid power: nan (expected a finite number >= 0)"),
    (dict(noise=float("inf")), ValueError, "Invalid noise: inf (expected a finite number >= 0)"),
    (dict(seed="0"), TypeError, "Invalid seed: '0' of type str (expected an int >= 0 or None)"),
    (dict(dtype=3), TypeError, "Invalid dtype: 3 of type int (expected float32 or float64)"),
    (dict(dtype="floaty"), ValueError, "Invalid dtype: 'floaty' (expected float32 or float64)"),
])
def test_arguments_of_the_wrong_type_or_not_finite_are_refused_in_the_grammar(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        sparse_classification(**{"n_samples": 10, "n_features": 10, "nnz_per_row": 2, **kwargs})


def test_numpy_numbers_are_taken_as_python_numbers():
    X, y = sparse_classification(np.int64(100), np.int32(50), np.uint8(5), power=np.float32(1.5), seed=np.int64(2))
    X2, y2 = sparse_classification(100, 50, 5, power=1.5, seed=2)
    np.testing.assert_array_equal(X.toarray(), X2.toarray())
    np.testing.assert_array_equal(y, y2)


def test_parse_size():
    assert parse_size("100000x20000x50") == (100_000, 20_000, 50)
    assert parse_size(" 1_000 X 200 x 5 ") == (1000, 200, 5)
    assert parse_size("1Mx100kx50") == SIZE_PRESETS["rcv1"] == (1_000_000, 100_000, 50)
    assert parse_size("tiny") == (2_000, 1_000, 20) and parse_size("SMALL") == (100_000, 20_000, 50)
    for bad in ["huge", "100x20", "ax2x3", "10x20x5x1", ""]:
        with pytest.raises(ValueError, match=rf"^Invalid size: '{bad}' \(expected a preset "
                                             r"\(tiny = 2000x1000x20.* or NxDxK"):
            parse_size(bad)
    with pytest.raises(ValueError, match="at most the 20 features as non-zeros per row, not 50"):
        parse_size("100x20x50")
    with pytest.raises(ValueError, match=">= 1"):
        parse_size("0x20x5")
    with pytest.raises(TypeError, match="Invalid size: 100 of type int"):
        parse_size(100)


def test_low_rank_ratings():
    train, test = low_rank_ratings(300, 200, 5, density=0.1, noise=0.1, seed=0)
    assert isinstance(train, sp.coo_matrix) and train.shape == test.shape == (300, 200)
    assert train.nnz + test.nnz == 6000 and test.nnz == 1200
    seen = set(zip(train.row.tolist(), train.col.tolist()))
    assert len(seen) == train.nnz and not seen & set(zip(test.row.tolist(), test.col.tolist()))
    # the true ratings have unit variance, the noise adds 0.1^2
    assert 0.85 < np.var(np.concatenate([train.data, test.data])) < 1.15
    again, _ = low_rank_ratings(300, 200, 5, density=0.1, noise=0.1, seed=0)
    np.testing.assert_array_equal(train.data, again.data)
    other, _ = low_rank_ratings(300, 200, 5, density=0.1, noise=0.1, seed=1)
    assert not np.array_equal(train.data, other.data)
    with pytest.raises(ValueError, match=re.escape("Invalid density: 0.0 (expected a number in (0, 1])")):
        low_rank_ratings(10, 10, 2, density=0.0)
    with pytest.raises(ValueError, match=re.escape("Invalid rank: 0 (expected an int >= 1)")):
        low_rank_ratings(10, 10, 0)
