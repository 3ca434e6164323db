"""The connection to Ray and the actors the runs borrow.

:class:`Cluster` starts a local Ray instance (the default) or connects to a running cluster
(``address``), and keeps the worker and server-shard actors between runs, so that a second run on the
same cluster does not pay again for starting processes and importing torch in them (seconds each).
Every algorithm function takes ``cluster=``; without it, it opens a cluster for the one run and
closes it afterwards.

Connecting to an address is first tried in a child process with a deadline: Ray's own client can
wait for an unreachable head node for minutes (or, for a refused port, indefinitely), so an address
that does not answer within ``connect_timeout`` seconds ends with a :class:`ConnectionError` that
names it, never a hang.

Placement on a cluster of several nodes: each new worker actor goes to the live node with room
(``worker_cpus``) that holds the fewest of this cluster's workers (ties: in the order of the node
ids), the shard actors to the driver's node. Ray's own ``SPREAD`` strategy does not balance (its
round robin carries over from earlier jobs: two workers can land on one node of two), nor does a
soft node affinity for actors that reserve no CPU, so the affinity is a hard one. The driver's node is the one whose
loss ends the run anyway, so the servers there add no new way to fail; losing any other node costs
only the workers on it, which the run replaces or does without (``driver``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._validation import Instance, Int, Real, argument_error, validate


def require_ray() -> Any:
    """Import ray, or say how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError("sgdlab.distributed runs on Ray, which is not installed: "
                          "pip install 'sgdlab[distributed]'", name="ray") from err
    return ray


_PROBE = ("import sys, ray\n"
          "ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR')\n"
          "print('nodes', sum(1 for n in ray.nodes() if n['Alive']))\n"
          "ray.shutdown()\n")

#: what Ray says when the cluster wants a token this process does not send
_AUTH_WORDS = ("InvalidAuthToken", "AuthenticationError", "Authentication token")


