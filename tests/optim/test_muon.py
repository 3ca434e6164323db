"""Muon: torch.optim.Muon step for step under convention="torch", Jordan et al.'s algorithm (NumPy
float64) under convention="paper", the default routing of the other parameters to AdamW, and one
batched Newton-Schulz per shape."""

import math

import numpy as np
import pytest
import torch

import sgdlab
from sgdlab.optim import muon as muon_module

SHAPES = [(6, 4), (6, 4), (4, 9), (12, 5), (7, 7)]  # two of one shape (a batch of 2), tall, wide, square


def _params(seed=1, shapes=SHAPES, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def _train_pair(ours, theirs, ours_p, theirs_p, steps, seed=2, skip_every=0):
    """The same gradients into both (the second parameter gets none every ``skip_every`` steps), a
    scheduler changing lr at every step."""
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1.0 + 0.5 * math.cos(t)) for o in (ours, theirs)]
    gen = torch.Generator().manual_seed(seed)
    for t in range(steps):
        for i, (p, q) in enumerate(zip(ours_p, theirs_p)):
            g = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.grad, q.grad = (None, None) if skip_every and i == 1 and t % skip_every == 0 else (g, g.clone())
        ours.step()
        theirs.step()
        for s in scheds:
            s.step()


def _assert_same_to_bfloat16_rounding(ours_p, theirs_p, start):
    """The Newton-Schulz products are bfloat16, and ``bmm`` (ours) and ``mm`` (torch's) accumulate in
    different orders for some shapes: a product then rounds the other way in a rare element. After 100
    steps that leaves parameters within 1e-4 of the distance they travelled (measured); 1e-3 is
    allowed, where a wrong rule (no Nesterov, 4 iterations instead of 5, another lr adjustment) is off
    by >= 1e-2."""
    for p, q, s in zip(ours_p, theirs_p, start):
        travelled = (q.detach() - s).abs().max()
        assert travelled > 1e-3
        assert (p.detach() - q.detach()).abs().max() <= 1e-3 * travelled


@pytest.mark.parametrize("hyper", [
    {}, {"nesterov": False}, {"adjust_lr_fn": "match_rms_adamw"}, {"weight_decay": 0.3, "momentum": 0.8},
    {"ns_coefficients": (2.0, -1.5, 0.5), "ns_steps": 3, "eps": 1e-3},
], ids=lambda h: ",".join(h) or "defaults")
def test_torch_convention_follows_torch_optim_muon_for_100_steps(hyper):
    """Two param groups (the second with 10x the lr), a scheduler, a parameter that sometimes has no
    gradient; the defaults are torch's (none given but the case's)."""
    ours_p, theirs_p = _params(), _params()
    start = [p.detach().clone() for p in theirs_p]
    ours = sgdlab.optim.Muon([{"params": ours_p[:3]}, {"params": ours_p[3:]}], convention="torch", **hyper)
    theirs = torch.optim.Muon([{"params": theirs_p[:3]}, {"params": theirs_p[3:]}], **hyper)
    expected = {**theirs.defaults, "adjust_lr_fn": theirs.defaults["adjust_lr_fn"] or "original"}
    assert {k: ours.defaults[k] for k in expected} == expected
    for opt in (ours, theirs):
        opt.param_groups[1]["lr"] = 10 * opt.param_groups[0]["lr"]
    _train_pair(ours, theirs, ours_p, theirs_p, 100, skip_every=7)
    _assert_same_to_bfloat16_rounding(ours_p, theirs_p, start)
    for p, q in zip(ours_p, theirs_p):  # the momentum is float32 arithmetic on equal gradients: exact
        assert torch.equal(ours.state[p]["momentum_buffer"], theirs.state[q]["momentum_buffer"])


