"""Each server update against a hand computation (NumPy) for a fixed sequence of reads and pushes.

No Ray here: the shard actors wrap these classes, so the math is checked where it lives.
"""

import re

import numpy as np
import pytest
import torch

from sgdlab.distributed.server import (AdaRevisionServer, ElasticServer, OptimizerServer, make_server,
                                       shard_bounds)

G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([1.5, 0.25, -0.5])
G3 = np.array([-0.75, 1.0, 0.5])
X0 = np.array([1.0, -2.0, 0.5])


def test_downpour_adagrad_server_applies_each_push_as_it_arrives_and_counts_its_staleness():
    server = OptimizerServer(X0, "adagrad", lr=0.1, optimizer_options={"eps": 1e-8})
    _, v0 = server.read(0)             # worker 0 reads at version 0
    _, v1 = server.read(1)             # worker 1 too
    assert server.push(1, G1, v1) == 0
    assert server.push(0, G2, v0) == 1  # one update (worker 1's) since its read
    _, v0 = server.read(0)
    assert server.push(0, G3, v0) == 0
    # Adagrad, the survey's form: G <- G + g^2; x <- x - lr g / sqrt(G + eps), in arrival order
    x, G = X0.copy(), np.zeros(3)
    for g in (G1, G2, G3):
        G += g * g
        x -= 0.1 * g / np.sqrt(G + 1e-8)
    np.testing.assert_allclose(server.params.numpy(), x, rtol=1e-12)
    assert server.version == 3
    assert dict(server.staleness) == {0: 2, 1: 1}
    assert server.progress == {0: 2, 1: 1} and server.steps == 3


def test_optimizer_shards_together_do_what_one_optimizer_over_the_whole_vector_does():
    x0 = np.linspace(-1.0, 1.0, 7)
    grads = [np.sin(np.arange(7) * (k + 1.0)) for k in range(4)]
    whole = OptimizerServer(x0, "adam", lr=0.05)
    bounds = shard_bounds(7, 3)
    shards = [OptimizerServer(x0[a:b], "adam", lr=0.05) for a, b in zip(bounds[:-1], bounds[1:])]
    for g in grads:
        whole.push(0, g, whole.version)
        for k, s in enumerate(shards):
            s.push(0, g[bounds[k]:bounds[k + 1]], s.version)
    np.testing.assert_allclose(np.concatenate([s.params.numpy() for s in shards]), whole.params.numpy(),
                               rtol=1e-12)


def test_sync_sgd_server_takes_one_step_with_the_mean_of_the_rounds_gradients():
    server = OptimizerServer(X0, "sgd", lr=0.2)
    for worker, g in enumerate((G1, G2, G3)):
        assert server.add(worker, g, 0) == 0
    assert server.version == 0           # nothing applied before the round ends
    assert server.apply() == 3
    np.testing.assert_allclose(server.params.numpy(), X0 - 0.2 * (G1 + G2 + G3) / 3, rtol=1e-12)
    assert server.apply() == 0            # an empty round changes nothing
    np.testing.assert_allclose(server.params.numpy(), X0 - 0.2 * (G1 + G2 + G3) / 3, rtol=1e-12)
    assert server.version == 1 and server.steps == 3


def test_diloco_outer_step_is_nesterov_momentum_on_the_mean_of_the_pushed_deltas():
    # DiLoCo's server: synchronous SGD's add/apply with theta_{t-1} - theta_i in place of gradients
    server = OptimizerServer(X0, "nag", lr=0.7, optimizer_options={"momentum": 0.9})
    theta, b = X0.copy(), np.zeros(3)
    for local in ([X0 + G1, X0 - G2, X0 + 0.5 * G3], [X0 - G3, X0 + G1 - G2, X0]):
        version = server.read(0)[1]
        start = server.params.numpy()
        for w, theta_i in enumerate(local):
            assert server.add(w, start - theta_i, version, 4) == 0
        assert server.apply() == 3
        # the paper: Delta = 1/k sum_i (theta_{t-1} - theta_i); outer Nesterov momentum, torch's form
        delta = np.mean([theta - theta_i for theta_i in local], axis=0)
        b = 0.9 * b + delta
        theta = theta - 0.7 * (delta + 0.9 * b)
        np.testing.assert_allclose(server.params.numpy(), theta, rtol=1e-12)
    assert server.version == 2 and server.steps == 24


