"""The simulation of N workers (``simulate_workers``) against the model it documents, written out by
hand in NumPy for a least-squares model: the cyclic order of the asynchronous algorithms, EASGD's
exchanges, DiLoCo's rounds, the staleness and the bytes; and the vectorised gradients against one
backward pass per worker. No Ray here."""

import numpy as np
import pytest
import torch

from sgdlab.distributed import simulate_workers
from sgdlab.distributed.simulate import Replicas
from sgdlab.problems import Task

N_EX, D, B, SEED = 40, 3, 4, 5
MSE = torch.nn.functional.mse_loss


@pytest.fixture
def task():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(N_EX, D, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)
    model = torch.nn.Linear(D, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.3, 0.2, -0.1]], dtype=torch.float64))
    return Task(model=model, loss_fn=MSE, train=(X, y), val=(X, y), test=(X, y))


def x0_of(task):
    return task.model.weight.detach().numpy().ravel().copy()


def batch(task, workers, step):
    """The documented minibatches: row i of default_rng([seed, 11, step]).integers(0, n, (N, B))."""
    X, y = (t.numpy() for t in task.train)
    rows = np.random.default_rng([SEED, 11, step]).integers(0, N_EX, (workers, B))
    return [(X[r], y[r].ravel()) for r in rows]


def grad(w, Xb, yb):
    return 2.0 / len(Xb) * Xb.T @ (Xb @ w - yb)


def run(task, algorithm, **kw):
    return simulate_workers(algorithm, task, batch_size=B, seed=SEED, **kw)


def test_downpour_workers_take_turns_each_pushing_the_gradient_at_its_last_read(task):
    N, R, lr = 3, 3, 0.05
    result = run(task, "downpour", workers=N, rounds=R, optimizer="sgd", lr=lr)
    server = x0_of(task)
    reads = [server.copy() for _ in range(N)]
    for r in range(R):
        grads = [grad(reads[i], *b) for i, b in enumerate(batch(task, N, r))]
        for i in range(N):                 # in turn: push, then read the parameters again
            server = server - lr * grads[i]
            reads[i] = server.copy()
    np.testing.assert_allclose(result.params, server, rtol=1e-12)
    # the first round's pushes are 0, 1, 2 updates late, every later one N - 1
    assert result.staleness == {0: 1, 1: 1, 2: 1 + N * (R - 1)}
    assert result.updates == result.steps == N * R


def test_easgd_exchanges_in_turn_with_the_centre_then_takes_tau_local_steps(task):
    N, R, tau, lr, alpha = 2, 3, 2, 0.05, 0.3
    result = run(task, "easgd", workers=N, rounds=R, tau=tau, lr=lr, alpha=alpha)
    centre = x0_of(task)
    xs = [centre.copy() for _ in range(N)]
    for r in range(R):
        before = [x.copy() for x in xs]
        for i in range(N):                 # the paper's Algorithm 1 at t = r tau, worker after worker
            d = alpha * (xs[i] - centre)
            xs[i], centre = xs[i] - d, centre + d
        if r < R - 1:                      # the last round: only the exchange
            for h in range(tau):
                at = before if h == 0 else xs   # the first gradient at x before the elastic step
                xs = [xs[i] - lr * grad(at[i], *b) for i, b in enumerate(batch(task, N, r * tau + h))]
    np.testing.assert_allclose(result.params, centre, rtol=1e-12)
    assert result.updates == N * R and result.steps == N * (R - 1) * tau


def test_diloco_with_outer_sgd_at_lr_1_averages_the_workers_after_h_inner_steps(task):
    N, R, H, lr = 3, 2, 3, 0.05
    result = run(task, "diloco", workers=N, rounds=R, inner_steps=H, optimizer="sgd", lr=lr,
                 outer_optimizer="sgd", outer_lr=1.0, outer_momentum=0.0)
    theta = x0_of(task)
    for r in range(R):
        ws = [theta.copy() for _ in range(N)]
        for h in range(H):
            ws = [ws[i] - lr * grad(ws[i], *b) for i, b in enumerate(batch(task, N, r * H + h))]
        theta = np.mean(ws, axis=0)
    np.testing.assert_allclose(result.params, theta, rtol=1e-12)
    assert result.updates == R and result.steps == N * R * H and result.staleness == {0: N * R}


def test_diloco_workers_keep_their_inner_adamw_state_per_row(task):
    # one optimizer over the (N, D) replicas is N optimizers: elementwise, a state per row
    N, R, H = 2, 2, 2
    result = run(task, "diloco", workers=N, rounds=R, inner_steps=H, lr=0.01,
                 outer_optimizer="sgd", outer_lr=1.0, outer_momentum=0.0)
    import sgdlab

    theta = torch.tensor(x0_of(task))
    params = [torch.nn.Parameter(theta.clone()) for _ in range(N)]
    opts = [sgdlab.optim.AdamW([p], lr=0.01) for p in params]
    for r in range(R):
        for p in params:
            with torch.no_grad():
                p.copy_(theta)
        for h in range(H):
            for i, b in enumerate(batch(task, N, r * H + h)):
                params[i].grad = torch.tensor(grad(params[i].detach().numpy(), *b))
                opts[i].step()
        theta = torch.stack([p.detach() for p in params]).mean(0)
    np.testing.assert_allclose(result.params, theta.numpy(), rtol=1e-10)


def test_with_one_worker_delay_tolerant_adagrad_is_adagrad(task):
    runs = [run(task, alg, workers=1, rounds=6, lr=0.1) for alg in ("downpour", "dtadagrad")]
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-7)   # eps 1e-10 vs z'_0 1e-8


def test_bytes_are_two_messages_of_d_floats_per_worker_and_round_plus_the_first_read(task):
    N, R, size = 4, 3, D * 8    # float64 here: 8 bytes a parameter
    downpour = run(task, "downpour", workers=N, rounds=R)
    diloco = run(task, "diloco", workers=N, rounds=R, inner_steps=2)
    assert downpour.curve.rounds.tolist() == diloco.curve.rounds.tolist() == [0, 1, 2, 3]
    assert downpour.curve.bytes.tolist() == [0] + [(N + 2 * N * r) * size for r in (1, 2, 3)]
    assert diloco.curve.bytes.tolist() == [0] + [2 * N * r * size for r in (1, 2, 3)]  # theta read each round


def test_the_simulation_is_deterministic(task):
    a, b = (run(task, "dtadagrad", workers=8, rounds=4, lr=0.2) for _ in range(2))
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.curve.loss, b.curve.loss)


def test_the_vectorised_gradients_are_each_workers_own():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    X, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
    replicas = Replicas(model, torch.nn.functional.cross_entropy, (X, y), workers=3, batch_size=6, seed=2)
    P = replicas.x0 + 0.1 * torch.randn(3, replicas.size)        # three different replicas
    G = replicas.gradients(P, step=4)
    for i, rows in enumerate(replicas.batch_indices(4)):
        torch.nn.utils.vector_to_parameters(P[i].clone(), model.parameters())
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X[rows]), y[rows]).backward()
        expected = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(G[i], expected, rtol=1e-5, atol=1e-6)


def test_a_benchmark_problem_runs_by_name_with_its_metric():
    result = simulate_workers("easgd", "digits_logreg", workers=32, rounds=4, lr=0.1, tau=2, eval_every=2)
    assert result.curve.rounds.tolist() == [0, 2, 4] and result.curve.metric is not None
    assert result.workers == 32 and max(result.staleness) == 31
