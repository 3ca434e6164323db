"""Bad arguments are refused in sgdlab._validation's grammar: a wrong value is a ValueError, a wrong
type a TypeError, both naming the argument, the value and what was expected; NumPy numbers are
accepted as Python's. The signature and the Args section of every optimizer come from one declaration
of its hyper-parameters."""

import inspect
import re

import numpy as np
import pytest
import torch

import sgdlab
from sgdlab._validation import ArgumentTypeError, ArgumentValueError
from sgdlab.optim import _engine

CLASSES = [sgdlab.optim.get(name) for name in sgdlab.optim.available()]


def _p():
    return [torch.nn.Parameter(torch.zeros(3))]


@pytest.mark.parametrize("name, hyper, message", [
    ("sgd", {"lr": -0.1}, r"Invalid lr: -0.1 \(expected a finite number >= 0\)"),
    ("adam", {"eps": -1e-8}, r"Invalid eps: -1e-08 \(expected a finite number >= 0\)"),
    ("adam", {"weight_decay": -1.0}, r"Invalid weight_decay: -1.0 \(expected a finite number >= 0\)"),
    ("momentum", {"momentum": 1.0}, r"Invalid momentum: 1.0 \(expected a number in \[0, 1\)\)"),
    ("nag", {"momentum": -0.5}, r"Invalid momentum: -0.5 \(expected a number in \[0, 1\)\)"),
    ("adadelta", {"rho": 1.5}, r"Invalid rho: 1.5 \(expected a number in \[0, 1\)\)"),
    ("rmsprop", {"alpha": 1.0}, r"Invalid alpha: 1.0 \(expected a number in \[0, 1\)\)"),
    ("adam", {"betas": (0.9, 1.0)}, r"Invalid betas\[1\]: 1.0 \(expected a number in \[0, 1\)\)"),
    ("adam", {"betas": (-0.1, 0.9)}, r"Invalid betas\[0\]: -0.1 "),
    ("nadam", {"betas": (0.9, 0.99, 0.999)}, r"Invalid betas: \(0.9, 0.99, 0.999\) \(expected a pair of numbers"),
    ("qhm", {"nu": 1.5}, r"Invalid nu: 1.5 \(expected a number in \[0, 1\]\)"),
    ("qhadam", {"nus": (0.7, -0.1)}, r"Invalid nus\[1\]: -0.1 \(expected a number in \[0, 1\]\)"),
    ("aggmo", {"betas": ()}, r"Invalid betas: \(\) \(expected a sequence of at least 1 numbers in \[0, 1\)\)"),
    ("aggmo", {"betas": (0.0, 0.9, 1.2)}, r"Invalid betas\[2\]: 1.2 "),
    ("adagrad", {"initial_accumulator_value": -1}, r"Invalid initial_accumulator_value: -1 \(expected"),
    ("adagrad", {"lr_decay": -0.1}, r"Invalid lr_decay: -0.1 \(expected"),
    ("nadam", {"momentum_decay": 0.004}, r"Invalid momentum_decay: 0.004 \(expected None under "
                                         r'convention="paper": Nadam has a momentum_decay under "torch" and '
                                         r'"keras" only\)'),
    ("nadam", {"momentum_decay": -1, "convention": "torch"}, r"Invalid momentum_decay: -1 \(expected"),
    ("adam", {"convention": "pytorch"}, r"Invalid convention: 'pytorch' \(expected one of 'paper', 'torch', "
                                        r"'keras'\)"),
    ("adam", {"nonfinite": "ignore"}, r"Invalid nonfinite: 'ignore' \(expected one of 'apply', 'skip', "
                                      r"'raise'\)"),
    ("radam", {"betas": (0.9, 1.0)}, r"Invalid betas\[1\]: 1.0 \(expected a number in \[0, 1\)\)"),
    ("nadamw", {"momentum_decay": 0.004}, r"Invalid momentum_decay: 0.004 \(expected None under "
                                          r'convention="paper": NAdamW has a momentum_decay under "torch" only\)'),
    ("lion", {"betas": (0.9, -0.5)}, r"Invalid betas\[1\]: -0.5 \(expected a number in \[0, 1\)\)"),
    ("lion", {"weight_decay": -0.1}, r"Invalid weight_decay: -0.1 \(expected a finite number >= 0\)"),
    ("ademamix", {"beta3": 1.0}, r"Invalid beta3: 1.0 \(expected a number in \[0, 1\)\)"),
    ("ademamix", {"alpha": -2.0}, r"Invalid alpha: -2.0 \(expected a finite number >= 0\)"),
    ("ademamix", {"alpha_warmup": -1}, r"Invalid alpha_warmup: -1 \(expected an int >= 0\)"),
    ("ademamix", {"beta3_warmup": -5}, r"Invalid beta3_warmup: -5 \(expected an int >= 0\)"),
    ("schedulefree_sgd", {"momentum": 0.0}, r"Invalid momentum: 0.0 \(expected a number in \(0, 1\)\)"),
    ("schedulefree_sgd", {"momentum": 1.0}, r"Invalid momentum: 1.0 \(expected a number in \(0, 1\)\)"),
    ("schedulefree_sgd", {"warmup_steps": -1}, r"Invalid warmup_steps: -1 \(expected an int >= 0\)"),
    ("schedulefree_adamw", {"betas": (0.0, 0.999)}, r"Invalid betas\[0\]: 0.0 \(expected a number in \(0, 1\)\)"),
    ("schedulefree_adamw", {"weight_decay": -1.0}, r"Invalid weight_decay: -1.0 \(expected a finite number >= 0\)"),
    ("lion", {"convention": "torch"}, r"Invalid convention: 'torch' \(expected one of 'paper': torch.optim has no "
                                     r"Lion\)"),
])
def test_invalid_hyper_parameter_is_a_value_error_naming_the_argument_the_value_and_the_expected(
        name, hyper, message):
    with pytest.raises(ArgumentValueError, match="^" + message):
        sgdlab.optim.create(name, _p(), **hyper)