def test_diloco_outer_sgd_at_lr_1_sets_the_parameters_to_the_workers_mean():
    server = OptimizerServer(X0, "sgd", lr=1.0)
    local = [X0 + G1, X0 - G2, X0 + 0.5 * G3]
    for w, theta_i in enumerate(local):
        server.add(w, X0 - theta_i, 0, 4)
    server.apply()
    np.testing.assert_allclose(server.params.numpy(), np.mean(local, axis=0), rtol=1e-12)


def adaptive_revision_by_hand(x0, z0, alpha, events):
    """The paper's AdaptiveRevision, per coordinate, written out: events are ("read", w) or
    ("push", w, g); each push uses the z of that worker's last read."""
    x, z = x0.astype(float).copy(), np.zeros_like(x0, dtype=float)
    zp, zmax = np.full_like(x, z0), np.full_like(x, z0)
    z_old = {}
    for event in events:
        if event[0] == "read":
            z_old[event[1]] = z.copy()
            continue
        _, w, g = event
        g_bk = z - z_old[w]
        eta_old = alpha / np.sqrt(zmax)
        zp = zp + g * g + 2 * g * g_bk
        zmax = np.maximum(zmax, zp)
        eta = alpha / np.sqrt(zmax)
        x = x - eta * g + (eta_old - eta) * g_bk
        z = z + g
    return x, z, zp, zmax


def test_delay_tolerant_adagrad_revises_the_step_for_a_known_backlog():
    events = [("read", 0), ("read", 1), ("push", 1, G1),   # worker 1: no backlog
              ("read", 2), ("push", 0, G2),                 # worker 0: backlog G1
              ("push", 2, G3),                              # worker 2: backlog G2
              ("read", 1), ("push", 1, -G1)]                # worker 1: no backlog
    server = AdaRevisionServer(X0, lr=0.3, initial_accumulator=0.5)
    versions = {}
    for event in events:
        if event[0] == "read":
            versions[event[1]] = server.read(event[1])[1]
        else:
            server.push(event[1], event[2], versions[event[1]])
    x, z, zp, zmax = adaptive_revision_by_hand(X0, 0.5, 0.3, events)
    np.testing.assert_allclose(server.params.numpy(), x, rtol=1e-12)
    np.testing.assert_allclose(server.z.numpy(), z, rtol=1e-12)
    np.testing.assert_allclose(server.z_prime.numpy(), zp, rtol=1e-12)
    np.testing.assert_allclose(server.z_prime_max.numpy(), zmax, rtol=1e-12)
    assert dict(server.staleness) == {0: 2, 1: 2}


def test_delay_tolerant_adagrad_with_a_backlog_of_one_by_hand_on_one_coordinate():
    server = AdaRevisionServer(np.zeros(1), lr=1.0, initial_accumulator=1.0)
    v_a = server.read(0)[1]
    v_b = server.read(1)[1]
    server.push(1, np.array([2.0]), v_b)   # z' = 1 + 4 = 5, eta1 = 1/sqrt(5), x = -2/sqrt(5)
    server.push(0, np.array([1.0]), v_a)   # g_bk = 2: z' = 5 + 1 + 2*1*2 = 10, eta2 = 1/sqrt(10)
    eta1, eta2 = 1 / np.sqrt(5), 1 / np.sqrt(10)
    expected = -2 * eta1 - eta2 * 1 + (eta1 - eta2) * 2
    assert server.params.item() == pytest.approx(expected, rel=1e-12)


def test_delay_tolerant_adagrad_keeps_the_learning_rate_when_the_backlog_cancels():
    # g_bk opposite to g lowers z' below its maximum: the rate uses z'_max, so it does not grow
    server = AdaRevisionServer(np.zeros(1), lr=1.0, initial_accumulator=1.0)
    v0, v1 = server.read(0)[1], server.read(1)[1]
    server.push(1, np.array([3.0]), v1)    # z' = 10
    server.push(0, np.array([-1.0]), v0)   # z' = 10 + 1 - 6 = 5 < z'_max = 10
    assert server.z_prime.item() == pytest.approx(5.0)
    assert server.z_prime_max.item() == pytest.approx(10.0)
    eta = 1 / np.sqrt(10)
    assert server.params.item() == pytest.approx(-3 * eta + eta * 1 + (eta - eta) * 3)


