"""Synthetic data sets, reproducible by seed, of any size.

* :func:`sparse_classification`: sparse binary classification whose feature frequencies follow a
  power law (a few frequent features, a long tail of rare ones), shaped like RCV1: the case the
  survey makes for Adagrad, and the data Hogwild! was measured on.
* :func:`low_rank_ratings`: a matrix-completion problem (Netflix-style) from a hidden low-rank
  model, split into training and test entries.
* :func:`parse_size`: ``"100000x20000x50"`` or a preset name -> ``(n_samples, n_features, nnz)``.

>>> from sgdlab.data import sparse_classification, parse_size
>>> X, y = sparse_classification(*parse_size("tiny"), seed=0)
>>> X.shape, X.nnz, sorted(set(y.tolist()))
((2000, 1000), 40000, [-1.0, 1.0])
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse

from .._validation import Instance, Int, Real, argument_error, check, validate

__all__ = ["SIZE_PRESETS", "low_rank_ratings", "parse_size", "sparse_classification"]

SIZE_PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (2_000, 1_000, 20),
    "small": (100_000, 20_000, 50),
    "rcv1": (1_000_000, 100_000, 50),  # RCV1's shape: ~800k documents, ~47k words, ~75 words each
}

# rows generated at a time: bounds the temporary memory (~100 bytes per non-zero) of large sets
_CHUNK_ROWS = 1 << 16
# redraw rounds before the rows still holding a repeat are completed by Gumbel-top-k
_MAX_ROUNDS = 40

_PART = r"\s*([0-9][0-9_,]*[kKmM]?)\s*"
_SIZE = re.compile(_PART + "[xX*]" + _PART + "[xX*]" + _PART)
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_size(size: str) -> tuple[int, int, int]:
    """``"NxDxK"`` or a preset name -> ``(n_samples, n_features, nnz_per_row)``.

    N, D and K are positive integers, with optional ``_`` or ``,`` separators and a ``k``
    (thousand) or ``M`` (million) suffix; K may not exceed D. Presets: ``tiny`` (2000x1000x20),
    ``small`` (100000x20000x50), ``rcv1`` (1000000x100000x50, RCV1's shape).

    >>> parse_size("100000x20000x50"), parse_size("1Mx100kx50") == parse_size("rcv1")
    ((100000, 20000, 50), True)
    >>> parse_size("huge")
    Traceback (most recent call last):
    ...
    sgdlab._validation.ArgumentValueError: Invalid size: 'huge' (expected a preset (tiny = 2000x1000x20,
    small = 100000x20000x50, rcv1 = 1000000x100000x50) or NxDxK: examples x features x non-zeros per row,
    e.g. 100000x20000x50)
    """
    text = check("size", size, Instance(str, what="a preset name or NxDxK"))
    key = text.strip().lower()
    if key in SIZE_PRESETS:
        return SIZE_PRESETS[key]
    presets = ", ".join(f"{name} = {'x'.join(map(str, s))}" for name, s in SIZE_PRESETS.items())
    match = _SIZE.fullmatch(text)
    if match is None:
        raise argument_error("size", text, f"a preset ({presets}) or NxDxK: examples x features x "
                             "non-zeros per row, e.g. 100000x20000x50")
    n, d, k = (_count(part) for part in match.groups())
    if min(n, d, k) < 1:
        raise argument_error("size", text, "every part >= 1")
    if k > d:
        raise argument_error("size", text, f"at most the {d} features as non-zeros per row, not {k}")
    return n, d, k


def _count(part: str) -> int:
    part = part.replace("_", "").replace(",", "")
    suffix = part[-1].lower() if part[-1].isalpha() else ""
    return int(part[: len(part) - len(suffix)]) * _SUFFIX[suffix]


def feature_probabilities(n_features: int, power: float) -> np.ndarray:
    """The sampling probabilities p_j proportional to 1 / (j + 1)^power, j = 0 .. n_features - 1."""
    p = np.arange(1, n_features + 1, dtype=np.float64) ** -float(power)
    return p / p.sum()


@validate(n_samples=Int(1), n_features=Int(1), nnz_per_row=Int(1), power=Real(0), noise=Real(0),
          informative=Real(0, 1, closed="right"), seed=(Int(0), None))
def sparse_classification(n_samples: int, n_features: int, nnz_per_row: int = 50, *,
                          power: float = 1.1, noise: float = 0.05, informative: float = 0.3,
                          seed: int | None = 0, dtype=np.float64
                          ) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Sparse binary classification with power-law feature frequencies, like RCV1.

    Each row holds exactly ``nnz_per_row`` distinct features (its ``indices`` sorted). They are
    drawn from p_j proportional to 1 / (j + 1)^power (Zipf-like: feature 0 is the most frequent),
    one after another *without replacement*: equivalently, i.i.d. draws in which a feature the row
    already has is drawn again (successive sampling). It is vectorized: all rows draw at once by
    inverse-CDF sampling (``searchsorted`` on the cumulative p), then only the slots holding a
    repeated feature are redrawn, round after round, until no row has a repeat (~20 rounds of
    shrinking work; the 1M x 100k x 50 preset takes ~10 s and ~1 GB). Rows still short after
    ``_MAX_ROUNDS`` rounds (only when nnz_per_row is close to n_features under a steep law) are
    completed exactly by Gumbel-top-k over the features they lack.

    Consequence for the frequencies: a feature whose p_j would give it more than about one draw
    per row (p_j * nnz_per_row >~ 1) is in nearly every row, like a stop word; below that the
    fraction of rows holding feature j is proportional to p_j, so the frequency-vs-rank histogram
    is a straight line of slope -power on log-log axes over the tail.

    Values are tf-idf-like, positive: (1 + log tf) * idf_j with tf a geometric count (1, 2, ...:
    P(tf = t) = 2^-t) and idf_j = log(1 + 1 / (nnz_per_row * p_j)) (frequent features weigh
    little, rare ones much), each row scaled to unit L2 norm (as RCV1's vectors are).

    Labels: a hidden weight vector w* has N(0, 1) weights on a random ``informative`` fraction of
    the features, zero elsewhere; the score is s = X w* + noise * std(X w*) * N(0, 1) and y = +1
    for the half of the rows with the highest scores, -1 for the other half (centering by the
    median score, ties broken at random): the classes are exactly balanced (n_samples // 2
    positives). The noise puts about arctan(noise) / pi of the labels (1.6% at 0.05) on the other
    side of X w*'s median. Rare features carry large values and weights, so learning needs data:
    logistic regression (C=10) fit on 7,500 rows of a 10000x1000x20 set scores ~0.91 on the other
    2,500, on the ``small`` preset (5 rows per feature) ~0.86, on ``tiny`` ~0.8.

    Args:
        n_samples, n_features, nnz_per_row: the shape; 1 <= nnz_per_row <= n_features. See
            :func:`parse_size` for the presets (``tiny``, ``small``, ``rcv1``).
        power: the exponent of the power law (>= 0; 0 draws features uniformly).
        noise: the label noise, as a fraction of the score's standard deviation (>= 0).
        informative: the fraction of features with a non-zero weight in w*, in (0, 1].
        seed: seed of everything (``numpy.random.default_rng``); the same seed gives the same data
            on the same NumPy version.
        dtype: dtype of X's values (float64 or float32); indices are int32.

    Returns:
        ``(X, y)``: X a ``scipy.sparse.csr_matrix`` (n_samples, n_features), y a float64 array of
        -1.0 and +1.0.

    >>> X, y = sparse_classification(1000, 500, 10, seed=1)
    >>> X.shape, X.nnz, round(float(X[0].power(2).sum()), 12), int((y > 0).sum())
    ((1000, 500), 10000, 1.0, 500)
    """
    n, d, k = n_samples, n_features, nnz_per_row
    if k > d:
        raise argument_error("nnz_per_row", k, f"at most n_features = {d}")
    check("dtype", dtype, Instance(type, np.dtype, str, what="float32 or float64"))
    try:
        kind = np.dtype(dtype)
    except TypeError:  # a name NumPy does not know
        kind = None
    if kind not in (np.float32, np.float64):
        raise argument_error("dtype", dtype, "float32 or float64")
    dtype = kind

    rng = np.random.default_rng(seed)
    p = feature_probabilities(d, power)
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    idf = np.log1p(1.0 / (k * p))
    indices = np.empty(n * k, dtype=np.int32)
    values = np.empty(n * k, dtype=dtype)
    for start in range(0, n, _CHUNK_ROWS):
        rows = min(n, start + _CHUNK_ROWS) - start
        cols = _distinct_draws(rng, cdf, rows, k)
        tf = rng.geometric(0.5, size=(rows, k))
        v = (1.0 + np.log(tf)) * idf[cols]
        v /= np.sqrt(np.einsum("ij,ij->i", v, v))[:, None]
        indices[start * k:(start + rows) * k] = cols.ravel()
        values[start * k:(start + rows) * k] = v.ravel()
    index_type = np.int64 if n * k > np.iinfo(np.int32).max else np.int32
    indptr = np.arange(0, n * k + 1, k, dtype=index_type)
    X = scipy.sparse.csr_matrix((values, indices, indptr), shape=(n, d))
    X.has_sorted_indices = True

    w = rng.standard_normal(d) * (rng.random(d) < informative)
    if not w.any():  # tiny n_features * informative: keep one informative feature
        w[rng.integers(d)] = rng.standard_normal()
    margin = X @ w
    score = margin + noise * margin.std() * rng.standard_normal(n)
    order = np.lexsort((rng.random(n), score))  # by score, ties in random order
    y = np.empty(n, dtype=np.float64)
    y[order[: n - n // 2]] = -1.0
    y[order[n - n // 2:]] = 1.0
    return X, y


def _distinct_draws(rng: np.random.Generator, cdf: np.ndarray, rows: int, k: int) -> np.ndarray:
    """(rows, k) int32 features, each row k distinct ones sorted, by successive sampling from cdf."""
    d = cdf.shape[0]
    cols = np.searchsorted(cdf, rng.random((rows, k)), side="right").astype(np.int32)
    np.minimum(cols, d - 1, out=cols)  # u within rounding of 1.0
    cols.sort(axis=1)
    todo = np.arange(rows)  # rows that may still hold a repeat
    sub = cols
    for _ in range(_MAX_ROUNDS):
        repeat = np.zeros(sub.shape, dtype=bool)
        np.equal(sub[:, 1:], sub[:, :-1], out=repeat[:, 1:])
        bad = repeat.any(axis=1)
        cols[todo[~bad]] = sub[~bad]
        todo, sub, repeat = todo[bad], sub[bad], repeat[bad]
        if not todo.size:
            return cols
        fresh = np.searchsorted(cdf, rng.random(int(repeat.sum())), side="right")
        sub[repeat] = np.minimum(fresh, d - 1)
        sub.sort(axis=1)
    # the rest: the repeated slots get the top keys of log p_j + Gumbel over the features the row
    # lacks (Plackett-Luce, which is successive sampling continued from the row's distinct features)
    log_p = np.log(np.diff(cdf, prepend=0.0) + 1e-300)
    step = max(1, (1 << 22) // d)
    for lo in range(0, todo.size, step):
        part = sub[lo:lo + step]
        repeat = np.zeros(part.shape, dtype=bool)
        np.equal(part[:, 1:], part[:, :-1], out=repeat[:, 1:])
        need = repeat.sum(axis=1)
        keys = log_p + rng.gumbel(size=(part.shape[0], d))
        np.put_along_axis(keys, part.astype(np.intp), -np.inf, axis=1)
        most = int(need.max())
        top = np.argpartition(-keys, most - 1, axis=1)[:, :most]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1), axis=1)
        part[repeat] = top[np.arange(most) < need[:, None]]
        part.sort(axis=1)
        cols[todo[lo:lo + step]] = part
    return cols


@validate(n_users=Int(1), n_items=Int(1), rank=Int(1), density=Real(0, 1, closed="right"), noise=Real(0),
          seed=(Int(0), None), test_fraction=Real(0, 1, closed="left"))
def low_rank_ratings(n_users: int, n_items: int, rank: int, density: float = 0.1, noise: float = 0.1,
                     seed: int | None = 0, *, test_fraction: float = 0.2
                     ) -> tuple[scipy.sparse.coo_matrix, scipy.sparse.coo_matrix]:
    """A matrix-completion problem from a hidden low-rank model: ``(train, test)`` COO matrices.

    Hidden factors U (n_users x rank) and V (n_items x rank) have i.i.d. normal entries of
    variance 1/sqrt(rank), so the true ratings M = U V^T have unit variance whatever the rank. A uniformly random
    set of round(density * n_users * n_items) distinct entries is observed, each as M_ui + noise *
    N(0, 1): a model recovering M has RMSE ``noise`` on unseen entries, the floor a test RMSE
    approaches. A random ``test_fraction`` of the observed entries forms ``test``, the rest
    ``train``; both have shape (n_users, n_items), entries sorted by (user, item).

    >>> train, test = low_rank_ratings(300, 200, 5, density=0.1, noise=0.1, seed=0)
    >>> train.shape, train.nnz, test.nnz
    ((300, 200), 4800, 1200)
    """
    total = n_users * n_items
    m = max(1, int(round(density * total)))
    rng = np.random.default_rng(seed)
    scale = rank ** -0.25
    U = rng.standard_normal((n_users, rank)) * scale
    V = rng.standard_normal((n_items, rank)) * scale
    flat = np.sort(rng.choice(total, size=m, replace=False))
    users, items = np.divmod(flat, n_items)
    vals = np.einsum("ij,ij->i", U[users], V[items]) + noise * rng.standard_normal(m)
    is_test = np.zeros(m, dtype=bool)
    is_test[rng.choice(m, size=int(round(test_fraction * m)), replace=False)] = True

    def coo(mask: np.ndarray) -> scipy.sparse.coo_matrix:
        return scipy.sparse.coo_matrix((vals[mask], (users[mask], items[mask])), shape=(n_users, n_items))

    return coo(~is_test), coo(is_test)

