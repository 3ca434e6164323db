"""Every sgdlab optimizer, under ``convention="paper"``, against the papers' own equations.

Each reference below is written from the paper (or from Ruder's survey where it derives the form) in
NumPy float64, independently of sgdlab. A reference step is ``step(theta, g, state, t, **hp) ->
theta``: one tensor, one step; ``state`` is a per-tensor dict that starts empty (all state 0 unless
noted) and ``t`` counts steps from 1. Weight decay, where a paper has none, is the L2 penalty added to
the gradient, g <- g + wd * theta (AdamW alone decouples it).

Hyper-parameters are non-default where that makes the test stronger: eps is large enough (1e-4 to
1e-2) that putting it inside or outside the root changes the result well past rtol, and the gradient
scale varies from step to step so that the max in AdaMax and AMSGrad is exercised.
"""

import numpy as np
import pytest
import torch

import sgdlab

STEPS = 100
SHAPES = [(7, 5), (3,)]
RTOL, ATOL = 1e-5, 1e-12


def _l2(g, theta, weight_decay):
    return g + weight_decay * theta if weight_decay else g


def _zeros(state, theta, *names, fill=0.0):
    for name in names:
        state.setdefault(name, np.full_like(theta, fill))


def ref_sgd(theta, g, s, t, lr, weight_decay=0.0):
    """Robbins & Monro 1951 (survey Sec. 2): theta <- theta - eta g."""
    g = _l2(g, theta, weight_decay)
    return theta - lr * g


def ref_momentum(theta, g, s, t, lr, momentum, weight_decay=0.0):
    """Qian 1999 (survey Sec. 4.1): v = gamma v + eta g; theta <- theta - v."""
    g = _l2(g, theta, weight_decay)
    _zeros(s, theta, "v")
    s["v"] = momentum * s["v"] + lr * g
    return theta - s["v"]


def ref_nag(phi, g, s, t, lr, momentum, weight_decay=0.0):
    """Nesterov 1983 (survey Sec. 4.2), in the look-ahead variable phi = theta - gamma v.

    The survey's v_t = gamma v_{t-1} + eta grad J(theta - gamma v_{t-1}), theta <- theta - v_t; with
    g = grad J(phi) this is v = gamma v + eta g, phi <- phi - (gamma v + eta g). The L2 penalty is
    part of J, so it is taken at phi, where the gradient is.
    """
    g = _l2(g, phi, weight_decay)
    _zeros(s, phi, "v")
    s["v"] = momentum * s["v"] + lr * g
    return phi - (momentum * s["v"] + lr * g)


def ref_adagrad(theta, g, s, t, lr, lr_decay, weight_decay, initial_accumulator_value, eps):
    """Duchi, Hazan & Singer 2011 (survey Sec. 4.3): G += g^2; theta <- theta - eta g / sqrt(G + eps).

    eps inside the root, as the survey; G starts at initial_accumulator_value and
    eta_t = eta / (1 + (t - 1) lr_decay) (torch.optim's decay).
    """
    g = _l2(g, theta, weight_decay)
    _zeros(s, theta, "G", fill=initial_accumulator_value)
    s["G"] = s["G"] + g * g
    lr_t = lr / (1.0 + (t - 1) * lr_decay)
    return theta - lr_t * g / np.sqrt(s["G"] + eps)


def ref_adadelta(theta, g, s, t, lr=1.0, rho=0.95, eps=1e-6, weight_decay=0.0):
    """Zeiler 2012, Algorithm 1: RMS[y] = sqrt(E[y^2] + eps); dx = -RMS[dx]_{t-1} / RMS[g]_t g.

    The defaults here are the paper's (rho = 0.95, eps = 1e-6, no learning rate: lr = 1).
    """
    g = _l2(g, theta, weight_decay)
    _zeros(s, theta, "Eg2", "Edx2")
    s["Eg2"] = rho * s["Eg2"] + (1 - rho) * g * g
    dx = -np.sqrt(s["Edx2"] + eps) / np.sqrt(s["Eg2"] + eps) * g
    s["Edx2"] = rho * s["Edx2"] + (1 - rho) * dx * dx
    return theta + lr * dx


