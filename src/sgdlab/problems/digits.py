"""Classifiers on scikit-learn's handwritten digits (``sklearn.datasets.load_digits``: 1,797 images of
8x8 pixels with values 0..16, ten classes; shipped with scikit-learn, no download).

The split is fixed: a random permutation from ``DATA_SEED`` puts 300 images in validation, 300 in
test and 1,197 in training. Each pixel is standardised, (x - mean) / std, with the mean and standard
deviation of the *training* images only (a pixel constant over the training images, std 0, is only
centred), so no statistic of the validation or test images leaks into training. The models are
those of ``sgdlab.models``:

* ``digits_logreg``: multinomial logistic regression (650 parameters), convex.
* ``digits_mlp``: MLP 64-64-64-10, ReLU.
* ``digits_mlp_bn``: the same MLP with batch normalization after each hidden layer.
* ``digits_cnn``: SmallCNN, two blocks conv3x3(16, 32) -> ReLU -> max-pool 2, then linear.
* ``digits_cnn_bn``: the same CNN with BatchNorm2d after each convolution.

Calibration of the targets (``python -m sgdlab.problems.calibrate``, 2026-11-30): each
optimizer's tuned learning rate and the first epoch whose validation accuracy reaches the target
(seed 0 / seed 1; "-": not within the 10 quick epochs). One validation image is 0.0033 of accuracy.

=============  ======  ==============  ==============  ==============  ==============
problem        target  SGD             Momentum        Adam            Adagrad
=============  ======  ==============  ==============  ==============  ==============
digits_logreg  0.96    lr 1: 5 / 1     lr 0.1: 10 / 3  lr 1e-2: - / -  lr 0.1: - / -
digits_mlp     0.975   lr 1: 6 / -     lr 0.1: - / -   lr 1e-2: 4 / 6  lr 0.1: 5 / -
digits_mlp_bn  0.975   lr 0.1: 6 / -   lr 0.1: 4 / 6   lr 1e-2: - / 7  lr 0.1: 3 / 5
digits_cnn     0.975   lr 0.1: - / -   lr 1e-2: - / -  lr 1e-2: 3 / 7  lr 1e-2: - / -
digits_cnn_bn  0.985   lr 0.1: 9 / 6   lr 1e-2: - / 7  lr 1e-2: 7 / 7  lr 0.1: 5 / 5
=============  ======  ==============  ==============  ==============  ==============
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..models import MLP, LogisticRegression, SmallCNN
from .base import Budget, Problem, Task
from ._common import DATA_SEED, accuracy, cross_entropy, seeded, target_note

N_VAL = N_TEST = 300


def digits_split_indices(n: int = 1797) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``load_digits()`` in the training, validation and test splits (a random
    permutation from ``DATA_SEED``: its first N_VAL rows validate, the next N_TEST test)."""
    perm = np.random.default_rng(DATA_SEED).permutation(n)
    return perm[N_VAL + N_TEST:], perm[:N_VAL], perm[N_VAL:N_VAL + N_TEST]


@functools.lru_cache(maxsize=1)
def _splits() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    X, y = load_digits(return_X_y=True)
    train, val, test = digits_split_indices(len(y))
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std[std == 0] = 1.0
    Z = ((X - mean) / std).astype(np.float32)
    y = y.astype(np.int64)
    return tuple((Z[idx], y[idx]) for idx in (train, val, test))


def digits_splits() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """``(train, val, test)``, each ``(X, y)``: X float (N, 64) standardised with the training
    statistics, y int64 class ids; fresh tensors on every call."""
    return tuple((torch.tensor(X, dtype=torch.get_default_dtype()), torch.tensor(y))
                 for X, y in _splits())


def _builder(make_model):
    def build(seed: int) -> Task:
        with seeded(seed):
            model = make_model()
        train, val, test = digits_splits()
        return Task(model=model, loss_fn=cross_entropy, train=train, val=val, test=test,
                    metric_fn=accuracy)
    build.__name__ = f"build_{make_model.__name__}"
    return build


def logreg() -> torch.nn.Module:
    return LogisticRegression(64, n_classes=10)


def mlp() -> torch.nn.Module:
    return MLP(64, hidden=(64, 64), out_features=10)


def mlp_bn() -> torch.nn.Module:
    return MLP(64, hidden=(64, 64), out_features=10, batch_norm=True)


def cnn() -> torch.nn.Module:
    return SmallCNN(in_channels=1, n_classes=10, image_size=8, channels=(16, 32))


def cnn_bn() -> torch.nn.Module:
    return SmallCNN(in_channels=1, n_classes=10, image_size=8, channels=(16, 32), batch_norm=True)


_DATA = ("scikit-learn's 8x8 handwritten digits (1,197 training, 300 validation, 300 test images, "
         "pixels standardised with the training statistics)")


def _problem(name: str, title: str, model: str, make_model, target: float, quick: Budget, full: Budget,
             tags: tuple[str, ...]) -> Problem:
    return Problem(
        name=name, title=title,
        description=f"{model} on {_DATA}. Metric: validation accuracy. " + target_note(target, "accuracy"),
        metric="accuracy", higher_is_better=True, target=target, quick=quick, full=full,
        builder=_builder(make_model), tags=("digits", "classification", *tags))


DIGITS_LOGREG = _problem(
    "digits_logreg", "Logistic regression on digits", "Multinomial logistic regression (64 -> 10)",
    logreg, 0.96, Budget(10, 64), Budget(50, 64), ("convex",))
DIGITS_MLP = _problem(
    "digits_mlp", "MLP on digits", "An MLP 64-64-64-10 with ReLU", mlp, 0.975,
    Budget(10, 64), Budget(50, 64), ("mlp",))
DIGITS_MLP_BN = _problem(
    "digits_mlp_bn", "MLP with batch norm on digits",
    "An MLP 64-64-64-10 with ReLU and batch normalization after each hidden layer", mlp_bn,
    0.975, Budget(10, 64), Budget(50, 64), ("mlp", "batch_norm"))
DIGITS_CNN = _problem(
    "digits_cnn", "CNN on digits",
    "A small CNN (conv3x3 16 -> ReLU -> max-pool, conv3x3 32 -> ReLU -> max-pool, linear)", cnn,
    0.975, Budget(10, 64), Budget(50, 64), ("cnn",))
DIGITS_CNN_BN = _problem(
    "digits_cnn_bn", "CNN with batch norm on digits",
    "A small CNN with batch normalization after each convolution (conv3x3 16 -> BN -> ReLU -> "
    "max-pool, conv3x3 32 -> BN -> ReLU -> max-pool, linear)", cnn_bn,
    0.985, Budget(10, 64), Budget(50, 64), ("cnn", "batch_norm"))