def test_newton_schulz_of_a_batch_is_the_newton_schulz_of_each_matrix():
    G = torch.randn(5, 12, 7, generator=torch.Generator().manual_seed(0))
    args = ((3.4445, -4.775, 2.0315), 5, 1e-7, False)
    batched = muon_module.newton_schulz(G, *args)
    assert torch.equal(batched, torch.cat([muon_module.newton_schulz(g[None], *args) for g in G]))
    s = torch.linalg.svdvals(batched.float())  # near-orthogonal: singular values pushed near 1
    assert s.min() > 0.5 and s.max() < 1.3


def test_a_step_in_cpu_chunks_is_the_step_of_the_whole_batch(monkeypatch):
    """On a CPU the batch is stepped a chunk of CPU_CHUNK_BYTES at a time: the same parameters and
    momentum as one chain over the batch."""
    def run(chunk_bytes):
        monkeypatch.setattr(muon_module, "CPU_CHUNK_BYTES", chunk_bytes)
        params = _params(shapes=[(6, 4)] * 5 + [(4, 9)] * 3)
        opt = sgdlab.optim.Muon(params, convention="torch")
        gen = torch.Generator().manual_seed(3)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen)
            opt.step()
        return [p.detach().clone() for p in params] + [opt.state[p]["momentum_buffer"].clone() for p in params]

    whole, chunked = run(2**30), run(2 * 24 * 2)  # a chunk of two (6, 4) matrices, of one (4, 9)
    assert all(torch.equal(a, b) for a, b in zip(whole, chunked))


def test_a_whole_model_is_torch_muon_on_the_matrices_and_torch_adamw_on_the_rest():
    """``Muon(model.parameters())``: weights to Muon, biases to AdamW, both with torch's defaults."""
    def model(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.Tanh(), torch.nn.Linear(10, 3))

    ours_m, theirs_m = model(0), model(0)
    ours = sgdlab.optim.Muon(ours_m.parameters(), convention="torch")
    weights = [p for p in theirs_m.parameters() if p.dim() == 2]
    rest = [p for p in theirs_m.parameters() if p.dim() != 2]
    theirs = [torch.optim.Muon(weights), torch.optim.AdamW(rest)]
    scheds = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9) for o in (ours, *theirs)]
    gen = torch.Generator().manual_seed(1)
    start = [p.detach().clone() for p in theirs_m.parameters()]
    for _ in range(100):
        x, y = torch.randn(16, 6, generator=gen), torch.randn(16, 3, generator=gen)
        for m in (ours_m, theirs_m):
            m.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
        for o in (ours, *theirs):
            o.step()
        for s in scheds:
            s.step()
    _assert_same_to_bfloat16_rounding(list(ours_m.parameters()), list(theirs_m.parameters()), start)
    bias = ours_m[0].bias
    assert set(ours.state[bias]) == {"step", "exp_avg", "exp_avg_sq"}


def _numpy_muon(weights, bias, grads, *, lr, mu, wd, adam_lr, betas, adam_eps, coeffs=(3.4445, -4.7750, 2.0315),
                ns_steps=5, eps=1e-7):
    """Jordan et al.'s Muon (their muon.py, MuonWithAuxAdam) in float64 from its algorithm:
    M <- mu M + (1 - mu) G; U = (1 - mu) G + mu M; X_0 = U / (||U||_F + eps), of U^T if tall;
    X <- a X + (b A + c A^2) X with A = X X^T; W <- W (1 - lr wd) - lr sqrt(max(1, m/n)) X.
    The bias: Adam with bias corrections, W <- W (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps)."""
    a, b, c = coeffs
    W = [w.astype(np.float64).copy() for w in weights]
    M = [np.zeros_like(w) for w in W]
    x, m1, m2 = bias.astype(np.float64).copy(), np.zeros_like(bias), np.zeros_like(bias)
    for t, (gs, gb) in enumerate(grads, start=1):
        for i, G in enumerate(gs):
            M[i] = mu * M[i] + (1 - mu) * G
            U = (1 - mu) * G + mu * M[i]
            tall = U.shape[0] > U.shape[1]
            X = U.T if tall else U
            X = X / (np.linalg.norm(X) + eps)
            for _ in range(ns_steps):
                A = X @ X.T
                X = a * X + (b * A + c * A @ A) @ X
            O = X.T if tall else X
            W[i] = W[i] * (1 - lr * wd) - lr * math.sqrt(max(1, U.shape[0] / U.shape[1])) * O
        m1 = betas[0] * m1 + (1 - betas[0]) * gb
        m2 = betas[1] * m2 + (1 - betas[1]) * gb ** 2
        m_hat, v_hat = m1 / (1 - betas[0] ** t), m2 / (1 - betas[1] ** t)
        x = x * (1 - adam_lr * wd) - adam_lr * m_hat / (np.sqrt(v_hat) + adam_eps)
    return W, x


