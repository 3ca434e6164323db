"""The order of the examples: reshuffled every epoch, reproducibly from the seed (the survey, Sec. 6.1)."""

import numpy as np
import torch

from sgdlab.train import fit


class YRecorder:
    """A loss that records the labels of every training batch it sees; y[i] = i identifies the
    examples, so the labels are the order."""

    def __init__(self):
        self.batches = []

    def __call__(self, out, y):
        if torch.is_grad_enabled():
            self.batches.append(y.long().tolist())
        return (out.squeeze(-1) - 0.0 * y).pow(2).mean()


def _epochs_seen(n=20, epochs=3, batch_size=4, **kw):
    X = torch.randn(n, 2)
    y = torch.arange(n, dtype=torch.float32)
    loss = YRecorder()
    fit(torch.nn.Linear(2, 1), loss, (X, y), optimizer="sgd", epochs=epochs, batch_size=batch_size,
        progress=False, **kw)
    per_epoch = n // batch_size
    flat = [sum(loss.batches[e * per_epoch:(e + 1) * per_epoch], []) for e in range(epochs)]
    return flat


def test_same_seed_same_order():
    assert _epochs_seen(seed=3) == _epochs_seen(seed=3)


def test_different_seed_different_order():
    assert _epochs_seen(seed=3) != _epochs_seen(seed=4)


def test_each_epoch_is_a_new_permutation_of_all_examples():
    epochs = _epochs_seen(seed=0)
    for order in epochs:
        assert sorted(order) == list(range(20))
    assert epochs[0] != epochs[1] != epochs[2]
    assert epochs[0] != list(range(20))


def test_the_order_is_numpys_permutation_from_the_seed():
    # Independent of fit's code path: the documented generator is numpy's default_rng(seed).
    rng = np.random.default_rng(11)
    expected = [rng.permutation(20).tolist() for _ in range(3)]
    assert _epochs_seen(seed=11) == expected


def test_shuffle_false_keeps_the_order():
    assert _epochs_seen(shuffle=False) == [list(range(20))] * 3