@pytest.mark.parametrize("name, hyper", [
    ("adam", {"lr": float("inf")}), ("adam", {"lr": float("nan")}), ("sgd", {"lr": torch.tensor(float("inf"))}),
    ("adam", {"eps": float("inf")}), ("adam", {"weight_decay": float("inf")}),
    ("adam", {"betas": (0.9, float("nan"))}), ("momentum", {"momentum": float("nan")}),
    ("qhm", {"nu": float("nan")}), ("adagrad", {"lr_decay": float("inf")}),
])
def test_non_finite_hyper_parameters_are_refused_naming_the_argument(name, hyper):
    (key, value), = hyper.items()
    shown = re.escape(f"{key}[1]" if key == "betas" else key)
    with pytest.raises(ValueError, match=rf"^Invalid {shown}: .*(inf|nan).* \(expected "):
        sgdlab.optim.create(name, _p(), **hyper)


@pytest.mark.parametrize("name, hyper, message", [
    ("adam", {"lr": "0.1"}, r"Invalid lr: '0.1' of type str \(expected a finite number >= 0\)"),
    ("adam", {"lr": True}, r"Invalid lr: True of type bool"),
    ("adam", {"betas": 0.9}, r"Invalid betas: 0.9 of type float \(expected a pair of numbers in \[0, 1\)\)"),
    ("adam", {"betas": ("0.9", 0.999)}, r"Invalid betas\[0\]: '0.9' of type str"),
    ("rmsprop", {"centered": "yes"}, r"Invalid centered: 'yes' of type str \(expected True or False\)"),
    ("aggmo", {"betas": 0.9}, r"Invalid betas: 0.9 of type float"),
    ("adam", {"convention": 1}, r"Invalid convention: 1 of type int"),
    ("adam", {"fused": 1}, r"Invalid fused: 1 of type int \(expected True or False or None\)"),
    ("radam", {"decoupled_weight_decay": "yes"}, r"Invalid decoupled_weight_decay: 'yes' of type str \(expected "
                                                 r"True or False\)"),
    ("ademamix", {"alpha_warmup": 10.0}, r"Invalid alpha_warmup: 10.0 of type float \(expected an int >= 0\)"),
    ("schedulefree_adamw", {"warmup_steps": "100"}, r"Invalid warmup_steps: '100' of type str"),
])
def test_hyper_parameter_of_a_wrong_type_is_a_type_error(name, hyper, message):
    with pytest.raises(ArgumentTypeError, match="^" + message):
        sgdlab.optim.create(name, _p(), **hyper)


def test_a_convention_the_algorithm_lacks_is_refused_saying_which_library_has_no_such_algorithm():
    with pytest.raises(ArgumentValueError,
                       match=r"^Invalid convention: 'torch' \(expected one of 'paper': torch.optim has no QHM\)$"):
        sgdlab.optim.QHM(_p(), convention="torch")


def test_an_unknown_keyword_is_a_type_error_naming_the_class():
    with pytest.raises(TypeError, match=r"^Adam\(\): .*'amsgrad'"):
        sgdlab.optim.Adam(_p(), amsgrad=True)


def test_nu_of_one_and_zero_are_valid():
    sgdlab.optim.QHM(_p(), nu=1.0)
    sgdlab.optim.QHM(_p(), nu=0.0)


def test_a_one_element_tensor_is_accepted_as_lr_as_in_torch():
    lr = torch.tensor(0.01)
    assert sgdlab.optim.Adam(_p(), lr=lr).param_groups[0]["lr"] is lr


