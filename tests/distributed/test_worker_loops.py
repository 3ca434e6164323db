"""The workers' side of each algorithm, in one process (the servers in-process, no Ray), against the
papers' pseudo-code written out in NumPy for a least-squares model whose gradient is known by hand."""

import numpy as np
import pytest
import torch

from sgdlab.distributed import serial_sgd, simulate_delays
from sgdlab.distributed.server import ElasticServer, OptimizerServer, shard_bounds
from sgdlab.distributed.worker import (ElasticWorker, InnerTrainer, LocalShards, Replica, Stats, diloco_round,
                                       downpour_loop, easgd_loop, easgd_sync_round)

N, D, B = 24, 3, 4


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(N, D, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.1
    return X, y


def linear(x0):
    model = torch.nn.Linear(D, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(x0).reshape(1, D))
    return model


def batch(replica, step, X, y):
    idx = replica.batch_indices(step)
    return X.numpy()[idx], y.numpy()[idx]


def grad_by_hand(w, Xb, yb):
    """d/dw mean((Xb w - yb)^2) = 2/B Xb^T (Xb w - yb)"""
    return 2.0 / len(Xb) * Xb.T @ (Xb @ w - yb.ravel())


def test_replica_visits_every_example_once_per_epoch_in_a_seeded_order(data):
    r = Replica(linear(np.zeros(D)), torch.nn.functional.mse_loss, data, batch_size=5, seed=1, stream=2)
    assert r.batches_per_epoch == 5
    epoch0 = np.concatenate([r.batch_indices(s) for s in range(5)])
    epoch1 = np.concatenate([r.batch_indices(s) for s in range(5, 10)])
    assert sorted(epoch0) == sorted(epoch1) == list(range(N))
    np.testing.assert_array_equal(epoch0, np.random.default_rng([1, 2, 0]).permutation(N))
    # a replica resuming at step 7 sees what the first saw there (what a replacement worker does)
    fresh = Replica(linear(np.zeros(D)), torch.nn.functional.mse_loss, data, batch_size=5, seed=1, stream=2)
    np.testing.assert_array_equal(fresh.batch_indices(7), r.batch_indices(7))


def test_replica_gradient_is_the_minibatch_gradient(data):
    X, y = data
    w = np.array([0.3, -0.1, 0.8])
    r = Replica(linear(np.zeros(D)), torch.nn.functional.mse_loss, data, batch_size=B)
    loss, g = r.gradient(w, 3)
    Xb, yb = batch(r, 3, X, y)
    np.testing.assert_allclose(g, grad_by_hand(w, Xb, yb), rtol=1e-12)
    assert loss == pytest.approx(np.mean((Xb @ w - yb.ravel()) ** 2))


@pytest.mark.parametrize("n_fetch, n_push, local_lr", [(1, 1, 0.0), (3, 2, 0.05), (2, 5, 0.0)])
def test_downpour_client_follows_the_papers_pseudo_code(data, n_fetch, n_push, local_lr):
    X, y = data
    x0 = np.array([0.5, 0.5, -0.5])
    steps = 13
    bounds = shard_bounds(D, 2)
    servers = [OptimizerServer(x0[a:b], "sgd", lr=0.1) for a, b in zip(bounds[:-1], bounds[1:])]
    replica = Replica(linear(x0), torch.nn.functional.mse_loss, data, batch_size=B, seed=4)
    downpour_loop(replica, LocalShards(servers, bounds), 0, 0, steps, n_fetch=n_fetch, n_push=n_push,
                  local_lr=local_lr)
    # Dean et al. 2012, Algorithm 7.1, with fetches and pushes that complete at once
    server_w, params, accrued, count = x0.copy(), x0.copy(), np.zeros(D), 0
    for step in range(steps):
        if step % n_fetch == 0:
            params = server_w.copy()
        g = grad_by_hand(params, *batch(replica, step, X, y))
        accrued += g
        count += 1
        params = params - local_lr * g
        if count == n_push:
            server_w -= 0.1 * accrued
            accrued, count = np.zeros(D), 0
    if count:
        server_w -= 0.1 * accrued
    np.testing.assert_allclose(np.concatenate([s.params.numpy() for s in servers]), server_w, rtol=1e-12)
    assert servers[0].steps == steps


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_asynchronous_easgd_worker_follows_the_papers_algorithms_1_and_2(data, momentum):
    X, y = data
    x0 = np.array([0.2, -0.4, 1.0])
    alpha, eta, tau, steps = 0.3, 0.05, 3, 8
    centre = ElasticServer(x0, alpha=alpha)
    replica = Replica(linear(x0), torch.nn.functional.mse_loss, data, batch_size=B)
    shards = LocalShards([centre], [0, D])
    worker = ElasticWorker(replica, centre.read(0)[0], lr=eta, momentum=momentum)
    easgd_loop(worker, shards, 0, 0, steps, tau=tau)
    # the paper: x = x^i; if tau | t: x^i -= alpha (x - c), c += alpha (x - c); then the local step
    xi, c, v = x0.copy(), x0.copy(), np.zeros(D)
    for t in range(steps):
        x = xi.copy()
        if t % tau == 0:
            xi = xi - alpha * (x - c)
            c = c + alpha * (x - c)
        if momentum:
            v = momentum * v - eta * grad_by_hand(x + momentum * v, *batch(replica, t, X, y))
            xi = xi + v
        else:
            xi = xi - eta * grad_by_hand(x, *batch(replica, t, X, y))
    d = alpha * (xi - c)                    # the exchange after the last step
    xi, c = xi - d, c + d
    np.testing.assert_allclose(centre.params.numpy(), c, rtol=1e-12)
    np.testing.assert_allclose(worker.x, xi, rtol=1e-12)
    assert centre.steps == steps


def test_synchronous_easgd_round_exchanges_first_then_takes_tau_local_steps(data):
    X, y = data
    x0 = np.zeros(D)
    centre = ElasticServer(x0, alpha=0.2)
    replicas = [Replica(linear(x0), torch.nn.functional.mse_loss, data, batch_size=B, stream=w) for w in (0, 1)]
    shards = LocalShards([centre], [0, D])
    workers = [ElasticWorker(r, centre.read(w)[0], lr=0.1) for w, r in enumerate(replicas)]
    workers[1].x = np.array([1.0, 1.0, 1.0])   # the workers differ, so the exchanges do too
    before = [w.x.copy() for w in workers]
    for w, worker in enumerate(workers):
        easgd_sync_round(worker, shards, w, 0, 2, 0)
    centre.end_round()
    np.testing.assert_allclose(centre.params.numpy(), x0 + 0.2 * sum(b - x0 for b in before), rtol=1e-12)
    for w, worker in enumerate(workers):
        xi = before[w] - 0.2 * (before[w] - x0)
        xi = xi - 0.1 * grad_by_hand(before[w], *batch(replicas[w], 0, X, y))
        xi = xi - 0.1 * grad_by_hand(xi, *batch(replicas[w], 1, X, y))
        np.testing.assert_allclose(worker.x, xi, rtol=1e-12)


def test_serial_sgd_is_plain_minibatch_sgd_in_the_documented_order(data):
    X, y = data
    x0 = np.array([0.1, 0.2, 0.3])
    result = serial_sgd(linear(x0), torch.nn.functional.mse_loss, data, lr=0.05, epochs=2, batch_size=B, seed=9)
    w = x0.copy()
    for epoch in range(2):
        order = np.random.default_rng([9, 0, epoch]).permutation(N)
        for i in range(0, N, B):
            idx = order[i:i + B]
            w -= 0.05 * grad_by_hand(w, X.numpy()[idx], y.numpy()[idx])
    np.testing.assert_allclose(result.params, w, rtol=1e-10)
    np.testing.assert_allclose(result.model.weight.detach().numpy().ravel(), w, rtol=1e-10)
    assert result.updates == result.steps == 2 * N // B
    assert result.curve.loss[-1] == pytest.approx(np.mean((X.numpy() @ w - y.numpy().ravel()) ** 2))


def test_simulated_delay_makes_every_update_exactly_d_updates_stale(data):
    result = simulate_delays(linear(np.zeros(D)), torch.nn.functional.mse_loss, data, server="adagrad",
                             delay=4, lr=0.1, epochs=3, batch_size=B)
    total = 3 * N // B
    assert result.staleness == {0: 1, 1: 1, 2: 1, 3: 1, 4: total - 4}
    assert result.updates == total and result.workers == 5


def test_without_delay_delay_tolerant_adagrad_and_adagrad_are_the_same_algorithm(data):
    runs = [simulate_delays(linear(np.zeros(D)), torch.nn.functional.mse_loss, data, server=s, delay=0,
                            lr=0.1, eps=1e-3, epochs=2, batch_size=B) for s in ("adagrad", "dtadagrad")]
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10)