def test_paper_convention_is_jordan_et_al_muon_to_bfloat16_rounding():
    """Against a NumPy float64 Muon (Newton-Schulz exact, where sgdlab's is bfloat16 as the paper's):
    within 3% of the distance travelled after 20 steps (measured: <= 0.4%); the wrong rules above are
    off by >= 6%. The defaults are the paper's: lr 0.02, momentum 0.95, no weight decay; AdamW lr 3e-4,
    betas (0.9, 0.95), eps 1e-10 (a weight decay is given, to check where it acts)."""
    shapes = [(6, 4), (4, 9), (12, 5)]
    params = _params(shapes=shapes + [(5,)], dtype=torch.float64)
    opt = sgdlab.optim.Muon(params, weight_decay=0.5, adamw_weight_decay=0.5)
    assert opt.defaults["lr"] == 0.02 and opt.defaults["adamw_lr"] == 3e-4
    start = [p.detach().numpy().copy() for p in params]
    gen = np.random.default_rng(0)
    grads = [([gen.standard_normal(s) for s in shapes], gen.standard_normal(5)) for _ in range(20)]
    for gs, gb in grads:
        for p, g in zip(params, [*gs, gb]):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    W, x = _numpy_muon(start[:3], start[3], grads, lr=0.02, mu=0.95, wd=0.5, adam_lr=3e-4, betas=(0.9, 0.95),
                       adam_eps=1e-10)
    for p, w, s in zip(params, W, start):
        travelled = np.abs(w - s).max()
        assert np.abs(p.detach().numpy() - w).max() <= 0.03 * travelled
    np.testing.assert_allclose(params[3].detach().numpy(), x, rtol=1e-12, atol=1e-14)  # AdamW: float64


# ---- routing -----------------------------------------------------------------------------------------


def test_default_routing_gives_matrices_to_muon_and_the_rest_to_adamw_with_its_own_defaults():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.LayerNorm(36),
                                torch.nn.Linear(36, 2))
    opt = sgdlab.optim.Muon(model.named_parameters(), lr=0.05, adamw_lr=1e-3)
    muon, adamw = opt.param_groups
    assert muon["use_muon"] and muon["param_names"] == ["0.weight", "3.weight"]
    assert not adamw["use_muon"] and adamw["param_names"] == ["0.bias", "2.weight", "2.bias", "3.bias"]
    assert (muon["lr"], adamw["lr"], adamw["betas"], adamw["eps"]) == (0.05, 1e-3, (0.9, 0.95), 1e-10)
    assert "momentum" not in adamw and "betas" not in muon and "adamw_lr" not in muon


def test_a_group_marked_use_muon_false_is_adamw_with_its_own_hyper_parameters():
    emb, head = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10)
    opt = sgdlab.optim.Muon([{"params": [emb.weight, head.weight], "use_muon": False, "lr": 0.01},
                             {"params": [head.bias], "use_muon": False}])
    assert [g["use_muon"] for g in opt.param_groups] == [False, False]
    assert [g["lr"] for g in opt.param_groups] == [0.01, 3e-4]


def test_only_vectors_all_go_to_the_adamw_group_and_train():
    x = torch.nn.Parameter(torch.tensor([1.0, -1.5], dtype=torch.float64))
    opt = sgdlab.optim.create("muon", [x], adamw_lr=0.1)
    assert [g["use_muon"] for g in opt.param_groups] == [False]
    for _ in range(200):
        opt.zero_grad()
        (x ** 2).sum().backward()
        opt.step()
    assert x.abs().max() < 0.05