def ref_rmsprop(theta, g, s, t, lr, alpha, eps, weight_decay=0.0, momentum=0.0, centered=False):
    """Hinton, Lecture 6e (survey Sec. 4.5): E = alpha E + (1 - alpha) g^2; theta -= eta g / sqrt(E + eps)."""
    assert momentum == 0.0 and not centered  # the survey's RMSprop has neither
    g = _l2(g, theta, weight_decay)
    _zeros(s, theta, "Eg2")
    s["Eg2"] = alpha * s["Eg2"] + (1 - alpha) * g * g
    return theta - lr * g / np.sqrt(s["Eg2"] + eps)


def _adam_moments(theta, g, s, t, betas):
    b1, b2 = betas
    _zeros(s, theta, "m", "v")
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    return s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)


def ref_adam(theta, g, s, t, lr, betas, eps, weight_decay=0.0):
    """Kingma & Ba 2015, Algorithm 1: debiased m_hat, v_hat; theta -= eta m_hat / (sqrt(v_hat) + eps)."""
    g = _l2(g, theta, weight_decay)
    m_hat, v_hat = _adam_moments(theta, g, s, t, betas)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamax(theta, g, s, t, lr, betas, eps, weight_decay=0.0):
    """Kingma & Ba 2015, Algorithm 2 (Sec. 7.1): u = max(beta2 u, |g|); theta -= eta/(1-beta1^t) m/u.

    The paper has no eps; sgdlab's paper convention divides by (u + eps) instead of u (documented in
    its docstring, to avoid 0/0 for coordinates with no gradient yet), so the reference does too.
    """
    b1, b2 = betas
    g = _l2(g, theta, weight_decay)
    _zeros(s, theta, "m", "u")
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["u"] = np.maximum(b2 * s["u"], np.abs(g))
    return theta - lr / (1 - b1**t) * s["m"] / (s["u"] + eps)


def ref_nadam(theta, g, s, t, lr, betas, eps, weight_decay=0.0):
    """Dozat 2016 as derived in the survey (Sec. 4.8, constant beta1):

    theta -= eta / (sqrt(v_hat) + eps) * (beta1 m_hat + (1 - beta1) g / (1 - beta1^t)).
    """
    b1, _ = betas
    g = _l2(g, theta, weight_decay)
    m_hat, v_hat = _adam_moments(theta, g, s, t, betas)
    return theta - lr / (np.sqrt(v_hat) + eps) * (b1 * m_hat + (1 - b1) * g / (1 - b1**t))


def ref_amsgrad(theta, g, s, t, lr, betas, eps, weight_decay=0.0):
    """Reddi, Kale & Kumar 2018, Algorithm 2: v_max = max(v_max, v); theta -= eta m / (sqrt(v_max) + eps).

    No bias correction (the paper has none); eps is sgdlab's guard against 0/0.
    """
    b1, b2 = betas
    g = _l2(g, theta, weight_decay)
    _zeros(s, theta, "m", "v", "vmax")
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    s["vmax"] = np.maximum(s["vmax"], s["v"])
    return theta - lr * s["m"] / (np.sqrt(s["vmax"]) + eps)


def ref_adamw(theta, g, s, t, lr, betas, eps, weight_decay):
    """Loshchilov & Hutter 2019, Algorithm 2 with eta_t = 1 (no schedule):

    theta <- theta - (alpha m_hat / (sqrt(v_hat) + eps) + lambda theta); the moments see the raw
    gradient, the decay uses theta before the step, and lambda is not multiplied by alpha.
    """
    m_hat, v_hat = _adam_moments(theta, g, s, t, betas)
    return theta - (lr * m_hat / (np.sqrt(v_hat) + eps) + weight_decay * theta)


def ref_qhm(theta, g, s, t, lr, momentum, nu, weight_decay=0.0):
    """Ma & Yarats 2019, Eq. (QHM): buf = beta buf + (1 - beta) g; theta -= alpha ((1 - nu) g + nu buf)."""
    g = _l2(g, theta, weight_decay)
    _zeros(s, theta, "buf")
    s["buf"] = momentum * s["buf"] + (1 - momentum) * g
    return theta - lr * ((1 - nu) * g + nu * s["buf"])