def test_with_delay_delay_tolerant_adagrad_replays_the_papers_update_in_simulation(data):
    X, y = data
    d, lr, eps, epochs = 2, 0.2, 0.5, 1
    result = simulate_delays(linear(np.zeros(D)), torch.nn.functional.mse_loss, data, server="dtadagrad",
                             delay=d, lr=lr, eps=eps, epochs=epochs, batch_size=B)
    replica = Replica(linear(np.zeros(D)), torch.nn.functional.mse_loss, data, batch_size=B)
    # by hand: read at tick t (z_old = z then), the gradient reaches the server at tick t + d
    x, z = np.zeros(D), np.zeros(D)
    zp, zmax = np.full(D, eps), np.full(D, eps)
    pending = []
    T = epochs * N // B
    for tick in range(T + d):
        if tick < T:
            pending.append((z.copy(), grad_by_hand(x, *batch(replica, tick, X, y))))
        if tick >= d:
            z_old, g = pending.pop(0)
            g_bk = z - z_old
            eta_old = lr / np.sqrt(zmax)
            zp = zp + g * g + 2 * g * g_bk
            zmax = np.maximum(zmax, zp)
            eta = lr / np.sqrt(zmax)
            x = x - eta * g + (eta_old - eta) * g_bk
            z = z + g
    np.testing.assert_allclose(result.params, x, rtol=1e-10)