def test_a_vector_in_a_group_marked_use_muon_true_is_refused_naming_it():
    lin = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"^Invalid use_muon: True \(expected False for a group with parameter "
                                         r"'bias': Muon orthogonalises parameters of 2 or more dimensions\)"):
        sgdlab.optim.Muon([{"params": list(lin.named_parameters()), "use_muon": True}])


@pytest.mark.parametrize("hyper, error, message", [
    ({"ns_steps": 0}, ValueError, r"^Invalid ns_steps: 0 \(expected an int in \[1, 99\]\)"),
    ({"ns_coefficients": (3.4, -4.7)}, ValueError, r"^Invalid ns_coefficients: \(3.4, -4.7\) \(expected a sequence "
                                                   r"of 3 finite"),
    ({"adjust_lr_fn": "rms"}, ValueError, r"^Invalid adjust_lr_fn: 'rms' \(expected one of 'original', "
                                          r"'match_rms_adamw' or None\)"),
    ({"momentum": 1.0}, ValueError, r"^Invalid momentum: 1.0 \(expected a number in \[0, 1\)\)"),
    ({"nesterov": "yes"}, TypeError, r"^Invalid nesterov: 'yes' of type str \(expected True or False\)"),
    ({"adamw_betas": (0.9, 1.0)}, ValueError, r"^Invalid adamw_betas\[1\]: 1.0 "),
    ({"adamw_lr": -1.0}, ValueError, r"^Invalid adamw_lr: -1.0 "),
    ({"convention": "keras"}, ValueError, r"^Invalid convention: 'keras' \(expected one of 'paper', 'torch': "
                                          r"Keras has no Muon\)"),
])
def test_bad_hyper_parameters_are_refused_by_name(hyper, error, message):
    with pytest.raises(error, match=message):
        sgdlab.optim.Muon(_params(), **hyper)


def test_bad_hyper_parameters_of_an_adamw_group_are_refused_by_name():
    opt = sgdlab.optim.Muon(_params())
    with pytest.raises(ValueError, match=r"^Invalid betas\[0\]: 1.5 "):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(3))], "use_muon": False, "betas": (1.5, 0.9)})
    with pytest.raises(TypeError, match=r"^Invalid use_muon: 1 of type int \(expected True or False\)"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(3))], "use_muon": 1})
    assert len(opt.param_groups) == 1


# ---- checkpoints -------------------------------------------------------------------------------------


def test_a_torch_optim_muon_checkpoint_continues_under_sgdlab_as_under_torch():
    theirs_p = _params()
    start = [p.detach().clone() for p in theirs_p]
    theirs = torch.optim.Muon(theirs_p, lr=0.01)
    gen = torch.Generator().manual_seed(3)
    for _ in range(10):
        for p in theirs_p:
            p.grad = torch.randn(p.shape, generator=gen)
        theirs.step()
    ours_p = [torch.nn.Parameter(p.detach().clone()) for p in theirs_p]
    ours = sgdlab.optim.Muon(ours_p, convention="torch")
    ours.load_state_dict(theirs.state_dict())
    assert ours.param_groups[0]["lr"] == 0.01 and ours.param_groups[0]["use_muon"]
    _train_pair(ours, theirs, ours_p, theirs_p, 90, seed=4)
    _assert_same_to_bfloat16_rounding(ours_p, theirs_p, start)


def test_a_checkpoint_routed_otherwise_is_refused():
    opt = sgdlab.optim.Muon(_params())
    sd = opt.state_dict()
    sd["param_groups"][0]["use_muon"] = False
    with pytest.raises(ValueError, match=r"^Invalid state_dict\['param_groups'\]\[0\]\['use_muon'\]: False"):
        sgdlab.optim.Muon(_params()).load_state_dict(sd)
