"""LogisticRegression: K logits from one linear layer; sparse inputs (torch COO/CSR, scipy.sparse) give
the logits and the weight gradients of the dense input, without densifying X."""

import numpy as np
import pytest
import scipy.sparse
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.models import LogisticRegression

pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta state:UserWarning")


def _sparse_data(n=12, d=30, density=0.15, seed=0):
    X = scipy.sparse.random(n, d, density=density, format="csr", random_state=seed, dtype=np.float64)
    return X, torch.from_numpy(X.toarray())


def test_dense_shapes_and_parameter_count():
    model = LogisticRegression(4, n_classes=3)
    assert model(torch.randn(8, 4)).shape == (8, 3)
    assert model.weight.shape == (3, 4) and model.bias.shape == (3,)
    assert sum(p.numel() for p in model.parameters()) == 3 * 4 + 3
    # binary: two logits, for cross-entropy
    assert LogisticRegression(5)(torch.randn(2, 5)).shape == (2, 2)


def test_two_logits_are_the_binary_model_on_their_difference():
    model = LogisticRegression(5).double()
    x = torch.randn(7, 5, dtype=torch.float64)
    z = model(x)
    torch.testing.assert_close(torch.softmax(z, 1)[:, 1], torch.sigmoid(z[:, 1] - z[:, 0]))


@pytest.mark.parametrize("kind", ["torch_coo", "torch_csr", "torch_csc", "scipy_csr", "scipy_coo_dup"])
def test_sparse_and_dense_inputs_give_the_same_logits_and_gradients(kind):
    X_sp, X_dense = _sparse_data()
    if kind == "torch_coo":
        X = X_dense.to_sparse()
    elif kind == "torch_csr":
        X = X_dense.to_sparse_csr()
    elif kind == "torch_csc":
        X = X_dense.to_sparse_csc()
    elif kind == "scipy_csr":
        X = X_sp
    else:  # an uncoalesced scipy COO: every entry split into two halves that add up
        coo = X_sp.tocoo()
        X = scipy.sparse.coo_matrix((np.r_[coo.data / 2, coo.data / 2], (np.r_[coo.row, coo.row],
                                     np.r_[coo.col, coo.col])), shape=coo.shape)
    y = torch.randint(3, (X_dense.shape[0],))
    sparse = LogisticRegression(30, n_classes=3, sparse=True).double()
    dense = LogisticRegression(30, n_classes=3).double()
    dense.load_state_dict(sparse.state_dict())

    z_sparse, z_dense = sparse(X), dense(X_dense)
    torch.testing.assert_close(z_sparse, z_dense, rtol=1e-12, atol=1e-12)
    F.cross_entropy(z_sparse, y).backward()
    F.cross_entropy(z_dense, y).backward()
    torch.testing.assert_close(sparse.weight.grad, dense.weight.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sparse.bias.grad, dense.bias.grad, rtol=1e-12, atol=1e-12)


def test_scipy_input_takes_the_dtype_of_the_weights():
    X_sp, X_dense = _sparse_data()  # float64
    model = LogisticRegression(30, sparse=True)  # float32
    z = model(X_sp)
    assert z.dtype == torch.float32
    torch.testing.assert_close(z, model(X_dense.float()), rtol=1e-5, atol=1e-6)


def test_sparse_forward_never_densifies_x(monkeypatch):
    X_sp, X_dense = _sparse_data()
    model = LogisticRegression(30, sparse=True).double()

    def refuse(*args, **kwargs):
        raise AssertionError("X was densified")

    monkeypatch.setattr(torch.Tensor, "to_dense", refuse)
    monkeypatch.setattr(scipy.sparse.csr_matrix, "toarray", refuse)
    model(X_sp).sum().backward()
    model(X_dense.to_sparse()).sum().backward()


def test_sparse_model_trains_with_sgd():
    X_sp, X_dense = _sparse_data(n=64, d=30, density=0.2)
    w_true = torch.randn(30, dtype=torch.float64)
    y = (X_dense @ w_true > 0).long()
    model = LogisticRegression(30, sparse=True).double()
    opt = sgdlab.optim.SGD(model.parameters(), lr=1.0)
    first = None
    for _ in range(100):
        loss = F.cross_entropy(model(X_sp), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_a_sparse_input_needs_sparse_true():
    X_sp, X_dense = _sparse_data()
    model = LogisticRegression(30)
    with pytest.raises(ValueError, match=r"Invalid X: .*sparse=True"):
        model(X_sp)
    with pytest.raises(ValueError, match=r"Invalid X: .*sparse=True"):
        model(X_dense.float().to_sparse())


def test_wrong_input_shapes_name_x():
    model = LogisticRegression(30, sparse=True)
    with pytest.raises(ValueError, match=r"Invalid X: shape \(4, 29\)"):
        model(torch.randn(4, 29))
    with pytest.raises(ValueError, match=r"Invalid X: sparse shape \(4, 29\)"):
        model(torch.randn(4, 29).to_sparse())


def test_input_that_is_not_an_array_is_a_type_error():
    with pytest.raises(TypeError, match=r"Invalid X: of type list \(expected a tensor, numpy array"):
        LogisticRegression(30)([[1.0] * 30])


@pytest.mark.parametrize("kwargs, name, error", [
    ({"n_features": 0}, "n_features", ValueError), ({"n_features": 2.5}, "n_features", TypeError),
    ({"n_features": True}, "n_features", TypeError),
    ({"n_features": 3, "n_classes": 1}, "n_classes", ValueError),
    ({"n_features": 3, "n_classes": "2"}, "n_classes", TypeError),
    ({"n_features": 3, "sparse": "yes"}, "sparse", TypeError),
])
def test_invalid_arguments_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=f"Invalid {name}: "):
        LogisticRegression(**kwargs)