def test_stats_start_empty():
    assert Stats().as_dict() == {"steps": 0, "losses": [], "compute_s": 0.0, "wait_s": 0.0}


def diloco_by_hand(replicas, x0, X, y, rounds, H, inner_lr, outer_lr, momentum):
    """The paper's Algorithm 1 with inner SGD and outer Nesterov momentum in torch's form
    (b <- mu b + Delta; theta <- theta - lr (Delta + mu b)), in NumPy."""
    theta, b = x0.copy(), np.zeros(D)
    for t in range(rounds):
        locals_ = []
        for r in replicas:
            w = theta.copy()
            for h in range(H):
                w = w - inner_lr * grad_by_hand(w, *batch(r, t * H + h, X, y))
            locals_.append(w)
        delta = np.mean([theta - w for w in locals_], axis=0)
        b = momentum * b + delta
        theta = theta - outer_lr * (delta + momentum * b)
    return theta, locals_


def run_diloco_in_process(data, x0, rounds, H, inner_lr, outer, outer_options):
    replicas = [Replica(linear(x0), torch.nn.functional.mse_loss, data, batch_size=B, seed=2, stream=w)
                for w in (0, 1)]
    server = OptimizerServer(x0, outer["optimizer"], lr=outer["lr"], optimizer_options=outer_options)
    shards = LocalShards([server], [0, D])
    trainers = [InnerTrainer(r, "sgd", lr=inner_lr) for r in replicas]
    for t in range(rounds):
        for w, trainer in enumerate(trainers):
            diloco_round(trainer, shards, w, t * H, H)
        assert server.apply() == 2
    return server, replicas, trainers


def test_diloco_with_outer_sgd_at_lr_1_is_periodic_model_averaging(data):
    X, y = data
    x0 = np.array([0.4, 0.1, -0.3])
    server, replicas, trainers = run_diloco_in_process(data, x0, rounds=3, H=4, inner_lr=0.05,
                                                       outer={"optimizer": "sgd", "lr": 1.0}, outer_options=None)
    # every round: theta <- the mean of the workers' parameters after their H local steps
    theta = x0.copy()
    for t in range(3):
        ends = []
        for r in replicas:
            w = theta.copy()
            for h in range(4):
                w = w - 0.05 * grad_by_hand(w, *batch(r, t * 4 + h, X, y))
            ends.append(w)
        theta = np.mean(ends, axis=0)
    np.testing.assert_allclose([tr.replica.flat() for tr in trainers], ends, rtol=1e-12)  # the last round's
    np.testing.assert_allclose(server.params.numpy(), theta, rtol=1e-12)
    np.testing.assert_allclose(server.params.numpy(), np.mean([tr.replica.flat() for tr in trainers], axis=0),
                               rtol=1e-12)
    assert server.version == 3 and server.steps == 2 * 3 * 4 and dict(server.staleness) == {0: 6}


def test_diloco_round_follows_the_papers_algorithm_with_an_outer_nesterov_step(data):
    X, y = data
    x0 = np.array([0.4, 0.1, -0.3])
    server, replicas, _ = run_diloco_in_process(data, x0, rounds=3, H=3, inner_lr=0.05,
                                                outer={"optimizer": "nag", "lr": 0.7}, outer_options={"momentum": 0.9})
    theta, _ = diloco_by_hand(replicas, x0, X, y, rounds=3, H=3, inner_lr=0.05, outer_lr=0.7, momentum=0.9)
    np.testing.assert_allclose(server.params.numpy(), theta, rtol=1e-10)


def test_diloco_workers_keep_their_inner_optimizer_state_across_rounds(data):
    x0 = np.zeros(D)
    replica = Replica(linear(x0), torch.nn.functional.mse_loss, data, batch_size=B)
    trainer = InnerTrainer(replica, "adamw", lr=0.01)
    stats = Stats()
    trainer.train(x0, 0, 2, stats)
    state = trainer.optimizer.state[replica.params[0]]
    assert int(state["step"]) == 2
    trainer.train(x0, 2, 3, stats)   # a new round from the server's parameters: the moments go on
    assert int(trainer.optimizer.state[replica.params[0]]["step"]) == 5 and stats.steps == 5