def test_numpy_numbers_are_accepted_as_python_numbers():
    opt = sgdlab.optim.Adam(_p(), lr=np.float32(1e-3), betas=(np.float64(0.9), 0.999), eps=np.int64(0),
                            fused=np.bool_(False))
    group = opt.param_groups[0]
    assert type(group["lr"]) is float and group["betas"] == (0.9, 0.999) and type(group["eps"]) is float
    assert opt.fused is False


def test_numpy_hyper_parameters_train_identically_to_python_floats():
    def train(**hyper):
        p = torch.nn.Parameter(torch.linspace(-1, 1, 5, dtype=torch.float64))
        opt = sgdlab.optim.Adam([p], **hyper)
        for _ in range(20):
            p.grad = torch.sin(3 * p.detach())
            opt.step()
        return p.detach()

    numpy = train(lr=np.float32(1e-3), betas=(np.float64(0.9), 0.999))
    python = train(lr=float(np.float32(1e-3)), betas=(0.9, 0.999))
    assert torch.equal(numpy, python)


def test_unknown_optimizer_name_is_a_value_error_listing_the_names():
    with pytest.raises(ArgumentValueError,
                       match=r"^Invalid name: 'adamx' \(expected one of 'sgd', 'momentum', .*'adam', 'adamax'"):
        sgdlab.optim.create("adamx", _p())


def test_optimizer_name_that_is_not_a_string_is_a_type_error():
    with pytest.raises(ArgumentTypeError, match=r"^Invalid name: 3 of type int \(expected one of 'sgd'"):
        sgdlab.optim.get(3)


def test_invalid_hyper_parameter_in_an_added_param_group_is_refused():
    opt = sgdlab.optim.Adam(_p())
    with pytest.raises(ValueError, match=r"^Invalid lr: -1 "):
        opt.add_param_group({"params": _p(), "lr": -1})
    with pytest.raises(TypeError, match=r"^Invalid betas: 0.9 of type float"):
        opt.add_param_group({"params": _p(), "betas": 0.9})
    assert len(opt.param_groups) == 1


def test_a_param_group_with_another_convention_is_refused():
    opt = sgdlab.optim.Adam(_p())
    with pytest.raises(ValueError, match=r"^Invalid convention: 'torch' \(expected the optimizer's, \"paper\""):
        opt.add_param_group({"params": _p(), "convention": "torch"})


def test_a_loaded_state_with_an_invalid_hyper_parameter_is_refused():
    opt = sgdlab.optim.Adam(_p())
    sd = opt.state_dict()
    sd["param_groups"][0]["eps"] = float("nan")
    with pytest.raises(ValueError, match=r"^Invalid eps: nan "):
        sgdlab.optim.Adam(_p()).load_state_dict(sd)


SURVEY = ["sgd", "momentum", "nag", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam", "amsgrad", "adamw",
          "qhm", "qhadam", "aggmo"]
ELEMENTWISE_MODERN = ["radam", "nadamw", "lion", "schedulefree_sgd", "schedulefree_adamw", "ademamix"]


def test_survey_group_is_the_surveys_14_in_its_order():
    assert sgdlab.optim.available("survey") == SURVEY


def test_modern_group_is_adamw_and_todays_contenders():
    modern = sgdlab.optim.available("modern")
    assert modern[0] == "adamw" and modern[1:7] == ELEMENTWISE_MODERN
    assert modern[7:] == ["adafactor", "muon", "soap"]  # the matrix-aware ones


def test_all_is_every_registered_name_the_survey_first():
    every = sgdlab.optim.available()
    assert every == sgdlab.optim.available("all")
    assert every[:14] == SURVEY and set(every) == set(SURVEY) | set(sgdlab.optim.available("modern"))
    assert len(every) == len(set(every))


def test_quick_is_the_survey_then_algoperfs_baseline_and_the_leading_contenders():
    quick = sgdlab.optim.QUICK
    assert isinstance(quick, tuple) and list(quick[:14]) == SURVEY
    assert quick[14:18] == ("nadamw", "lion", "schedulefree_adamw", "ademamix")
    assert quick[18:] == (("muon",) if "muon" in sgdlab.optim.available() else ())


def test_names_are_the_lower_case_class_names_with_an_underscore_for_schedule_free():
    named = {"schedulefree_sgd": "ScheduleFreeSGD", "schedulefree_adamw": "ScheduleFreeAdamW"}
    for name in sgdlab.optim.available():
        cls = type(sgdlab.optim.create(name, _p()))
        assert cls.NAME == name and cls.__name__ == named.get(name, cls.__name__)
        assert name in named or cls.__name__.lower() == name


