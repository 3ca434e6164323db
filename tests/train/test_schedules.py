"""InverseTimeDecay and SearchThenConverge against their formulas, inside torch's scheduler API; and
fit's use of schedulers (ReduceLROnPlateau gets the validation loss)."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import ChainedScheduler, ExponentialLR, ReduceLROnPlateau

import sgdlab
from sgdlab.train import InverseTimeDecay, SearchThenConverge, fit, schedules


def _opt(lrs=(0.3,)):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    return sgdlab.optim.SGD(groups)


def _run(sched, opt, steps):
    lrs = []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


def test_inverse_time_decay_follows_eta0_over_1_plus_kt():
    opt = _opt((0.3, 0.02))
    sched = InverseTimeDecay(opt, k=0.25)
    assert sched.get_last_lr() == [0.3, 0.02]
    for t, lrs in enumerate(_run(sched, opt, 40), start=1):
        assert lrs == pytest.approx([0.3 / (1 + 0.25 * t), 0.02 / (1 + 0.25 * t)], rel=1e-12)
    assert [g["lr"] for g in opt.param_groups] == lrs


def test_search_then_converge_follows_eta0_over_1_plus_t_over_tau():
    opt = _opt((0.5,))
    sched = SearchThenConverge(opt, tau=8)
    for t, lrs in enumerate(_run(sched, opt, 40), start=1):
        assert lrs[0] == pytest.approx(0.5 / (1 + t / 8), rel=1e-12)
    # search: ~eta_0 for t << tau; converge: ~eta_0 tau / t for t >> tau
    opt = _opt((0.5,))
    sched = SearchThenConverge(opt, tau=1000)
    assert _run(sched, opt, 5)[-1][0] == pytest.approx(0.5, rel=0.01)
    opt = _opt((0.5,))
    sched = SearchThenConverge(opt, tau=2)
    assert _run(sched, opt, 2000)[-1][0] == pytest.approx(0.5 * 2 / 2000, rel=0.01)


def test_zero_k_is_constant():
    opt = _opt()
    assert [lrs[0] for lrs in _run(InverseTimeDecay(opt, k=0), opt, 5)] == [0.3] * 5


@pytest.mark.parametrize("cls", [InverseTimeDecay, SearchThenConverge])
def test_state_dict_resumes_the_schedule(cls):
    arg = 0.5 if cls is InverseTimeDecay else 3.0
    opt = _opt()
    sched = cls(opt, arg)
    _run(sched, opt, 7)
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    assert sched_state["last_epoch"] == 7

    opt2 = _opt()
    sched2 = cls(opt2, arg)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    resumed = _run(sched2, opt2, 3)
    straight = _run(sched, opt, 3)
    assert [lr for (lr,) in resumed] == pytest.approx([lr for (lr,) in straight], rel=1e-12)
    rate = 0.5 if cls is InverseTimeDecay else 1 / 3.0
    assert resumed[-1][0] == pytest.approx(0.3 / (1 + rate * 10), rel=1e-12)


def test_composes_with_torch_schedulers_in_a_chain():
    opt = _opt()
    chain = ChainedScheduler([InverseTimeDecay(opt, k=0.5), ExponentialLR(opt, gamma=0.9)])
    for t, lrs in enumerate(_run(chain, opt, 10), start=1):
        assert lrs[0] == pytest.approx(0.3 * 0.9 ** t / (1 + 0.5 * t), rel=1e-12)


def test_step_with_an_epoch_uses_the_closed_form():
    opt = _opt()
    sched = InverseTimeDecay(opt, k=0.5)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch deprecates step(epoch)
        sched.step(6)
    assert sched.get_last_lr()[0] == pytest.approx(0.3 / 4, rel=1e-12)


def test_drives_a_gradient_noise_wrapped_optimizer():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = sgdlab.optim.GradientNoise(sgdlab.optim.SGD([p], lr=0.1), eta=0.01)
    sched = SearchThenConverge(opt, tau=2)
    for _ in range(4):
        p.grad = torch.zeros(2)
        opt.step()
        sched.step()
    assert opt.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 / 3)


@pytest.mark.parametrize("make, match", [
    (lambda o: InverseTimeDecay(o, k=-1), "Invalid k: -1"),
    (lambda o: InverseTimeDecay(o, k=float("nan")), "Invalid k: nan"),
    (lambda o: SearchThenConverge(o, tau=0), "Invalid tau: 0"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make(_opt())


def test_a_search_time_that_is_not_a_number_is_a_type_error():
    with pytest.raises(TypeError, match="Invalid tau: '5' of type str"):
        SearchThenConverge(_opt(), tau="5")


def test_module_exports():
    assert schedules.InverseTimeDecay is InverseTimeDecay
    assert schedules.SearchThenConverge is SearchThenConverge


# ---- in fit ----------------------------------------------------------------------------------------

def test_fit_steps_the_scheduler_once_per_epoch(regression):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    opt = sgdlab.optim.SGD(model.parameters(), lr=0.2)
    h = fit(model, F.mse_loss, (X, y), optimizer=opt, epochs=6, batch_size=8,
            scheduler=InverseTimeDecay(opt, k=0.5), progress=False)
    assert h.lr == pytest.approx([0.2 / (1 + 0.5 * e) for e in range(6)], rel=1e-12)


def test_fit_accepts_a_scheduler_factory_for_an_optimizer_by_name(regression):
    X, y = regression
    h = fit(torch.nn.Linear(3, 1), F.mse_loss, (X, y), optimizer="sgd", epochs=3,
            scheduler=lambda opt: SearchThenConverge(opt, tau=1), progress=False)
    lr0 = sgdlab.optim.SGD.DEFAULTS["paper"]["lr"]
    assert h.lr == pytest.approx([lr0, lr0 / 2, lr0 / 3], rel=1e-12)


def test_reduce_lr_on_plateau_gets_the_validation_loss(regression, scripted_val):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    opt = sgdlab.optim.SGD(model.parameters(), lr=0.01)
    plateau = ReduceLROnPlateau(opt, factor=0.1, patience=2)
    # The training loss keeps falling; the validation loss stops improving after epoch 2, so the
    # rate drops only because the scheduler sees the validation loss: after 3 bad epochs > patience.
    h = fit(model, scripted_val([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]), (X, y), val=(X[:8], y[:8]),
            optimizer=opt, epochs=7, batch_size=8, scheduler=plateau, progress=False)
    assert h.train_loss[-1] < h.train_loss[0]
    assert h.lr == pytest.approx([0.01] * 5 + [0.001] * 2)


def test_reduce_lr_on_plateau_gets_the_training_loss_without_val(regression):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    opt = sgdlab.optim.SGD(model.parameters(), lr=0.01)

    def flat_loss(out, y):  # a constant training loss: a plateau from the start
        return 0 * out.sum() + 1.0

    h = fit(model, flat_loss, (X, y), optimizer=opt, epochs=6, batch_size=None,
            scheduler=ReduceLROnPlateau(opt, factor=0.5, patience=1), progress=False)
    # epoch 1 sets the best; epochs 2 and 3 are bad (> patience 1): halve after 3, again after 5
    assert h.lr == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.0025])
