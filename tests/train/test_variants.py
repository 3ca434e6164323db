"""The survey's three variants (Sec. 2): batch, stochastic and mini-batch gradient descent."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.train import fit


def _manual_full_batch_step(model, X, y, lr):
    """One step of batch gradient descent computed directly: the gradient of the mean loss over all
    of X, then theta <- theta - lr * grad."""
    params = list(model.parameters())
    loss = F.mse_loss(model(X), y)
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        return [p - lr * g for p, g in zip(params, grads)]


@pytest.mark.parametrize("n, chunk", [(2500, None), (50, 7), (7, 7)])
def test_batch_size_none_is_one_full_gradient_step(monkeypatch, n, chunk):
    # n = 2500 with the default chunk of 1024 and 50 with chunks of 7 leave a short last chunk.
    if chunk is not None:
        monkeypatch.setattr(sgdlab.train.loop, "CHUNK_SIZE", chunk)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 5, generator=g, dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    reference = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    reference.load_state_dict(model.state_dict())

    expected = _manual_full_batch_step(reference, X, y, lr=0.3)
    expected_loss = F.mse_loss(reference(X), y).item()
    h = fit(model, F.mse_loss, (X, y), optimizer=torch.optim.SGD(model.parameters(), lr=0.3),
            epochs=1, batch_size=None, progress=False)

    assert h.updates == [1]
    assert h.train_loss[0] == pytest.approx(expected_loss, rel=1e-12)
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-12)


def test_batch_size_none_two_epochs_are_two_full_steps(regression):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    reference = torch.nn.Linear(3, 1)
    reference.load_state_dict(model.state_dict())
    for _ in range(2):
        new = _manual_full_batch_step(reference, X, y, lr=0.1)
        with torch.no_grad():
            for p, v in zip(reference.parameters(), new):
                p.copy_(v)
    fit(model, F.mse_loss, (X, y), optimizer=sgdlab.optim.SGD(model.parameters(), lr=0.1),
        epochs=2, batch_size=None, progress=False)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_batch_size_one_makes_n_updates_per_epoch(regression):
    X, y = regression
    X, y = X[:13], y[:13]
    model = torch.nn.Linear(3, 1)
    opt = sgdlab.optim.SGD(model.parameters(), lr=0.01)
    steps = []
    opt.register_step_post_hook(lambda *_: steps.append(1))
    h = fit(model, F.mse_loss, (X, y), optimizer=opt, epochs=3, batch_size=1, progress=False)
    assert h.updates == [13, 13, 13]
    assert len(steps) == 39 == h.total_updates


@pytest.mark.parametrize("batch_size", [2, 5, 13, 100])
def test_mini_batches_are_ceil_n_over_b_and_cover_every_example_once(regression, batch_size):
    X, y = regression
    X, y = X[:13], y[:13]
    seen = []

    class Record(sgdlab.train.Callback):
        def on_batch_end(self, ctx, loss):
            seen.append(ctx.batch_indices.copy())

    cb = Record()
    h = fit(torch.nn.Linear(3, 1), F.mse_loss, (X, y), optimizer="sgd", epochs=1,
            batch_size=batch_size, callbacks=[cb], progress=False)
    assert h.updates == [math.ceil(13 / batch_size)]
    assert [len(s) for s in seen] == [min(batch_size, 13 - i) for i in range(0, 13, batch_size)]
    assert sorted(np.concatenate(seen).tolist()) == list(range(13))


def test_mini_batch_training_loss_is_the_mean_over_the_epochs_examples(regression):
    # With lr = 0 the weights stay put, so the epoch's loss is the plain mean over all examples.
    X, y = regression
    model = torch.nn.Linear(3, 1)
    h = fit(model, F.mse_loss, (X, y), optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
            epochs=1, batch_size=10, progress=False)
    assert h.train_loss[0] == pytest.approx(F.mse_loss(model(X), y).item(), rel=1e-6)


def test_optimizer_by_name_uses_sgdlab_defaults(regression):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    h = fit(model, F.mse_loss, (X, y), optimizer="adam", epochs=2, progress=False)
    assert h.lr == [sgdlab.optim.Adam.DEFAULTS["paper"]["lr"]] * 2


def test_training_reduces_the_loss_and_restores_the_models_mode(regression):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    model.eval()
    h = fit(model, F.mse_loss, (X, y), val=(X, y), optimizer=sgdlab.optim.SGD(model.parameters(), lr=0.1),
            epochs=15, batch_size=8, progress=False)
    assert h.train_loss[-1] < 0.05 < h.train_loss[0]
    assert h.val_loss[-1] < 0.05
    assert not model.training
