"""Checkpoints: torch's state_dict format, bit-identical resumption, loading across devices."""

import copy
import io

import pytest
import torch

import sgdlab

NAMES = sgdlab.optim.available()


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _train(model, opt, batches, sched=None):
    for x, y in batches:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def _batches(n, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 5, generator=gen), torch.randn(16, 2, generator=gen)) for _ in range(n)]


@pytest.mark.parametrize("name", NAMES)
def test_resuming_from_a_state_dict_continues_bit_identically(name):
    batches = _batches(30)
    straight = _model()
    opt = sgdlab.optim.create(name, straight.parameters())
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.97)
    _train(straight, opt, batches, sched)

    first = _model()
    opt1 = sgdlab.optim.create(name, first.parameters())
    sched1 = torch.optim.lr_scheduler.ExponentialLR(opt1, gamma=0.97)
    _train(first, opt1, batches[:12], sched1)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict(), "sched": sched1.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)

    resumed = _model(seed=123)  # different init: everything must come from the checkpoint
    resumed.load_state_dict(ckpt["model"])
    opt2 = sgdlab.optim.create(name, resumed.parameters())
    sched2 = torch.optim.lr_scheduler.ExponentialLR(opt2, gamma=0.97)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    _train(resumed, opt2, batches[12:], sched2)

    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_state_dict_has_torch_format_and_names():
    model = _model()
    opt = sgdlab.optim.Adam(model.parameters())
    _train(model, opt, _batches(2))
    sd = opt.state_dict()
    assert set(sd) >= {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["exp_avg"].shape == (8, 5)
    assert sd["state"][0]["step"].item() == 2.0
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)


def test_state_dict_loads_into_torch_optim():
    """The other direction of the drop-in promise: torch.optim.Adam resumes from sgdlab's checkpoint."""
    batches = _batches(10)
    ours_model, theirs_model = _model(), _model()
    ours = sgdlab.optim.Adam(ours_model.parameters(), convention="torch")
    _train(ours_model, ours, batches[:5])
    theirs_model.load_state_dict(ours_model.state_dict())
    theirs = torch.optim.Adam(theirs_model.parameters())
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    _train(ours_model, ours, batches[5:])
    _train(theirs_model, theirs, batches[5:])
    for a, b in zip(ours_model.parameters(), theirs_model.parameters()):
        torch.testing.assert_close(a, b)


def test_state_dict_saved_with_float64_state_loads_into_float32_model():
    """Loading casts state to the parameters' dtype and device, as torch.optim does (the device case
    is the same code path; tests/optim/test_cuda.py runs it across devices where a GPU exists)."""
    m64 = _model().double()
    opt64 = sgdlab.optim.Adam(m64.parameters())
    _train(m64, opt64, [(x.double(), y.double()) for x, y in _batches(3)])
    m32 = _model()
    opt32 = sgdlab.optim.Adam(m32.parameters())
    opt32.load_state_dict(opt64.state_dict())
    assert opt32.state[m32[0].weight]["exp_avg"].dtype == torch.float32
    torch.testing.assert_close(opt32.state[m32[0].weight]["exp_avg"],
                               opt64.state[m64[0].weight]["exp_avg"].float())
    _train(m32, opt32, _batches(2))  # and it keeps training


def test_loaded_state_is_the_engine_state_not_a_copy():
    model = _model()
    opt = sgdlab.optim.Adam(model.parameters())
    _train(model, opt, _batches(2))
    other = sgdlab.optim.Adam(_model().parameters())
    other.load_state_dict(opt.state_dict())
    p = other.param_groups[0]["params"][0]
    before = other.state[p]["exp_avg"].clone()
    sum(q.sum() for q in other.param_groups[0]["params"]).backward()
    other.step()
    assert not torch.equal(other.state[p]["exp_avg"], before)
    assert other.state[p]["step"].item() == 3.0


def test_state_dict_with_wrong_shapes_is_refused_naming_the_state():
    opt = sgdlab.optim.Adam(_model().parameters())
    sd = sgdlab.optim.Adam(_model().parameters()).state_dict()
    sd["state"] = {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(40)}}
    with pytest.raises(ValueError, match="exp_avg"):
        opt.load_state_dict(sd)
