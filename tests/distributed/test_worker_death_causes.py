"""What the driver says killed a worker (sgdlab.distributed.driver.Run._worker_died), without Ray: a
stub run whose ``ray.nodes()`` is scripted."""

import time
from types import SimpleNamespace

import pytest

from sgdlab.distributed import driver

NODE = "abcdef0123456789abcdef"


class ActorDiedError(Exception):
    """Named as Ray's: the cause names the error's type."""


def run_with(node_dead_after_s: float | None):
    """A stub run with one worker actor on NODE, which the cluster marks dead that many seconds from now
    (None: never)."""
    handle = object()
    dead_at = None if node_dead_after_s is None else time.monotonic() + node_dead_after_s
    ray = SimpleNamespace(nodes=lambda: [{"NodeID": NODE, "Alive": dead_at is None or time.monotonic() < dead_at}])
    run = SimpleNamespace(failures=0, cluster=SimpleNamespace(discard=lambda handles: None),
                          settings=SimpleNamespace(on_worker_failure="replace"), nodes={id(handle): NODE}, ray=ray)
    run._node_gone = lambda node: driver.Run._node_gone(run, node)
    return run, handle


def test_a_worker_killed_before_its_node_is_marked_dead_is_put_down_to_the_node():
    run, handle = run_with(node_dead_after_s=0.3)
    cause = driver.Run._worker_died(run, 0, ActorDiedError("The process receives a SIGTERM."), handle)
    assert cause == f"ActorDiedError: its node {NODE[:8]} died" and run.failures == 1


def test_a_worker_dying_on_a_node_that_stays_up_is_put_down_to_the_worker(monkeypatch):
    monkeypatch.setattr(driver, "NODE_DEATH_GRACE_S", 0.2)
    run, handle = run_with(node_dead_after_s=None)
    tick = time.monotonic()
    cause = driver.Run._worker_died(run, 0, ActorDiedError("killed"), handle)
    assert cause == "ActorDiedError" and 0.2 <= time.monotonic() - tick < 2


def test_rays_own_word_of_the_nodes_death_is_taken_without_waiting():
    run, handle = run_with(node_dead_after_s=None)
    tick = time.monotonic()
    cause = driver.Run._worker_died(run, 0, ActorDiedError("The node has died. Node Id: 1a2b3c4d5e6f"), handle)
    assert cause == "ActorDiedError: its node 1a2b3c4d died" and time.monotonic() - tick < 0.1


def test_an_unreadable_cluster_state_says_nothing_of_the_node():
    run, handle = run_with(node_dead_after_s=None)

    def broken():
        raise ConnectionError("GCS unreachable")

    run.ray = SimpleNamespace(nodes=broken)
    assert driver.Run._worker_died(run, 0, ActorDiedError("killed"), handle) == "ActorDiedError"


def test_the_raise_policy_names_the_cause():
    run, handle = run_with(node_dead_after_s=0.0)
    run.settings.on_worker_failure = "raise"
    with pytest.raises(RuntimeError, match=f"worker 3 died mid-run \\(ActorDiedError: its node {NODE[:8]} died\\)"):
        driver.Run._worker_died(run, 3, ActorDiedError("x"), handle)
