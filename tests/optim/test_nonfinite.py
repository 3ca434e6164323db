"""Non-finite gradients: applied (as torch), skipped (parameters and state untouched, counted), or
raised (naming the parameter)."""

import pytest
import torch

import sgdlab


def _setup(nonfinite, name="adam"):
    model = torch.nn.Linear(3, 2)
    opt = sgdlab.optim.create(name, model.named_parameters(), nonfinite=nonfinite)
    for _ in range(3):  # some state to protect
        opt.zero_grad()
        model(torch.ones(1, 3)).sum().backward()
        opt.step()
    opt.zero_grad()
    model(torch.ones(1, 3)).sum().backward()
    model.bias.grad[1] = float("nan")
    return model, opt


def test_apply_lets_nan_into_the_parameters_as_torch_does():
    model, opt = _setup("apply")
    opt.step()
    assert torch.isnan(model.bias).any()


@pytest.mark.parametrize("name", sgdlab.optim.available())
def test_skip_leaves_parameters_and_state_untouched_and_counts(name):
    model, opt = _setup("skip", name)
    params = [p.detach().clone() for p in model.parameters()]
    state = {k: v.clone() for k, v in opt.state_dict()["state"][0].items()}
    opt.step()
    assert opt.skipped_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(params, model.parameters()))
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(v, state[k]), k
    opt.zero_grad()
    model(torch.ones(1, 3)).sum().backward()
    opt.step()  # a finite step goes through again
    assert opt.skipped_steps == 1
    assert not torch.equal(params[0], model.weight)


def test_skip_catches_inf_too():
    model, opt = _setup("skip")
    model.bias.grad[1] = float("inf")
    opt.step()
    assert opt.skipped_steps == 1


def test_raise_names_the_parameter_and_updates_nothing():
    model, opt = _setup("raise")
    before = model.weight.detach().clone()
    with pytest.raises(FloatingPointError, match="'bias'"):
        opt.step()
    assert torch.equal(before, model.weight)
