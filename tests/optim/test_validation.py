"""Bad input gets a ValueError that names the argument and the value."""

import pytest
import torch

import sgdlab


def _p():
    return [torch.nn.Parameter(torch.zeros(3))]


@pytest.mark.parametrize("name, hyper, message", [
    ("sgd", {"lr": -0.1}, "lr.*-0.1"),
    ("adam", {"lr": float("nan")}, "lr.*nan"),
    ("adam", {"eps": -1e-8}, "eps.*-1e-08"),
    ("adam", {"weight_decay": -1.0}, "weight_decay.*-1.0"),
    ("momentum", {"momentum": 1.0}, "momentum.*1.0"),
    ("nag", {"momentum": -0.5}, "momentum.*-0.5"),
    ("adadelta", {"rho": 1.5}, "rho.*1.5"),
    ("rmsprop", {"alpha": 1.0}, "alpha.*1.0"),
    ("rmsprop", {"centered": "yes"}, "centered.*yes"),
    ("adam", {"betas": (0.9, 1.0)}, r"betas\[1\].*1.0"),
    ("adam", {"betas": (-0.1, 0.9)}, r"betas\[0\].*-0.1"),
    ("adam", {"betas": 0.9}, "betas.*0.9.*pair"),
    ("nadam", {"betas": (0.9, 0.99, 0.999)}, "betas.*pair"),
    ("qhm", {"nu": 1.5}, "nu.*1.5"),
    ("qhadam", {"nus": (0.7, -0.1)}, r"nus\[1\].*-0.1"),
    ("aggmo", {"betas": ()}, "betas"),
    ("aggmo", {"betas": (0.0, 0.9, 1.2)}, r"betas\[2\].*1.2"),
    ("adagrad", {"initial_accumulator_value": -1}, "initial_accumulator_value.*-1"),
    ("adagrad", {"lr_decay": -0.1}, "lr_decay.*-0.1"),
    ("nadam", {"momentum_decay": 0.004}, "momentum_decay.*paper"),
    ("nadam", {"momentum_decay": -1, "convention": "torch"}, "momentum_decay.*-1"),
    ("adam", {"convention": "pytorch"}, "convention.*pytorch"),
    ("qhm", {"convention": "torch"}, "convention.*torch.*QHM"),
    ("adam", {"nonfinite": "ignore"}, "nonfinite.*ignore"),
])
def test_invalid_hyper_parameter_names_the_argument_and_the_value(name, hyper, message):
    with pytest.raises(ValueError, match=message):
        sgdlab.optim.create(name, _p(), **hyper)


def test_nu_of_one_and_zero_are_valid():
    sgdlab.optim.QHM(_p(), nu=1.0)
    sgdlab.optim.QHM(_p(), nu=0.0)


def test_unknown_optimizer_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"'adamm'.*adam, adamax"):
        sgdlab.optim.create("adamm", _p())


def test_invalid_hyper_parameter_in_an_added_param_group_is_refused():
    opt = sgdlab.optim.Adam(_p())
    with pytest.raises(ValueError, match="lr.*-1"):
        opt.add_param_group({"params": _p(), "lr": -1})
    assert len(opt.param_groups) == 1


def test_names_are_the_lower_case_class_names():
    assert sgdlab.optim.available() == [
        "sgd", "momentum", "nag", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam",
        "amsgrad", "adamw", "qhm", "qhadam", "aggmo"]
    for name in sgdlab.optim.available():
        assert type(sgdlab.optim.create(name, _p())).__name__.lower() == name
