"""Schedule-Free's two points: train()/eval() move the parameters between y and x, steps only in train
mode, checkpoints keep the mode; recompute_bn puts batch norm's statistics at x. (The update itself,
y and x after 100 steps, is checked against the paper in test_paper_reference.py.)"""

import numpy as np
import pytest
import torch

import sgdlab
from sgdlab._validation import ArgumentTypeError, ArgumentValueError

NAMES = ["schedulefree_sgd", "schedulefree_adamw"]


def _params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(n, generator=gen, dtype=torch.float64)) for n in (6, 3)]


def _train(params, opt, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        opt.step()


def _at_x(name, steps=4):
    """(parameters, optimizer, copies of the parameters) after ``steps`` steps and ``eval()``."""
    ps = _params()
    opt = sgdlab.optim.create(name, ps)
    _train(ps, opt, steps)
    opt.eval()
    return ps, opt, [p.detach().clone() for p in ps]


@pytest.mark.parametrize("name", NAMES)
def test_a_step_in_eval_mode_is_refused_and_changes_nothing(name):
    ps, opt, at_x = _at_x(name)
    with pytest.raises(RuntimeError, match=r"eval mode.*optimizer\.train\(\)"):
        _train(ps, opt, 1)
    assert all(torch.equal(p, q) for p, q in zip(ps, at_x))


@pytest.mark.parametrize("name", NAMES)
def test_switching_twice_to_the_same_mode_moves_the_parameters_once(name):
    ps, opt, at_x = _at_x(name)
    opt.eval()
    assert all(torch.equal(p, q) for p, q in zip(ps, at_x))
    opt.train()
    at_y = [p.detach().clone() for p in ps]
    opt.train()
    assert all(torch.equal(p, q) for p, q in zip(ps, at_y))
    assert opt.training


def test_before_the_first_step_x_y_and_z_coincide():
    ps = _params()
    before = [p.detach().clone() for p in ps]
    opt = sgdlab.optim.ScheduleFreeAdamW(ps)
    opt.eval()
    assert all(torch.equal(p, q) for p, q in zip(ps, before)) and not opt.training


def test_x_is_the_uniform_average_of_the_iterates_the_steps_made_without_warmup():
    """SGD without warm-up: c_{t+1} = gamma^2 / (t gamma^2) = 1/t, so x_{T+1} = mean(z_2, ..., z_{T+1});
    with a constant gradient g, z_{t+1} = z_1 - t gamma g and the mean is z_1 - ((T + 1) / 2) gamma g."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = sgdlab.optim.ScheduleFreeSGD([p], lr=0.1, momentum=0.9)
    g = torch.tensor([1.0, -2.0], dtype=torch.float64)
    for _ in range(10):
        p.grad = g.clone()
        opt.step()
    opt.eval()
    torch.testing.assert_close(p.detach(), -(11 / 2) * 0.1 * g, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(opt.state[p]["z"], -10 * 0.1 * g, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_a_checkpoint_taken_in_eval_mode_resumes_bit_identically(name, through_a_file):
    straight = _params()
    opt = sgdlab.optim.create(name, straight)
    _train(straight, opt, 6)
    opt.eval()
    opt.train()
    _train(straight, opt, 6, seed=2)

    first = _params()
    opt1 = sgdlab.optim.create(name, first)
    _train(first, opt1, 6)
    opt1.eval()
    ckpt = through_a_file({"params": [p.detach() for p in first], "opt": opt1.state_dict()})
    resumed = [torch.nn.Parameter(t.clone()) for t in ckpt["params"]]
    opt2 = sgdlab.optim.create(name, resumed)
    opt2.load_state_dict(ckpt["opt"])
    assert not opt2.training  # the checkpoint says the weights are x
    opt2.train()
    _train(resumed, opt2, 6, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed))


def test_a_param_group_added_in_eval_mode_joins_in_eval_mode():
    ps = _params()
    opt = sgdlab.optim.ScheduleFreeSGD(ps[:1])
    _train(ps[:1], opt, 2)
    opt.eval()
    opt.add_param_group({"params": ps[1:]})
    assert not opt.training
    opt.train()
    _train(ps, opt, 2)


def test_parameters_without_a_gradient_keep_y_and_z():
    a, b = _params()
    opt = sgdlab.optim.ScheduleFreeAdamW([a, b], lr=0.1)
    a.grad, b.grad = torch.ones_like(a), torch.ones_like(b)
    opt.step()
    b_y, b_z = b.detach().clone(), opt.state[b]["z"].clone()
    a.grad, b.grad = torch.ones_like(a), None
    opt.step()
    assert torch.equal(b, b_y) and torch.equal(opt.state[b]["z"], b_z)
    assert opt.state[a]["step"].item() == 2 and opt.state[b]["step"].item() == 1


def test_gradient_noise_keeps_train_and_eval_of_the_optimizer_it_wraps():
    ps = _params()
    opt = sgdlab.optim.GradientNoise(sgdlab.optim.ScheduleFreeSGD(ps), eta=0.0)
    _train(ps, opt, 3)
    opt.eval()
    assert not opt.optimizer.training
    opt.train()
    assert opt.optimizer.training
    assert not hasattr(sgdlab.optim.GradientNoise(sgdlab.optim.SGD(_params())), "eval")


# ---- recompute_bn ------------------------------------------------------------------------------------


def _bn_model(dropout=0.0):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(dropout), torch.nn.BatchNorm1d(4),
                               torch.nn.Linear(4, 1)).double()


def _bn_inputs(model, X):
    """What the batch-norm layer sees: the first Linear of X (NumPy float64), dropout off."""
    w, b = (t.detach().numpy() for t in (model[0].weight, model[0].bias))
    return X.numpy() @ w.T + b


def test_recompute_bn_gives_the_average_of_the_batches_statistics_at_the_current_weights():
    model = _bn_model()
    X = torch.randn(96, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model.train()
    model(X + 5.0)  # statistics of other inputs, to be replaced
    assert sgdlab.optim.recompute_bn(model, list(X.split(32))) == 3
    h = [_bn_inputs(model, chunk) for chunk in X.split(32)]
    bn = model[2]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([c.mean(0) for c in h], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([c.var(0, ddof=1) for c in h], axis=0), rtol=1e-12)


def test_recompute_bn_turns_dropout_off_and_restores_every_mode_and_the_momentum():
    model = _bn_model(dropout=0.5)
    X = torch.randn(64, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model.train()
    sgdlab.optim.recompute_bn(model, [(X, torch.zeros(64))])  # (inputs, targets) batches
    h = _bn_inputs(model, X)
    np.testing.assert_allclose(model[2].running_mean.numpy(), h.mean(0), rtol=1e-12)
    assert all(m.training for m in model.modules()) and model[2].momentum == 0.1


def test_recompute_bn_takes_at_most_max_batches():
    model = _bn_model()
    X = torch.randn(90, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert sgdlab.optim.recompute_bn(model, X.split(30), max_batches=1) == 1
    np.testing.assert_allclose(model[2].running_mean.numpy(), _bn_inputs(model, X[:30]).mean(0), rtol=1e-12)


def test_recompute_bn_leaves_a_model_without_batch_norm_alone():
    assert sgdlab.optim.recompute_bn(torch.nn.Linear(3, 1), torch.zeros(4, 3)) == 0


def test_recompute_bn_refuses_no_batches_or_a_bad_batch_and_keeps_the_statistics():
    model = _bn_model()
    model(torch.randn(8, 3, dtype=torch.float64))
    before = model[2].running_mean.clone()
    with pytest.raises(ArgumentValueError, match=r"^Invalid data: \[\] \(expected at least one batch\)"):
        sgdlab.optim.recompute_bn(model, [])
    with pytest.raises(ArgumentValueError, match=r"^Invalid data: 'x' \(expected tensors"):
        sgdlab.optim.recompute_bn(model, [torch.zeros(4, 3, dtype=torch.float64), "x"])
    assert torch.equal(model[2].running_mean, before)
    with pytest.raises(ArgumentTypeError, match=r"^Invalid data: 3 of type int"):
        sgdlab.optim.recompute_bn(model, 3)
