"""Under ``convention="torch"`` every optimizer torch.optim has follows it step for step: same update,
same defaults, with two param groups and a scheduler that changes lr at every step."""

import math

import pytest
import torch

import sgdlab

# (sgdlab name, sgdlab hyper-parameters, torch.optim factory): no lr etc. given unless the case is
# about them, so the defaults are checked too.
CASES = {
    "sgd": ("sgd", {}, lambda p: torch.optim.SGD(p)),
    "sgd_weight_decay": ("sgd", {"weight_decay": 0.1}, lambda p: torch.optim.SGD(p, weight_decay=0.1)),
    "momentum": ("momentum", {}, lambda p: torch.optim.SGD(p, momentum=0.9)),
    "nag": ("nag", {}, lambda p: torch.optim.SGD(p, momentum=0.9, nesterov=True)),
    "adagrad": ("adagrad", {}, lambda p: torch.optim.Adagrad(p)),
    "adagrad_lr_decay": ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1},
                         lambda p: torch.optim.Adagrad(p, lr_decay=0.01, initial_accumulator_value=0.1)),
    "adadelta": ("adadelta", {}, lambda p: torch.optim.Adadelta(p)),
    "rmsprop": ("rmsprop", {}, lambda p: torch.optim.RMSprop(p)),
    "rmsprop_momentum_centered": ("rmsprop", {"momentum": 0.9, "centered": True},
                                  lambda p: torch.optim.RMSprop(p, momentum=0.9, centered=True)),
    "adam": ("adam", {}, lambda p: torch.optim.Adam(p)),
    "adam_weight_decay": ("adam", {"weight_decay": 0.05}, lambda p: torch.optim.Adam(p, weight_decay=0.05)),
    "adamax": ("adamax", {}, lambda p: torch.optim.Adamax(p)),
    "nadam": ("nadam", {}, lambda p: torch.optim.NAdam(p)),
    "amsgrad": ("amsgrad", {}, lambda p: torch.optim.Adam(p, amsgrad=True)),
    "adamw": ("adamw", {}, lambda p: torch.optim.AdamW(p)),
    "radam": ("radam", {}, lambda p: torch.optim.RAdam(p)),
    "radam_weight_decay": ("radam", {"weight_decay": 0.05}, lambda p: torch.optim.RAdam(p, weight_decay=0.05)),
    "radam_decoupled_weight_decay": ("radam", {"weight_decay": 0.1, "decoupled_weight_decay": True},
                                     lambda p: torch.optim.RAdam(p, weight_decay=0.1, decoupled_weight_decay=True)),
    "nadamw": ("nadamw", {}, lambda p: torch.optim.NAdam(p, decoupled_weight_decay=True)),
    "nadamw_weight_decay": ("nadamw", {"weight_decay": 0.1},
                            lambda p: torch.optim.NAdam(p, weight_decay=0.1, decoupled_weight_decay=True)),
}


def _groups(seed):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(5, generator=gen, dtype=torch.float64)
    c = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    return [torch.nn.Parameter(t) for t in (a, b, c)]


@pytest.mark.parametrize("case", list(CASES))
def test_torch_convention_follows_torch_optim_step_for_step(case):
    name, hyper, make_torch = CASES[case]
    ours_p, theirs_p = _groups(1), _groups(1)
    ours = sgdlab.optim.create(name, [{"params": ours_p[:2]}, {"params": ours_p[2:]}],
                               convention="torch", **hyper)
    theirs = make_torch([{"params": theirs_p[:2]}, {"params": theirs_p[2:]}])
    assert ours.defaults["lr"] == theirs.defaults["lr"]
    for opt in (ours, theirs):  # the second group has its own lr
        opt.param_groups[1]["lr"] = 10 * opt.param_groups[0]["lr"]
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0 + 0.5 * math.cos(t)) for o in (ours, theirs)]
    gen = torch.Generator().manual_seed(2)
    for _ in range(100):
        for p, q in zip(ours_p, theirs_p):
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64) * 3.0
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
        for s in scheds:
            s.step()
    for p, q in zip(ours_p, theirs_p):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)
    # state under torch's names, with torch's values
    for p, q in zip(ours_p, theirs_p):
        for key, value in theirs.state[q].items():
            torch.testing.assert_close(torch.as_tensor(ours.state[p][key], dtype=torch.float64),
                                       torch.as_tensor(value, dtype=torch.float64), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["adam", "nadam", "momentum", "radam", "nadamw_weight_decay"])
def test_torch_state_dict_loads_into_sgdlab_torch_convention(case):
    """A checkpoint of torch.optim continues under sgdlab exactly as under torch."""
    name, hyper, make_torch = CASES[case]
    theirs_p = _groups(3)
    theirs = make_torch(theirs_p)
    gen = torch.Generator().manual_seed(4)
    grads = [[torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in theirs_p] for _ in range(20)]
    for gs in grads[:10]:
        for p, g in zip(theirs_p, gs):
            p.grad = g.clone()
        theirs.step()
    ours_p = [torch.nn.Parameter(p.detach().clone()) for p in theirs_p]
    ours = sgdlab.optim.create(name, ours_p, convention="torch", **hyper)
    ours.load_state_dict(theirs.state_dict())
    for gs in grads[10:]:
        for p, q, g in zip(ours_p, theirs_p, gs):
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    for p, q in zip(ours_p, theirs_p):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)