def ref_qhadam(theta, g, s, t, lr, betas, nus, eps, weight_decay=0.0):
    """Ma & Yarats 2019, Eq. (QHAdam):

    theta -= alpha ((1 - nu1) g + nu1 m_hat) / (sqrt((1 - nu2) g^2 + nu2 v_hat) + eps).
    """
    nu1, nu2 = nus
    g = _l2(g, theta, weight_decay)
    m_hat, v_hat = _adam_moments(theta, g, s, t, betas)
    return theta - lr * ((1 - nu1) * g + nu1 * m_hat) / (np.sqrt((1 - nu2) * g * g + nu2 * v_hat) + eps)


def ref_aggmo(theta, g, s, t, lr, betas, weight_decay=0.0):
    """Lucas, Sun, Zemel & Grosse 2019, Eq. (AggMo): v_k = beta_k v_k - g; theta += (gamma / K) sum_k v_k."""
    g = _l2(g, theta, weight_decay)
    if "v" not in s:
        s["v"] = [np.zeros_like(theta) for _ in betas]
    s["v"] = [beta * v - g for beta, v in zip(betas, s["v"])]
    return theta + lr / len(betas) * sum(s["v"])


def ref_radam(theta, g, s, t, lr, betas, eps, weight_decay=0.0):
    """Liu et al. 2020, Algorithm 2: while rho_t <= 4, theta -= alpha m_hat; after, with
    l_t = sqrt((1 - beta2^t) / v_t) and the rectification r_t, theta -= alpha r_t m_hat l_t.

    The paper has no eps; sgdlab adds it to sqrt(v_t) (as torch.optim), and so does the reference.
    """
    b1, b2 = betas
    g = _l2(g, theta, weight_decay)
    m_hat, _ = _adam_moments(theta, g, s, t, betas)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 4:
        return theta - lr * m_hat
    l_t = np.sqrt(1 - b2**t) / (np.sqrt(s["v"]) + eps)
    r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return theta - lr * r_t * m_hat * l_t


def ref_nadamw(theta, g, s, t, lr, betas, eps, weight_decay):
    """AlgoPerf's NAdamW (Dahl et al. 2023): theta <- theta (1 - eta lambda), then the survey's Nadam."""
    return ref_nadam(theta * (1 - lr * weight_decay), g, s, t, lr, betas, eps)


def ref_lion(theta, g, s, t, lr, betas, weight_decay):
    """Chen et al. 2023, Algorithm 2: c = beta1 m + (1 - beta1) g; theta -= eta (sign(c) + lambda theta);
    m = beta2 m + (1 - beta2) g."""
    b1, b2 = betas
    _zeros(s, theta, "m")
    c = b1 * s["m"] + (1 - b1) * g
    theta = theta - lr * (np.sign(c) + weight_decay * theta)
    s["m"] = b2 * s["m"] + (1 - b2) * g
    return theta


def ref_ademamix(theta, g, s, t, lr, betas, beta3, alpha, beta3_warmup, alpha_warmup, eps, weight_decay):
    """Pagliardini, Ablin & Grangier 2024, Algorithm 1, with its schedulers f_alpha and f_beta3:

    alpha(t) = min(t alpha / T, alpha);
    beta3(t) = min(exp(ln(beta1) ln(beta3) / ((1 - t/T) ln(beta3) + (t/T) ln(beta1))), beta3);
    theta -= eta ((m1_hat + alpha(t) m2) / (sqrt(nu_hat) + eps) + lambda theta).
    """
    b1, b2 = betas
    alpha_t = min(t * alpha / alpha_warmup, alpha) if alpha_warmup else alpha
    b3 = beta3
    if beta3_warmup:
        a = t / beta3_warmup
        b3 = min(np.exp(np.log(b1) * np.log(beta3) / ((1 - a) * np.log(beta3) + a * np.log(b1))), beta3)
    _zeros(s, theta, "m1", "m2", "nu")
    s["m1"] = b1 * s["m1"] + (1 - b1) * g
    s["m2"] = b3 * s["m2"] + (1 - b3) * g
    s["nu"] = b2 * s["nu"] + (1 - b2) * g * g
    m1_hat, nu_hat = s["m1"] / (1 - b1**t), s["nu"] / (1 - b2**t)
    return theta - lr * ((m1_hat + alpha_t * s["m2"]) / (np.sqrt(nu_hat) + eps) + weight_decay * theta)