# ---- signatures and docs, from the declarations ------------------------------------------------------


def _args_entries(cls):
    """The Args section of ``cls``'s docstring: ``{argument: its text on one line}``, in order."""
    section = cls.__doc__.split("\nArgs:\n", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"^    (\w+): ", section, flags=re.M)[1:]
    return {name: " ".join(text.split()) for name, text in zip(entries[::2], entries[1::2])}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_signature_lists_every_hyper_parameter_defaulting_to_the_conventions_and_the_engine_options(cls):
    parameters = inspect.signature(cls).parameters
    hyper = {name for defaults in cls.DEFAULTS.values() for name in defaults}
    assert list(parameters)[0] == "params"
    assert set(list(parameters)[1:-3]) == hyper
    assert all(parameters[name].default is None for name in hyper)
    assert {n: (p.kind, p.default) for n, p in list(parameters.items())[-3:]} == {
        "convention": (inspect.Parameter.KEYWORD_ONLY, "paper"),
        "nonfinite": (inspect.Parameter.KEYWORD_ONLY, "apply"),
        "fused": (inspect.Parameter.KEYWORD_ONLY, None)}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_argument_has_an_args_entry_with_its_default_and_every_entry_is_an_argument(cls):
    entries = _args_entries(cls)
    assert list(entries) == list(inspect.signature(cls).parameters)
    for convention, defaults in cls.DEFAULTS.items():
        for name, value in defaults.items():
            assert re.search(rf"Default: .*{re.escape(repr(value))}", entries[name]), (convention, name)
    for name in ("convention", "nonfinite", "fused"):
        assert "Default: " in entries[name]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_docstrings_state_the_current_fused_threshold(cls):
    assert f"at least {_engine.FUSED_MIN_NUMEL:,} elements" in " ".join(cls.__doc__.split())


@pytest.mark.parametrize("ours, theirs", [
    (sgdlab.optim.Adam, torch.optim.Adam), (sgdlab.optim.AdamW, torch.optim.AdamW),
    (sgdlab.optim.AdaMax, torch.optim.Adamax), (sgdlab.optim.Nadam, torch.optim.NAdam),
    (sgdlab.optim.Adagrad, torch.optim.Adagrad), (sgdlab.optim.Adadelta, torch.optim.Adadelta),
    (sgdlab.optim.RMSprop, torch.optim.RMSprop), (sgdlab.optim.RAdam, torch.optim.RAdam),
    (sgdlab.optim.NAdamW, torch.optim.NAdam),
], ids=lambda c: c.__name__)
def test_hyper_parameters_are_positional_in_torch_optims_order(ours, theirs):
    positional = [n for n, p in inspect.signature(ours).parameters.items()
                  if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert list(inspect.signature(theirs).parameters)[:len(positional)] == positional
    assert ours(_p(), 0.125).param_groups[0]["lr"] == 0.125


def test_a_new_optimizer_is_its_declarations_with_no_init():
    def sign_update(param, grad, *, lr, decay=None, weight_decay=0.0):
        param.sub_(lr * grad.sign())

    class SignSGD(_engine.FlatOptimizer):
        """signSGD: steps of the gradient's sign.

        Example:
            >>> SignSGD([torch.nn.Parameter(torch.ones(2))], 0.5).param_groups[0]["lr"]
            0.5
        """

        paper = "Bernstein et al. 2018, signSGD"
        equations = "theta <- theta - eta sign(g_t)"
        ARGS = (_engine.LR, _engine.WEIGHT_DECAY)
        DEFAULTS = {"paper": {"lr": 1e-3, "weight_decay": 0.0}}
        kernel = staticmethod(sign_update)

        def state_names(self, group):
            return {}

        def hyper(self, group, step, scalars):
            return {"lr": group["lr"]}

    assert str(inspect.signature(SignSGD)) == ("(params, lr=None, weight_decay=None, *, convention='paper', "
                                               "nonfinite='apply', fused=None)")
    assert list(_args_entries(SignSGD)) == ["params", "lr", "weight_decay", "convention", "nonfinite", "fused"]
    with pytest.raises(ValueError, match=r"^Invalid lr: inf "):
        SignSGD(_p(), lr=float("inf"))
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = SignSGD([p], lr=0.5)
    p.grad = torch.tensor([3.0, -0.1])
    opt.step()
    assert p.tolist() == [0.5, -0.5]


def test_defaults_naming_an_undeclared_hyper_parameter_are_refused_at_the_class_definition():
    with pytest.raises(TypeError, match="ARGS declare"):
        class Broken(_engine.FlatOptimizer):
            ARGS = (_engine.LR,)
            DEFAULTS = {"paper": {"lr": 0.1, "momentum": 0.9}}
