"""The fast path: each update compiled into one fused kernel over the flat buffers (``fused=True``)
agrees with the eager reference path (``fused=False``) and keeps everything the core promises."""

import math
import warnings

import pytest
import torch
from torch._dynamo.utils import counters

import sgdlab
from sgdlab.optim import _engine

CASES = [(name, conv) for name in sgdlab.optim.available()
         for conv in sgdlab.optim.get(name).DEFAULTS]


def _params(dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(n, generator=gen, dtype=dtype)) for n in (300, 17, 1000)]


def _train(params, opt, steps, seed=1, sched=None):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:  # fresh gradient tensors, as after zero_grad(set_to_none=True)
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        opt.step()
        if sched is not None:
            sched.step()


def _two_groups(name, conv, fused, dtype=torch.float64, **hyper):
    ps = _params(dtype)
    opt = sgdlab.optim.create(name, [{"params": ps[:2]}, {"params": ps[2:]}], convention=conv,
                              fused=fused, **hyper)
    opt.param_groups[1]["lr"] = 3 * opt.param_groups[0]["lr"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 + 0.5 * math.cos(t))
    return ps, opt, sched


@pytest.mark.parametrize("name, conv", CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_fused_path_matches_eager_reference_after_100_steps(name, conv):
    """Two param groups with their own lr, an lr scheduler changing lr at every step."""
    runs = []
    for fused in (False, True):
        ps, opt, sched = _two_groups(name, conv, fused)
        _train(ps, opt, 100, sched=sched)
        runs.append(ps)
    assert _engine.compile_available(), _engine._COMPILE_FAILED  # the fast path really ran
    for eager, fast in zip(*runs):
        torch.testing.assert_close(fast.detach(), eager.detach(), rtol=1e-6, atol=0.0)


@pytest.mark.parametrize("name, conv, hyper", [("adam", "torch", {"weight_decay": 0.1}),
                                               ("sgd", "keras", {"weight_decay": 0.1}),
                                               ("adamw", "paper", {})])
def test_fused_path_applies_weight_decay_as_the_reference(name, conv, hyper):
    runs = []
    for fused in (False, True):
        ps, opt, sched = _two_groups(name, conv, fused, **hyper)
        _train(ps, opt, 50, sched=sched)
        runs.append(ps)
    for eager, fast in zip(*runs):
        torch.testing.assert_close(fast.detach(), eager.detach(), rtol=1e-6, atol=0.0)


@pytest.mark.parametrize("name", ["adam", "adadelta", "nadam"])
def test_fused_float32_matches_eager_to_rounding(name):
    """In float32 the fused kernel rounds once where eager rounds after every op: the two agree to a
    few float32 ulps of the O(1) parameters after 100 steps."""
    runs = []
    for fused in (False, True):
        ps = _params(torch.float32)
        _train(ps, sgdlab.optim.create(name, ps, fused=fused), 100)
        runs.append(ps)
    for eager, fast in zip(*runs):
        torch.testing.assert_close(fast.detach(), eager.detach(), rtol=1e-6, atol=1e-6)


def test_changing_lr_every_step_does_not_recompile():
    ps, opt, sched = _two_groups("adam", "paper", True)
    _train(ps, opt, 2, sched=sched)  # compiles (or loads from the cache) once
    before = counters["stats"]["unique_graphs"]
    _train(ps, opt, 30, sched=sched)  # new lr, new step count, new bias corrections every step
    assert counters["stats"]["unique_graphs"] == before


def test_fused_path_leaves_parameters_without_gradient_untouched():
    ps = _params(torch.float32)
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    fast, eager = sgdlab.optim.Adam(ps, fused=True), sgdlab.optim.Adam(ref, fused=False)
    for step in range(6):
        for opt, params in ((fast, ps), (eager, ref)):
            opt.zero_grad()
            active = params if step % 3 else params[:1] + params[2:]
            sum((p ** 2).sum() for p in active).backward()
            opt.step()
    for p, q in zip(ps, ref):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
    assert fast.state[ps[1]]["step"].item() == 4


def test_fused_state_dict_round_trip_continues_identically():
    straight = _params()
    opt = sgdlab.optim.Nadam(straight, fused=True, convention="torch")
    _train(straight, opt, 20)

    first = _params()
    opt1 = sgdlab.optim.Nadam(first, fused=True, convention="torch")
    _train(first, opt1, 8)
    resumed = [torch.nn.Parameter(p.detach().clone()) for p in first]
    opt2 = sgdlab.optim.Nadam(resumed, fused=True, convention="torch")
    opt2.load_state_dict(opt1.state_dict())
    gen = torch.Generator().manual_seed(1)
    for _ in range(8):  # replay the gradients the first 8 steps consumed
        for p in resumed:
            torch.randn(p.shape, generator=gen, dtype=p.dtype)
    for _ in range(12):
        for p in resumed:
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        opt2.step()
    for a, b in zip(straight, resumed):
        assert torch.equal(a, b)


def test_fused_path_with_float32_float64_and_bfloat16_in_one_model():
    dtypes = (torch.float32, torch.float64, torch.bfloat16)
    runs = []
    for fused in (False, True):
        ps = [torch.nn.Parameter(torch.linspace(-1, 1, 64, dtype=dt)) for dt in dtypes]
        opt = sgdlab.optim.Adam(ps, lr=1e-2, fused=fused)
        for _ in range(10):
            opt.zero_grad()
            sum((p.float() ** 2).sum() for p in ps).backward()
            opt.step()
        runs.append(ps)
    for eager, fast, dt in zip(*runs, dtypes):
        assert fast.dtype == dt
        # bfloat16: the fused kernel computes in float32 and rounds once; eager rounds every op.
        tol = {"rtol": 2e-2, "atol": 2e-2} if dt == torch.bfloat16 else {"rtol": 1e-6, "atol": 1e-6}
        torch.testing.assert_close(fast, eager, **tol)


def test_torch_compile_of_a_training_step_that_calls_opt_step():
    def run(compiled):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        opt = sgdlab.optim.Adam(model.parameters(), lr=1e-2, fused=compiled)
        x, y = torch.randn(32, 8), torch.randn(32, 1)

        def train_step():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss

        step = torch.compile(train_step) if compiled else train_step
        losses = [step().item() for _ in range(10)]
        return model, losses

    (eager_model, _), (fast_model, fast_losses) = run(False), run(True)
    assert fast_losses[-1] < fast_losses[0]
    for p, q in zip(fast_model.parameters(), eager_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-5)


def test_default_compiles_only_large_buckets():
    small = sgdlab.optim.Adam(_params(torch.float32))
    large = sgdlab.optim.Adam([torch.nn.Parameter(torch.zeros(_engine.FUSED_MIN_NUMEL))])
    assert not small._use_fused(small._buckets[0][0])
    assert large._use_fused(large._buckets[0][0]) == _engine.compile_available()


def test_falls_back_to_eager_with_one_warning_where_compilation_fails(monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(_engine, "_COMPILED", {})
    monkeypatch.setattr(_engine, "_COMPILE_FAILED", [])
    ps, ref = _params(), _params()
    opt, eager = sgdlab.optim.Adam(ps, fused=True), sgdlab.optim.Adam(ref, fused=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _train(ps, opt, 5)
    _train(ref, eager, 5)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "no C++ compiler" in messages[0]
    for p, q in zip(ps, ref):
        assert torch.equal(p, q)


def test_an_error_of_the_callers_making_is_raised_not_taken_for_missing_compilation(monkeypatch):
    def update_that_refuses(param, grad, *, lr, **kwargs):
        raise ValueError("refused by the update itself")

    monkeypatch.setattr(_engine, "_COMPILE_FAILED", [])
    monkeypatch.setattr(sgdlab.optim.SGD, "kernel", staticmethod(update_that_refuses))
    p = torch.nn.Parameter(torch.ones(4))
    opt = sgdlab.optim.SGD([p], fused=True)
    p.grad = torch.ones(4)
    with pytest.raises(ValueError, match="refused by the update itself"):
        opt.step()
    assert _engine.compile_available()
