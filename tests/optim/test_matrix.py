"""The per-shape path (optim/matrix.py), for each matrix-aware optimizer: one call of its rule per shape
and step, a batch steps as each of its parameters alone, state as per-parameter views of the batch,
parameters without a gradient, moved models, and every model of sgdlab.models."""

import pytest
import torch

import sgdlab

NAMES = ["adafactor", "muon", "soap"]


@pytest.mark.parametrize("name", NAMES)
def test_one_call_of_the_rule_updates_every_parameter_of_a_shape(name, monkeypatch):
    cls = sgdlab.optim.get(name)
    calls = []
    real = cls.shape_kernel
    monkeypatch.setattr(cls, "shape_kernel",
                        staticmethod(lambda p, g, **kw: calls.append(tuple(p.shape)) or real(p, g, **kw)))
    params = [torch.nn.Parameter(torch.randn(s)) for s in [(8, 4)] * 5 + [(4, 8)] * 3 + [(4,)] * 2]
    opt = sgdlab.optim.create(name, params, fused=False)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    per_step = [(5, 8, 4), (3, 4, 8)] + ([] if name == "muon" else [(2, 4)])  # Muon: vectors to AdamW
    assert sorted(calls) == sorted(per_step * 2)


@pytest.mark.parametrize("name", NAMES)
def test_a_batch_steps_as_each_of_its_parameters_alone(name):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(4, 6, 5, generator=gen, dtype=torch.float64)
    grads = torch.randn(25, 4, 6, 5, generator=gen, dtype=torch.float64)
    batch = [torch.nn.Parameter(w.clone()) for w in start]
    alone = [torch.nn.Parameter(w.clone()) for w in start]
    opts = [sgdlab.optim.create(name, batch)] + [sgdlab.optim.create(name, [p]) for p in alone]
    for gs in grads:
        for p, q, g in zip(batch, alone, gs):
            p.grad, q.grad = g.clone(), g.clone()
        for o in opts:
            o.step()
    for p, q in zip(batch, alone):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_the_state_of_each_parameter_is_a_view_of_its_shapes_batch(name):
    params = [torch.nn.Parameter(torch.randn(6, 5)) for _ in range(3)]
    opt = sgdlab.optim.create(name, params)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    first, *others = (opt.state[p] for p in params)
    for key, value in first.items():
        if key != "step":
            assert all(st[key].untyped_storage().data_ptr() == value.untyped_storage().data_ptr() for st in others)
            assert all(st[key].shape == value.shape for st in others)


@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_without_a_gradient_is_left_alone_and_the_others_of_its_shape_step(name):
    params = [torch.nn.Parameter(torch.randn(6, 5)) for _ in range(3)]
    opt = sgdlab.optim.create(name, params)
    for step in range(3):
        for i, p in enumerate(params):
            p.grad = None if i == 1 and step == 2 else torch.randn_like(p)
        before = params[1].detach().clone()
        opt.step()
    assert torch.equal(params[1].detach(), before)
    assert [opt.state[p]["step"].item() for p in params] == [3, 2, 3]


@pytest.mark.parametrize("name", NAMES)
def test_moving_the_model_to_another_dtype_keeps_the_state(name):
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Linear(6, 6), torch.nn.Linear(6, 2))
    opt = sgdlab.optim.create(name, model.parameters())
    x = torch.randn(8, 5)
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    kept = {k: v.clone() for k, v in opt.state[model[1].weight].items()}
    model.double()
    opt.zero_grad()
    model(x.double()).square().mean().backward()
    opt.step()
    state = opt.state[model[1].weight]
    assert state["step"].item() == 4
    assert all(state[k].dtype == torch.float64 for k in kept if k != "step")


MODELS = {
    "logistic": (lambda: sgdlab.models.LogisticRegression(5, 3), lambda: (torch.randn(8, 5), torch.randint(3, (8,)))),
    "mlp": (lambda: sgdlab.models.MLP(5, hidden=(8,), out_features=3, batch_norm=True),
            lambda: (torch.randn(8, 5), torch.randint(3, (8,)))),
    "cnn": (lambda: sgdlab.models.SmallCNN(), lambda: (torch.randn(4, 1, 8, 8), torch.randint(10, (4,)))),
    "charlm": (lambda: sgdlab.models.CharLM(12, embed_dim=8, hidden=16), lambda: torch.randint(12, (4, 10))),
}


def _loss(model, batch):
    if isinstance(model, sgdlab.models.CharLM):
        logits, _ = model(batch[:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 12), batch[:, 1:].reshape(-1))
    x, y = batch
    return torch.nn.functional.cross_entropy(model(x), y)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("name", NAMES)
def test_create_trains_every_model_of_sgdlab_models(name, model):
    """``sgdlab.optim.create(name, model.parameters())`` with the defaults: biases, norms' gains, conv
    kernels, an embedding and a GRU's matrices, each where the optimizer puts it."""
    torch.manual_seed(0)
    make, data = MODELS[model]
    net, batch = make(), data()
    opt = sgdlab.optim.create(name, net.parameters())
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = _loss(net, batch)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_the_lab_races_them_on_beale_from_their_default_rates():
    """A test function's point is a vector: Adafactor factors nothing, SOAP is Adam, Muon gives it to
    its AdamW group (the race's rate is its adamw_lr)."""
    race = sgdlab.lab.race("beale", NAMES, steps=300)
    start = sgdlab.lab.get("beale").value(torch.tensor(sgdlab.lab.SCENES["beale"]["start"], dtype=torch.float64))
    for name, res in race.results.items():
        assert not res.diverged and res.fun < 0.1 * float(start), name
