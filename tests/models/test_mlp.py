"""MLP: Linear -> [BatchNorm1d] -> activation -> [Dropout] per hidden layer, then Linear."""

import pytest
import torch
from torch import nn

from sgdlab.models import MLP


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_shapes_and_default_hidden_layers():
    model = MLP(20, out_features=10)
    assert model.hidden == (64, 64)
    assert model(torch.randn(7, 20)).shape == (7, 10)
    assert [type(m) for m in model.net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [m.out_features for m in model.net if isinstance(m, nn.Linear)] == [64, 64, 10]


def test_no_hidden_layers_is_one_linear_layer_and_an_int_is_one_hidden_layer():
    assert [type(m) for m in MLP(5, hidden=(), out_features=2).net] == [nn.Linear]
    assert MLP(5, hidden=8, out_features=2).hidden == (8,)


def test_parameter_counts_by_hand():
    # 3 -> 4 -> 2: 3*4 + 4 weights and biases, then 4*2 + 2
    assert _count(MLP(3, hidden=(4,), out_features=2)) == 3 * 4 + 4 + 4 * 2 + 2 == 26
    # with batch norm the hidden Linear has no bias; BatchNorm adds gamma and beta (4 + 4)
    assert _count(MLP(3, hidden=(4,), out_features=2, batch_norm=True)) == 3 * 4 + 4 + 4 + 4 * 2 + 2 == 30
    # 3 -> 4 -> 5 -> 2
    assert _count(MLP(3, hidden=(4, 5), out_features=2)) == (12 + 4) + (20 + 5) + (10 + 2) == 53
    with_bn = MLP(3, hidden=(4, 5), out_features=2, batch_norm=True)
    assert _count(with_bn) == (12 + 8) + (20 + 10) + (10 + 2) == 62


def test_batch_norm_inserts_one_batchnorm_per_hidden_layer_before_the_activation():
    model = MLP(6, hidden=(8, 8, 8), out_features=3, batch_norm=True, activation="tanh")
    kinds = [type(m) for m in model.net]
    assert kinds.count(nn.BatchNorm1d) == 3
    assert kinds[:3] == [nn.Linear, nn.BatchNorm1d, nn.Tanh]
    assert all(m.bias is None for m in model.net[:-1] if isinstance(m, nn.Linear))
    assert model.net[-1].bias is not None
    assert not any(isinstance(m, nn.BatchNorm1d) for m in MLP(6, hidden=(8,), out_features=3).modules())


def test_batch_norm_uses_batch_statistics_in_training_and_running_statistics_in_eval():
    model = MLP(4, hidden=(5,), out_features=2, batch_norm=True)
    x = 3.0 + 2.0 * torch.randn(64, 4)
    for _ in range(200):  # running averages converge to the statistics of x (0.9^200 ~ 1e-9)
        model(x)
    bn = model.net[1]
    assert bn.num_batches_tracked.item() == 200
    h = model.net[0](x).detach()
    torch.testing.assert_close(bn.running_mean, h.mean(0), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bn.running_var, h.var(0), rtol=1e-4, atol=1e-4)  # unbiased, as torch

    # training mode: a sample's output depends on the rest of its batch
    a = model(torch.cat([x[:1], x[1:8]]))[0]
    b = model(torch.cat([x[:1], x[8:16] + 5]))[0]
    assert not torch.allclose(a, b)

    model.eval()
    with torch.no_grad():
        a, b = model(torch.cat([x[:1], x[1:8]]))[0], model(torch.cat([x[:1], x[8:16] + 5]))[0]
        torch.testing.assert_close(a, b)
        # and it is the affine map of the running statistics
        h1 = model.net[0](x[:1])
        manual = (h1 - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        torch.testing.assert_close(model(x[:1]), model.net[3](torch.relu(manual)))
    running = bn.running_mean.clone()
    model(x + 100)
    assert torch.equal(bn.running_mean, running)  # eval mode does not update them


def test_activations_and_dropout():
    for name, cls in [("relu", nn.ReLU), ("gelu", nn.GELU), ("elu", nn.ELU), ("leaky_relu", nn.LeakyReLU),
                      ("sigmoid", nn.Sigmoid), ("TANH", nn.Tanh)]:
        assert isinstance(MLP(3, hidden=(4,), out_features=1, activation=name).net[1], cls)
    model = MLP(3, hidden=(4, 4), out_features=1, dropout=0.5)
    assert [type(m) for m in model.net].count(nn.Dropout) == 2
    assert model.net[2].p == 0.5


def test_wrong_input_shape_names_x():
    with pytest.raises(ValueError, match=r"Invalid x: shape \(5, 4\) \(expected \(N, 3\)\)"):
        MLP(3, out_features=2)(torch.randn(5, 4))


@pytest.mark.parametrize("kwargs, name, error", [
    ({"in_features": 0}, "in_features", ValueError),
    ({"hidden": (4, 0)}, r"hidden\[1\]", ValueError), ({"hidden": "64"}, "hidden", TypeError),
    ({"hidden": (4.5,)}, r"hidden\[0\]", TypeError),
    ({"out_features": None}, "out_features", ValueError), ({"out_features": -1}, "out_features", ValueError),
    ({"batch_norm": 1}, "batch_norm", TypeError), ({"activation": "swish"}, "activation", ValueError),
    ({"dropout": 1.0}, "dropout", ValueError), ({"dropout": -0.1}, "dropout", ValueError),
])
def test_invalid_arguments_name_the_argument(kwargs, name, error):
    args = {"in_features": 3, "out_features": 2, **kwargs}
    with pytest.raises(error, match=f"Invalid {name}: "):
        MLP(**args)


def test_out_features_is_required():
    with pytest.raises(ValueError, match="Invalid out_features: None"):
        MLP(3, hidden=(4,))