def _schedulefree(y, s, t, gamma, z_step, beta):
    """Defazio et al. 2024: z <- z - z_step; x <- (1 - c) x + c z with c = gamma_t^2 / sum gamma_i^2;
    returns y = (1 - beta) z + beta x, the next gradient's point (and the parameters in train mode)."""
    if "z" not in s:
        s["z"], s["x"], s["weight_sum"] = y.copy(), y.copy(), 0.0
    s["z"] = s["z"] - z_step
    s["weight_sum"] += gamma**2
    c = gamma**2 / s["weight_sum"]
    s["x"] = (1 - c) * s["x"] + c * s["z"]
    return (1 - beta) * s["z"] + beta * s["x"]


def ref_schedulefree_sgd(y, g, s, t, lr, momentum, weight_decay, warmup_steps):
    """Defazio et al. 2024, Schedule-Free SGD with warm-up: gamma_t = gamma min(1, t / T_warmup),
    z_{t+1} = z_t - gamma_t (g_t + lambda y_t)."""
    gamma = lr * min(1.0, t / warmup_steps) if warmup_steps else lr
    return _schedulefree(y, s, t, gamma, gamma * _l2(g, y, weight_decay), momentum)


def ref_schedulefree_adamw(y, g, s, t, lr, betas, eps, weight_decay, warmup_steps):
    """Defazio et al. 2024, Algorithm 1 (Schedule-Free AdamW): gamma_t = gamma sqrt(1 - beta2^t)
    min(1, t / T_warmup); z_{t+1} = z_t - gamma_t g_t / (sqrt(v_t) + eps) - gamma_t lambda y_t."""
    b1, b2 = betas
    _zeros(s, y, "v")
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    gamma = lr * np.sqrt(1 - b2**t) * (min(1.0, t / warmup_steps) if warmup_steps else 1.0)
    return _schedulefree(y, s, t, gamma, gamma * (g / (np.sqrt(s["v"]) + eps) + weight_decay * y), b1)


# name -> (sgdlab class name, constructor hyper-parameters, reference step, reference hyper-parameters)
# The reference receives the same hyper-parameters as the constructor unless given its own (Adadelta:
# constructed with no arguments at all, to check the paper defaults).
CASES = {
    "sgd": ("SGD", dict(lr=0.05, weight_decay=0.01), ref_sgd),
    "momentum": ("Momentum", dict(lr=0.02, momentum=0.8, weight_decay=0.005), ref_momentum),
    "nag": ("NAG", dict(lr=0.02, momentum=0.85, weight_decay=0.005), ref_nag),
    "adagrad": (
        "Adagrad",
        dict(lr=0.1, lr_decay=0.01, weight_decay=0.002, initial_accumulator_value=0.3, eps=1e-2),
        ref_adagrad,
    ),
    "adadelta": ("Adadelta", dict(), ref_adadelta),
    "rmsprop": (
        "RMSprop",
        dict(lr=0.01, alpha=0.8, eps=1e-3, weight_decay=0.01, momentum=0.0, centered=False),
        ref_rmsprop,
    ),
    "adam": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.01), ref_adam),
    "adamax": ("AdaMax", dict(lr=0.02, betas=(0.85, 0.99), eps=1e-3, weight_decay=0.01), ref_adamax),
    "nadam": ("Nadam", dict(lr=0.01, betas=(0.85, 0.995), eps=1e-3, weight_decay=0.01), ref_nadam),
    "amsgrad": ("AMSGrad", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.01), ref_amsgrad),
    "adamw": ("AdamW", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.02), ref_adamw),
    "qhm": ("QHM", dict(lr=0.05, momentum=0.9, nu=0.6, weight_decay=0.01), ref_qhm),
    "qhadam": (
        "QHAdam",
        dict(lr=0.01, betas=(0.9, 0.99), nus=(0.6, 0.8), eps=1e-3, weight_decay=0.01),
        ref_qhadam,
    ),
    "aggmo": ("AggMo", dict(lr=0.01, betas=(0.0, 0.5, 0.9, 0.97), weight_decay=0.01), ref_aggmo),
    "radam": ("RAdam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.01), ref_radam),
    "nadamw": ("NAdamW", dict(lr=0.01, betas=(0.85, 0.995), eps=1e-3, weight_decay=0.05), ref_nadamw),
    "lion": ("Lion", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.5), ref_lion),
    "ademamix": (
        "AdEMAMix",
        dict(lr=0.01, betas=(0.8, 0.99), beta3=0.995, alpha=3.0, beta3_warmup=40, alpha_warmup=60, eps=1e-3,
             weight_decay=0.02),
        ref_ademamix,
    ),
    "schedulefree_sgd": ("ScheduleFreeSGD", dict(lr=0.05, momentum=0.8, weight_decay=0.01, warmup_steps=10),
                         ref_schedulefree_sgd),
    "schedulefree_adamw": (
        "ScheduleFreeAdamW", dict(lr=0.05, betas=(0.85, 0.99), eps=1e-3, weight_decay=0.02, warmup_steps=10),
        ref_schedulefree_adamw,
    ),
}


