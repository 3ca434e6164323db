"""The kinds of data fit takes: tensors, NumPy arrays, scipy.sparse CSR (densified per batch), a
torch Dataset, a DataLoader over one; they all give the same training."""

import numpy as np
import pytest
import scipy.sparse
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.train import fit


def _problem(n=300, d=20, seed=0):
    """A separable binary problem with sparse features (70% zeros)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.3)
    w = rng.standard_normal(d)
    y = (X @ w > 0).astype(np.float64)[:, None]
    return X, y


class PairDataset(torch.utils.data.Dataset):
    def __init__(self, X, y):
        self.X, self.y = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


def _accuracy(out, y):
    return float(((out > 0).float() == y).float().mean())


def _train(train, val, init):
    model = torch.nn.Linear(20, 1)
    model.load_state_dict(init)
    h = fit(model, F.binary_cross_entropy_with_logits, train, val=val, metric=_accuracy,
            optimizer=sgdlab.optim.SGD(model.parameters(), lr=0.5), epochs=4, batch_size=16, seed=5,
            progress=False)
    return model, h


def _as(kind, X, y):
    if kind == "tensor":
        return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    if kind == "numpy":
        return X, y  # float64: becomes float32 per batch
    if kind == "csr":
        return scipy.sparse.csr_matrix(X), y
    if kind == "coo_array":
        return scipy.sparse.coo_array(X), y
    if kind == "loader":  # its batch size and shuffling are fit's, not the loader's
        return torch.utils.data.DataLoader(PairDataset(X, y), batch_size=7, shuffle=True)
    return PairDataset(X, y)


def test_every_kind_trains_the_same_logistic_regression():
    X, y = _problem(400)
    X, y, Xv, yv = X[:300], y[:300], X[300:], y[300:]
    init = torch.nn.Linear(20, 1).state_dict()
    ref_model, ref = _train(_as("tensor", X, y), _as("tensor", Xv, yv), init)
    assert ref.val_metric[-1] > 0.85  # it learns
    for kind in ("numpy", "csr", "coo_array", "dataset", "loader"):
        model, h = _train(_as(kind, X, y), _as(kind, Xv, yv), init)
        assert h.train_loss == pytest.approx(ref.train_loss, rel=1e-5), kind
        assert h.val_loss == pytest.approx(ref.val_loss, rel=1e-5), kind
        assert h.val_metric == ref.val_metric, kind
        for p, q in zip(model.parameters(), ref_model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_sparse_batches_reach_the_model_dense_and_one_batch_at_a_time():
    X, y = _problem(50)
    shapes = []

    class Probe(torch.nn.Linear):
        def forward(self, x):
            shapes.append((x.layout, x.dtype, tuple(x.shape)))
            return super().forward(x)

    fit(Probe(20, 1), F.binary_cross_entropy_with_logits, (scipy.sparse.csr_matrix(X), y),
        optimizer="sgd", epochs=1, batch_size=16, progress=False)
    assert shapes == [(torch.strided, torch.float32, (16, 20))] * 3 + [(torch.strided, torch.float32, (2, 20))]


def test_integer_numpy_labels_become_int64_for_cross_entropy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=60).astype(np.int32)
    h = fit(torch.nn.Linear(4, 3), F.cross_entropy, (X, y), val=(X, y), optimizer="adam", epochs=2,
            progress=False)
    assert len(h) == 2 and np.isfinite(h.val_loss).all()


def test_batch_size_none_works_on_sparse_data_and_datasets():
    X, y = _problem(40)
    init = torch.nn.Linear(20, 1).state_dict()
    losses = []
    for data in (_as("tensor", X, y), _as("csr", X, y), _as("dataset", X, y)):
        model = torch.nn.Linear(20, 1)
        model.load_state_dict(init)
        h = fit(model, F.binary_cross_entropy_with_logits, data, optimizer="sgd", epochs=2,
                batch_size=None, progress=False)
        losses.append(h.train_loss)
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    assert losses[2] == pytest.approx(losses[0], rel=1e-6)


def test_a_dataloaders_collate_fn_makes_the_batches():
    X, y = _problem(30)
    calls = []

    def collate(items):
        calls.append(len(items))
        return torch.utils.data.default_collate(items)

    loader = torch.utils.data.DataLoader(PairDataset(X, y), batch_size=4, collate_fn=collate)
    fit(torch.nn.Linear(20, 1), F.binary_cross_entropy_with_logits, loader, optimizer="sgd", epochs=1,
        batch_size=10, progress=False)
    assert calls == [10, 10, 10]


@pytest.mark.parametrize("make, says", [
    (lambda ds: torch.utils.data.DataLoader(ds, sampler=torch.utils.data.WeightedRandomSampler([1.0] * 30, 30)),
     "the sampler WeightedRandomSampler"),
    (lambda ds: torch.utils.data.DataLoader(
        ds, batch_sampler=[[0, 1], [2, 3]]), "the batch_sampler list"),
    (lambda ds: torch.utils.data.DataLoader(ds, batch_size=None), "batch_size=None"),
    (lambda ds: torch.utils.data.DataLoader(
        ds, sampler=torch.utils.data.RandomSampler(ds, replacement=True)), "a RandomSampler that draws with"),
])
def test_a_dataloader_whose_sampler_fit_cannot_reproduce_is_refused(make, says):
    X, y = _problem(30)
    with pytest.raises(ValueError, match=f"Invalid train: a DataLoader with {says}"):
        fit(torch.nn.Linear(20, 1), F.binary_cross_entropy_with_logits, make(PairDataset(X, y)),
            optimizer="sgd", epochs=1, progress=False)