def test_delay_tolerant_adagrad_without_delay_is_torch_adagrad():
    x0 = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    grads = [torch.tensor(g) for g in (G1, G2, G3, -G1, 0.5 * G2)]
    param = torch.nn.Parameter(x0.clone())
    reference = torch.optim.Adagrad([param], lr=0.2, initial_accumulator_value=0.7, eps=0.0)
    server = AdaRevisionServer(x0, lr=0.2, initial_accumulator=0.7)
    for g in grads:
        param.grad = g.clone()
        reference.step()
        server.push(0, g.numpy(), server.read(0)[1])
    np.testing.assert_allclose(server.params.numpy(), param.detach().numpy(), rtol=1e-12)


def test_delay_tolerant_adagrad_refuses_a_push_without_the_read_it_was_computed_at():
    server = AdaRevisionServer(X0, lr=0.1)
    with pytest.raises(ValueError, match="Invalid read_version: 0 .expected a version worker 3 has read"):
        server.push(3, G1, 0)


def test_delay_tolerant_adagrad_finds_the_read_again_for_a_second_push_from_it():
    # Downpour's asynchronous fetch can make a worker push twice from one read: the second push's
    # backlog then holds the first one.
    server = AdaRevisionServer(np.zeros(1), lr=1.0, initial_accumulator=1.0)
    v = server.read(0)[1]
    server.push(0, np.array([1.0]), v)
    assert server.push(0, np.array([1.0]), v) == 1
    x, *_ = adaptive_revision_by_hand(np.zeros(1), 1.0, 1.0, [("read", 0), ("push", 0, np.array([1.0])),
                                                               ("push", 0, np.array([1.0]))])
    assert server.params.item() == pytest.approx(x.item(), rel=1e-12)


def test_asynchronous_easgd_centre_moves_by_alpha_times_the_difference_at_each_exchange():
    centre = ElasticServer(X0, alpha=0.25)
    centre.read(0)
    centre.read(1)
    x_a, x_b = X0 + G1, X0 + G2
    d_a = centre.exchange(0, x_a, 4)
    c1 = X0 + 0.25 * (x_a - X0)
    np.testing.assert_allclose(d_a, 0.25 * (x_a - X0), rtol=1e-12)
    d_b = centre.exchange(1, x_b, 4)            # worker 1 meets the centre worker 0 moved
    np.testing.assert_allclose(d_b, 0.25 * (x_b - c1), rtol=1e-12)
    np.testing.assert_allclose(centre.params.numpy(), c1 + 0.25 * (x_b - c1), rtol=1e-12)
    assert dict(centre.staleness) == {0: 1, 1: 1}  # worker 1 had not seen worker 0's update
    assert centre.progress == {0: 4, 1: 4}


def test_synchronous_easgd_round_meets_every_worker_with_the_same_centre():
    centre = ElasticServer(X0, alpha=0.3)
    xs = [X0 + G1, X0 + G2, X0 + G3]
    ds = [centre.sync_exchange(w, x, 2) for w, x in enumerate(xs)]
    for x, d in zip(xs, ds):
        np.testing.assert_allclose(d, 0.3 * (x - X0), rtol=1e-12)
    np.testing.assert_allclose(centre.params.numpy(), X0)   # unchanged until the round ends
    assert centre.end_round()
    # x~ <- x~ + alpha sum_i (x^i - x~)  (the paper's eq. 6, beta = p alpha)
    np.testing.assert_allclose(centre.params.numpy(), X0 + 0.3 * sum(x - X0 for x in xs), rtol=1e-12)
    assert centre.version == 1 and dict(centre.staleness) == {0: 3}
    assert not centre.end_round()


@pytest.mark.parametrize("kind, options", [("optimizer", {"optimizer": "adam", "lr": 0.1}),
                                           ("adarevision", {"lr": 0.1}),
                                           ("elastic", {"alpha": 0.2})])