def _problem(seed):
    """Initial parameters and STEPS gradients per parameter, the gradient scale varying per step."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(shape) for shape in SHAPES]
    scales = 10.0 ** rng.uniform(-1.0, 0.7, size=STEPS)
    grads = [[scale * rng.standard_normal(shape) for shape in SHAPES] for scale in scales]
    return init, grads


def _run_sgdlab(opt, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.from_numpy(g.copy())  # a copy: the reference must see the original
        opt.step()
    return [p.detach().numpy() for p in params]


def _run_reference(ref, init, grads, hp):
    thetas = [x.copy() for x in init]
    states = [{} for _ in thetas]
    for t, step_grads in enumerate(grads, start=1):
        thetas = [ref(th, g, s, t, **hp) for th, g, s in zip(thetas, step_grads, states)]
    return thetas


@pytest.mark.parametrize("name", list(CASES))
def test_paper_convention_matches_numpy_equations(name):
    cls_name, hp, ref = CASES[name]
    init, grads = _problem(seed=1234)
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    opt = getattr(sgdlab.optim, cls_name)(params, **hp)

    got = _run_sgdlab(opt, params, grads)
    expected = _run_reference(ref, init, grads, hp)

    for i, (g, e, x0) in enumerate(zip(got, expected, init)):
        assert g.dtype == np.float64
        assert not np.allclose(e, x0, rtol=1e-3), "reference barely moved: the test would be vacuous"
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL, err_msg=f"{name}, parameter {i}")


def test_param_groups_use_their_own_hyper_parameters():
    """Two Adam groups: the first takes the constructor's lr, the second overrides lr, betas, eps and
    weight_decay; each must follow Kingma & Ba with its own values."""
    init, grads = _problem(seed=99)
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    group_hp = [
        dict(lr=0.02, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.0),
        dict(lr=0.003, betas=(0.5, 0.9), eps=1e-2, weight_decay=0.05),
    ]
    opt = sgdlab.optim.Adam(
        [
            {"params": [params[0]], "betas": group_hp[0]["betas"]},
            {"params": [params[1]], **group_hp[1]},
        ],
        lr=group_hp[0]["lr"],
        eps=group_hp[0]["eps"],
    )

    got = _run_sgdlab(opt, params, grads)
    for i, hp in enumerate(group_hp):
        expected = _run_reference(ref_adam, [init[i]], [[g[i]] for g in grads], hp)[0]
        np.testing.assert_allclose(got[i], expected, rtol=RTOL, atol=ATOL, err_msg=f"group {i}")


@pytest.mark.parametrize("name", ["schedulefree_sgd", "schedulefree_adamw"])
def test_schedule_free_eval_moves_the_parameters_to_the_papers_average_x_and_train_back_to_y(name):
    """In train mode the parameters are y (checked above); ``eval()`` puts them at x, the paper's
    answer, and ``train()`` back at y."""
    cls_name, hp, ref = CASES[name]
    init, grads = _problem(seed=7)
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    opt = getattr(sgdlab.optim, cls_name)(params, **hp)
    y = [a.copy() for a in _run_sgdlab(opt, params, grads)]  # copies: the parameters move
    states = [{} for _ in init]
    thetas = [x.copy() for x in init]
    for t, step_grads in enumerate(grads, start=1):
        thetas = [ref(th, g, s, t, **hp) for th, g, s in zip(thetas, step_grads, states)]
    opt.eval()
    for p, s in zip(params, states):
        assert not np.allclose(s["x"], s["z"], rtol=1e-2), "x = z: the test could not tell them apart"
        np.testing.assert_allclose(p.detach().numpy(), s["x"], rtol=RTOL, atol=ATOL)
    opt.train()
    for p, y_before in zip(params, y):
        np.testing.assert_allclose(p.detach().numpy(), y_before, rtol=1e-13, atol=1e-15)
