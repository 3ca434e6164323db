"""On a real Ray cluster of two nodes: a head started with ``ray start --head`` and a second node with
``ray start --address`` (two raylets on this machine stand for two machines, each with its own
temporary directory and process group, on ports the system picks: ``sgdlab.distributed.RayNodes``).
``sgdlab distributed ALGO --address`` runs each algorithm with its workers spread over both nodes,
and when the second node is stopped mid-run the run finishes with the workers it has and says what
happened. Every wait has a deadline, and the nodes are stopped in a ``finally`` (the context manager).
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="needs the distributed extra: pip install 'sgdlab[distributed]'")
if not Path("/proc/self/stat").exists():
    pytest.skip("RayNodes finds a node's processes in /proc (Linux), as multi-node Ray needs Linux",
                allow_module_level=True)

from sgdlab.distributed import RayNodes  # noqa: E402

RUN_TIMEOUT_S = 240  # one command, under a heavily loaded machine; it takes ~10 s here


@pytest.fixture(scope="module")
def nodes():
    with RayNodes(2, timeout=120) as started:
        yield started


def sgdlab_distributed(nodes, *args, **popen):
    command = [sys.executable, "-m", "sgdlab.cli", "distributed", *args, "--address", nodes.address]
    env = {**os.environ, **nodes.env}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process):
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the command did not finish within {RUN_TIMEOUT_S} s:\n{out[-3000:]}\n{err[-3000:]}")
    assert process.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}"
    return out


def worker_nodes(out):
    """{worker: [node id prefixes]} from the command's table of workers."""
    rows = re.findall(r"^\| (\d+) \| ([0-9a-f, ]+) \| \d+ \|", out, re.MULTILINE)
    return {int(w): [n.strip() for n in nodes.split(",")] for w, nodes in rows}


def test_the_two_nodes_are_up_each_with_its_own_processes(nodes):
    assert [n["alive"] for n in nodes.describe()] == [True, True]
    assert len(set(nodes.node_ids)) == 2 and nodes.alive(0) and nodes.alive(1)
    assert nodes.temp_dirs[0] != nodes.temp_dirs[1]


@pytest.mark.parametrize("algorithm, options", [
    ("downpour", ["--lr", "0.1"]),
    ("dtadagrad", ["--lr", "0.3"]),
    ("easgd", ["--lr", "0.3", "--tau", "2"]),
    ("diloco", ["--lr", "0.01", "--inner-steps", "4", "--outer-momentum", "0.5"]),
    ("sync", ["--lr", "0.5"]),
])
def test_each_algorithm_runs_on_the_cluster_with_its_workers_spread_over_both_nodes(nodes, algorithm, options):
    out = finish(sgdlab_distributed(nodes, algorithm, "--problem", "digits_logreg", "--workers", "2",
                                    "--epochs", "2", *options))
    assert f"sgdlab distributed {algorithm} · problem digits_logreg · Ray cluster at {nodes.address}" in out
    placed = worker_nodes(out)
    assert sorted(placed) == [0, 1], out
    assert {ns[0] for ns in placed.values()} == {node[:8] for node in nodes.node_ids}, out
    assert "event:" not in out
    accuracy = float(re.search(r"final loss \S+, metric (\S+) after", out)[1])
    assert accuracy > 0.8, out  # digits_logreg's validation accuracy after 2 epochs


@pytest.fixture
def two_nodes():
    """Nodes of this test's own: it stops one of them."""
    with RayNodes(2, timeout=120) as started:
        yield started


def test_stopping_the_second_node_mid_run_the_run_finishes_with_the_workers_it_has(two_nodes, tmp_path):
    nodes = two_nodes
    # 8 epochs of 150 minibatches of 8: long enough (seconds) to stop a node in the middle
    process = sgdlab_distributed(nodes, "downpour", "--problem", "digits_logreg", "--workers", "2", "--epochs", "8",
                                 "--batch-size", "8", "--lr", "0.05", "--checkpoint-dir", str(tmp_path))
    total = 8 * 150
    snapshots = tmp_path / "shard-0-snapshots"   # shard 0 writes one every total / 50 updates
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        versions = [int(p.stem) for p in snapshots.glob("*.pt")] if snapshots.exists() else []
        if versions and max(versions) >= total // 4:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before a quarter of it was done: " + process.communicate()[0]
    nodes.stop(1)                                # as `ray stop` on the second machine
    assert not nodes.alive(1) and nodes.alive(0)
    out = finish(process)
    gone = nodes.node_ids[1][:8]
    events = re.findall(r"^event: (.*)$", out, re.MULTILINE)
    died = [e for e in events if f"its node {gone} died" in e]
    assert len(died) == 1, out                   # one worker was on the stopped node
    w = int(re.search(r"worker (\d+) died", died[0])[1])
    assert any(f"a new worker takes over the rest of worker {w}'s share" in e for e in events), out
    # the replacement runs on the node that is left; every minibatch reached the server
    assert worker_nodes(out)[w] == [gone, nodes.node_ids[0][:8]], out
    steps = int(re.search(r"\((\d+) minibatch gradients\)", out)[1])
    assert total - 4 <= steps <= total + 4, out  # a push in flight may be lost or applied twice
    accuracy = float(re.search(r"final loss \S+, metric (\S+) after", out)[1])
    assert accuracy > 0.8, out
