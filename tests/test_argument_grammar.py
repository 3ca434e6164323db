"""sgdlab._validation: one grammar for every argument check (the public API's own checks are walked
in tests/test_bad_arguments.py)."""

import math
import re

import numpy as np
import pytest
import torch

from sgdlab._validation import Bool, Callable_, Instance, Int, Options, Real, Seq, check, validate


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_int_accepts_python_and_numpy_integers_and_returns_a_python_int(value):
    out = check("epochs", value, Int(1))
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", ["3", 3.0, True, np.bool_(True), None, [3]])
def test_int_refuses_other_types_with_a_type_error_naming_argument_value_and_type(value):
    with pytest.raises(TypeError) as err:
        check("epochs", value, Int(1))
    assert str(err.value) == f"Invalid epochs: {value!r} of type {type(value).__name__} (expected an int >= 1)"


@pytest.mark.parametrize("value, constraint, expected", [
    (0, Int(1), "an int >= 1"), (11, Int(0, 10), "an int in [0, 10]"), (5, Int(high=4), "an int <= 4"),
])
def test_int_out_of_range_is_a_value_error_saying_what_was_expected(value, constraint, expected):
    with pytest.raises(ValueError, match=rf"^Invalid n: {value} \(expected {re.escape(expected)}\)$"):
        check("n", value, constraint)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.float64(0.5), np.int64(1), torch.tensor(0.5)])
def test_real_accepts_python_numpy_and_one_element_tensor_numbers(value):
    check("lr", value, Real(0, closed="neither"))


def test_real_returns_a_python_float_for_numbers_and_keeps_a_tensor():
    assert type(check("lr", np.float32(0.5), Real())) is float
    t = torch.tensor(0.5)
    assert check("lr", t, Real()) is t


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, np.float64("nan"), torch.tensor(float("inf"))])
def test_real_refuses_non_finite_numbers_with_a_value_error(value):
    with pytest.raises(ValueError, match=r"^Invalid lr: .* \(expected a finite number > 0\)$"):
        check("lr", value, Real(0, closed="neither"))


@pytest.mark.parametrize("value", ["0.1", True, None, torch.tensor([0.1, 0.2]), torch.tensor(True), 1j])
def test_real_refuses_strings_bools_and_multi_element_tensors_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"^Invalid lr: .* of type \w+ \(expected a finite number\)$"):
        check("lr", value, Real())


@pytest.mark.parametrize("closed, inside, outside, words", [
    ("both", [0.0, 1.0], [-0.1, 1.1], "a number in [0, 1]"),
    ("left", [0.0, 0.5], [1.0], "a number in [0, 1)"),
    ("right", [1.0], [0.0], "a number in (0, 1]"),
    ("neither", [0.5], [0.0, 1.0], "a number in (0, 1)"),
])
def test_real_interval_ends_are_open_or_closed_as_declared(closed, inside, outside, words):
    for v in inside:
        assert check("beta", v, Real(0, 1, closed=closed)) == v
    for v in outside:
        with pytest.raises(ValueError, match=re.escape(f"(expected {words})")):
            check("beta", v, Real(0, 1, closed=closed))


def test_options_are_case_insensitive_and_return_the_lower_case():
    assert check("loss", "Hinge", Options("log", "hinge")) == "hinge"


def test_options_refuse_unknown_strings_by_value_and_non_strings_by_type():
    with pytest.raises(ValueError, match=r"^Invalid loss: 'l1' \(expected one of 'log', 'hinge'\)$"):
        check("loss", "l1", Options("log", "hinge"))
    with pytest.raises(TypeError, match=r"^Invalid loss: 1 of type int \(expected one of 'log', 'hinge'\)$"):
        check("loss", 1, Options("log", "hinge"))


def test_bool_accepts_python_and_numpy_bools_only():
    assert check("lock", np.bool_(True), Bool()) is True
    with pytest.raises(TypeError, match=r"^Invalid lock: 1 of type int \(expected True or False\)$"):
        check("lock", 1, Bool())


def test_none_is_accepted_only_where_declared():
    assert check("timeout", None, Real(0), None) is None
    with pytest.raises(TypeError, match=r"expected a finite number >= 0\)$"):
        check("timeout", None, Real(0))


def test_alternatives_are_joined_in_the_message():
    with pytest.raises(TypeError, match=r"\(expected an int >= 1 or one of 'auto' or None\)$"):
        check("jobs", 1.5, Int(1), Options("auto"), None)


def test_a_value_of_an_accepted_type_but_wrong_for_every_alternative_is_a_value_error():
    with pytest.raises(ValueError):
        check("jobs", "many", Int(1), Options("auto"))


def test_sequence_names_the_wrong_item():
    pair = Seq(Real(0, 1, closed="left"), length=2)
    assert check("betas", [0.9, np.float32(0.5)], pair) == (0.9, 0.5)
    with pytest.raises(ValueError, match=re.escape("Invalid betas[1]: 1.5 (expected a number in [0, 1))")):
        check("betas", (0.9, 1.5), pair)
    with pytest.raises(TypeError, match=re.escape("Invalid betas[0]: '0.9' of type str")):
        check("betas", ("0.9", 0.5), pair)


def test_sequence_of_the_wrong_size_is_a_value_error_and_a_non_sequence_a_type_error():
    pair = Seq(Real(0, 1, closed="left"), length=2)
    with pytest.raises(ValueError, match=re.escape("Invalid betas: (0.9,) (expected a pair of numbers in [0, 1))")):
        check("betas", (0.9,), pair)
    with pytest.raises(TypeError, match="of type float"):
        check("betas", 0.9, pair)
    with pytest.raises(ValueError, match=re.escape("(expected a sequence of at least 1 ints >= 1)")):
        check("workers", [], Seq(Int(1), min_length=1))


def test_instance_and_callable_constraints():
    assert check("model", torch.nn.Linear(1, 1), Instance(torch.nn.Module, what="a torch.nn.Module"))
    with pytest.raises(TypeError, match=r"^Invalid model: 3 of type int \(expected a torch.nn.Module\)$"):
        check("model", 3, Instance(torch.nn.Module, what="a torch.nn.Module"))
    with pytest.raises(TypeError, match=r"\(expected a callable\)$"):
        check("loss_fn", "mse", Callable_())


def test_long_values_are_shortened_in_messages():
    with pytest.raises(TypeError) as err:
        check("lr", list(range(1000)), Real())
    assert len(str(err.value)) < 200 and "..." in str(err.value)


def test_validate_checks_and_converts_passed_arguments_and_keeps_the_signature():
    @validate(steps=Int(1), lr=(Real(0, closed="neither"), None))
    def run(x, steps=10, *, lr=None):
        """Doc."""
        return steps, lr

    assert run(0, np.int64(5), lr=np.float32(0.5)) == (5, 0.5)
    assert type(run(0, np.int64(5))[0]) is int
    assert run(0) == (10, None)  # defaults are not checked
    assert run.__doc__ == "Doc."
    import inspect
    assert list(inspect.signature(run).parameters) == ["x", "steps", "lr"]
    with pytest.raises(ValueError, match=r"^Invalid steps: 0 \(expected an int >= 1\)$"):
        run(0, 0)


def test_validate_refuses_a_constraint_for_a_parameter_the_function_lacks():
    with pytest.raises(TypeError, match="has no parameter stpes"):
        validate(stpes=Int(1))(lambda steps: steps)