def test_a_server_restored_from_its_state_continues_exactly(kind, options):
    def drive(server, pushes):
        for w, g in pushes:
            v = server.read(w)[1]
            if kind == "elastic":
                server.exchange(w, X0 + g, 1)
            else:
                server.push(w, g, v)

    original = make_server(kind, X0, **options)
    drive(original, [(0, G1), (1, G2)])
    state = original.state_dict()
    drive(original, [(0, G3), (1, -G1)])
    restored = make_server(kind, X0, **options)
    restored.load_state_dict(state)
    drive(restored, [(0, G3), (1, -G1)])
    np.testing.assert_array_equal(restored.params.numpy(), original.params.numpy())
    assert restored.version == original.version == 4
    assert dict(restored.staleness) == dict(original.staleness)


def test_shard_bounds_split_as_evenly_as_numpy():
    assert shard_bounds(10, 3) == [0, 4, 7, 10]
    assert shard_bounds(5, 5) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("call, error, message", [
    (lambda: shard_bounds(10, 0), ValueError, "Invalid shards: 0 (expected an int >= 1)"),
    (lambda: shard_bounds(10, 2.0), TypeError, "Invalid shards: 2.0 of type float (expected an int >= 1)"),
    (lambda: shard_bounds(3, 4), ValueError, "Invalid shards: 4 (expected at most the 3 parameters"),
    (lambda: AdaRevisionServer(X0, lr=0.0), ValueError, "Invalid lr: 0.0 (expected a finite number > 0)"),
    (lambda: ElasticServer(X0, alpha=1.5), ValueError, "Invalid alpha: 1.5 (expected a number in (0, 1))"),
    (lambda: OptimizerServer(X0, "adamm"), ValueError, "Invalid optimizer: 'adamm' (expected one of 'sgd'"),
    (lambda: OptimizerServer(X0, "sgd", lr=0.1).push(0, G1, read_version=2), ValueError,
     "Invalid read_version: 2 (expected an int in [0, 0]"),
    (lambda: OptimizerServer(X0, "sgd", lr=0.1).push(0, np.ones(4), 0), ValueError,
     "Invalid grad: an array of shape (4,) (expected the shape of this server's slice, (3,))"),
    (lambda: OptimizerServer(X0, "sgd", lr=0.1).push(-1, G1, 0), ValueError,
     "Invalid worker: -1 (expected an int >= 0)"),
    (lambda: make_server("ring", X0), ValueError, "Invalid kind: 'ring' (expected one of 'optimizer'"),
])
def test_invalid_arguments_name_the_argument_and_value(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


@pytest.mark.parametrize("kind, options", [("optimizer", {"optimizer": "sgd", "lr": 0.5}),
                                           ("adarevision", {"lr": 1.0, "initial_accumulator": 1.0})])
def test_after_a_restart_from_a_checkpoint_a_push_read_in_the_lost_updates_counts_as_fresh(kind, options):
    server = make_server(kind, np.zeros(1), **options)
    server.push(0, np.array([1.0]), server.read(0)[1])
    checkpoint = server.state_dict()                       # version 1
    v = server.read(1)[1]                                  # worker 1 reads at version 1 ...
    server.push(0, np.array([1.0]), server.read(0)[1])     # ... and the server goes on to version 2
    late_read = server.read(1)[1]                          # version 2: lost with the restart
    restarted = make_server(kind, np.zeros(1), **options)
    restarted.load_state_dict(checkpoint)
    before = restarted.params.item()
    assert restarted.push(1, np.array([2.0]), late_read) == 0   # read at version 2, beyond the checkpoint
    assert restarted.push(1, np.array([2.0]), v) == 1           # read at version 1, after the checkpoint
    if kind == "optimizer":
        assert restarted.params.item() == pytest.approx(before - 0.5 * 2.0 - 0.5 * 2.0)
    else:  # neither read's snapshot survived: both pushes without backlog, z' = 2 + 4 + 4
        assert restarted.z_prime.item() == pytest.approx(10.0)
        assert restarted.params.item() == pytest.approx(before - 2 / np.sqrt(6) - 2 / np.sqrt(10))


def test_a_push_from_a_future_version_is_refused_unless_the_server_was_restored():
    server = OptimizerServer(X0, "sgd", lr=0.1)
    with pytest.raises(ValueError, match=re.escape("Invalid read_version: 3 (expected an int in [0, 0]")):
        server.push(0, G1, 3)