@validate(address=Instance(str, what="a Ray address"), timeout=Real(0, closed="neither"))
def probe(address: str, timeout: float) -> int:
    """Check that a Ray cluster answers at ``address`` within ``timeout`` seconds (in a child
    process, with this process's environment, killed at the deadline); :class:`ConnectionError`
    naming the address if not. Returns the number of nodes alive.

    Args:
        address: a Ray address ("auto", "HOST:PORT", "ray://HOST:PORT").
        timeout: seconds.
    """
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE, address], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConnectionError(f"could not reach a Ray cluster at address {address!r} within "
                              f"{timeout:g} s (is the head node running and the address right? "
                              "start one with `ray start --head`)") from None
    if out.returncode != 0:
        lines = [line for line in (out.stderr or out.stdout).strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {out.returncode}"
        if any(word in reason for word in _AUTH_WORDS):
            reason = ("the cluster uses token authentication: set RAY_AUTH_MODE=token, with the "
                      "cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
        raise ConnectionError(f"could not connect to a Ray cluster at address {address!r}: {reason}")
    return int(next(line for line in out.stdout.splitlines() if line.startswith("nodes ")).split()[1])


def _on(node: str | None, soft: bool = False) -> Any:
    """Ray's strategy placing an actor on ``node`` (None: Ray's default). Hard unless ``soft``: Ray
    2.60 placed actors that reserve no CPU off their node under a soft affinity (3 of 4 tries); a
    hard one fails only if the node is gone, which the runs handle as a worker that died."""
    if node is None:
        return "DEFAULT"
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node, soft=soft)


@dataclass
class ShardSlot:
    """A shard actor: its name (workers find it again by name), home directory and handle."""

    name: str
    home: str
    handle: Any
    cpus: float


class Cluster:
    """A Ray connection and the actors runs reuse.

    Args:
        address: ``None`` (default) starts a local Ray instance (or uses the one this process has
            already started with ``ray.init``); otherwise the address of a running cluster
            (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``).
        num_cpus: CPUs of the local instance (default: all); ignored with ``address``.
        connect_timeout: seconds to wait for ``address`` to answer.
        worker_cpus: CPUs each worker actor reserves (default 0: they only share the machine, so N
            workers and K shards fit on any number of cores). Workers are spread over the nodes
            either way; with 1, a node takes no more workers than it has CPUs (the others go
            where there is room).
        shard_cpus: CPUs each shard actor reserves (default 0).

    Example:
        >>> from sgdlab.distributed import Cluster, downpour   # doctest: +SKIP
        >>> with Cluster(num_cpus=2) as cluster:               # doctest: +SKIP
        ...     a = downpour(model, loss_fn, (X, y), workers=2, cluster=cluster)
        ...     b = downpour(model, loss_fn, (X, y), workers=4, cluster=cluster)
    """

    @validate(address=(Instance(str, what="a Ray address such as 'auto' or 'HOST:6379'"), None),
              num_cpus=(Int(1), None), connect_timeout=Real(0, closed="neither"), worker_cpus=Real(0),
              shard_cpus=Real(0))
    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 connect_timeout: float = 30.0, worker_cpus: float = 0.0, shard_cpus: float = 0.0) -> None:
        if address is not None and not address.strip():
            raise argument_error("address", address, "a Ray address such as 'auto' or 'HOST:6379'")
        self.connect_timeout, self.worker_cpus, self.shard_cpus = connect_timeout, worker_cpus, shard_cpus
        ray = require_ray()
        self.address = address
        self._owns_ray = False
        if not ray.is_initialized():
            if address is None:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
            else:
                probe(address, self.connect_timeout)
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            self._owns_ray = True
        self.namespace = ray.get_runtime_context().namespace
        self.node_id = ray.get_runtime_context().get_node_id()  # the driver's node: the shards' place
        self.dir = Path(tempfile.mkdtemp(prefix="sgdlab-distributed-"))
        self._idle_workers: list[Any] = []
        self._idle_shards: list[ShardSlot] = []
        self._all_workers: list[Any] = []
        self._worker_node: dict[int, str] = {}  # id(worker actor) -> the node it was sent to
        self._all_shards: list[ShardSlot] = []
        self._lent_workers: list[Any] = []
        self._lent_shards: list[ShardSlot] = []
        self.closed = False

    # ---- actors ----------------------------------------------------------------------------------
    def new_worker(self) -> Any:
        """A new worker actor, on the live node with room that holds the fewest of this cluster's
        workers (no node with room: wherever Ray finds one)."""
        from ._actors import RemoteWorker

        ray = require_ray()
        held = Counter(self._worker_node[id(h)] for h in self._all_workers)

        def room(node: dict[str, Any]) -> bool:
            cpus = node["Resources"].get("CPU", 0.0)
            return cpus - held[node["NodeID"]] * self.worker_cpus >= self.worker_cpus

        nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"] and room(n))
        node = min(nodes, key=lambda n: held[n]) if nodes else None
        handle = RemoteWorker.options(num_cpus=self.worker_cpus, scheduling_strategy=_on(node)).remote()
        self._all_workers.append(handle)
        self._worker_node[id(handle)] = node
        return handle

    def new_shard(self) -> ShardSlot:
        name = f"sgdlab-shard-{uuid.uuid4().hex[:12]}"
        slot = ShardSlot(name=name, home=str(self.dir / name), handle=None, cpus=self.shard_cpus)
        self._start_shard(slot)
        self._all_shards.append(slot)
        return slot

    def _start_shard(self, slot: ShardSlot) -> None:
        from ._actors import RemoteShard

        beside_driver = _on(self.node_id, soft=slot.cpus > 0)  # the driver's node has no room: elsewhere
        slot.handle = RemoteShard.options(name=slot.name, namespace=self.namespace, max_restarts=-1,
                                          max_task_retries=-1, num_cpus=slot.cpus,
                                          scheduling_strategy=beside_driver).remote(slot.home)

    def revive(self, slot: ShardSlot, timeout: float = 10.0) -> None:
        """Create a shard that died for good again, under its name: it restores its checkpoint.
        (Ray frees the name of a dead actor within moments; until then, try again.)"""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._start_shard(slot)
                return
            except ValueError:  # the name is still taken
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def take(self, workers: int, shards: int) -> tuple[list[Any], list[ShardSlot]]:
        """``workers`` worker actors and ``shards`` shard actors, idle ones first."""
        self._check_open()
        w = [self._idle_workers.pop() if self._idle_workers else self.new_worker() for _ in range(workers)]
        s = [self._idle_shards.pop() if self._idle_shards else self.new_shard() for _ in range(shards)]
        self._lent_workers, self._lent_shards = w, s
        return w, s

    @property
    def lent_workers(self) -> list[Any]:
        """The worker actors of the run in progress (the list the run updates when it replaces one)."""
        return self._lent_workers

    @property
    def lent_shards(self) -> list[ShardSlot]:
        """The shard actors of the run in progress."""
        return self._lent_shards

    def give_back(self, workers: list[Any], shards: list[ShardSlot]) -> None:
        """Actors a run has finished with (alive and idle) go back to the pool."""
        self._idle_workers.extend(workers)
        self._idle_shards.extend(shards)
        self._lent_workers, self._lent_shards = [], []

    def discard(self, workers: list[Any] = (), shards: list[ShardSlot] = ()) -> None:
        """Kill actors that must not be reused (a run that failed may have left calls running, a worker
        died) and forget them (the lists of a run in progress are the run's to change)."""
        ray = require_ray()
        for handle in [*workers, *(slot.handle for slot in shards)]:
            try:
                ray.kill(handle)
            except Exception:  # already gone
                pass
        dead_w, dead_s = set(map(id, workers)), {s.name for s in shards}
        self._idle_workers = [h for h in self._idle_workers if id(h) not in dead_w]
        self._all_workers = [h for h in self._all_workers if id(h) not in dead_w]
        self._idle_shards = [s for s in self._idle_shards if s.name not in dead_s]

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this Cluster is closed")

    # ---- life ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Kill the actors this cluster started, and stop Ray if it started it."""
        if self.closed:
            return
        self.closed = True
        ray = require_ray()
        if ray.is_initialized():
            for handle in self._all_workers:
                try:
                    ray.kill(handle)
                except Exception:  # already gone
                    pass
            for slot in self._all_shards:
                try:
                    ray.kill(slot.handle)
                except Exception:
                    pass
            if self._owns_ray:
                ray.shutdown()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.address or "local"
        return (f"Cluster({where!r}, idle workers={len(self._idle_workers)}, idle shards="
                f"{len(self._idle_shards)}{', closed' if self.closed else ''})")
