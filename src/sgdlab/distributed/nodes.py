"""Ray nodes on this machine, started with ``ray start``: a cluster of several machines, in one.

``RayNodes(2)`` starts a head node (``ray start --head``) and a second node (``ray start
--address``), as one would on two machines; a driver (``sgdlab distributed ... --address``, or
:class:`~sgdlab.distributed.Cluster` with ``address=``) joins them as it joins any cluster, and
:meth:`RayNodes.stop` takes one node away mid-run, as a machine that fails or is shut down.

Each node gets its own temporary directory (``--temp-dir``: its sockets, logs and session) and its own
process group, and every port is one the operating system picks (``--port 0`` and Ray's defaults), so
the nodes clash neither with each other nor with another Ray instance on the machine. ``ray stop``
cannot stop one node of several on a machine: it signals every Ray process it finds by name, whoever
started it. :meth:`RayNodes.stop` signals the processes of one node, as ``ray stop`` does (SIGTERM,
then SIGKILL after a grace period): the node's process group and every process descended from it
(a raylet starts its workers in sessions of their own).

The nodes use Ray's token authentication, the default of ``ray start --head`` in Ray 2.60: the head
uses the token in ``~/.ray/auth_token`` (created with ``ray get-auth-token --generate`` if there is
none), and every process that joins, the other nodes and each driver, needs ``RAY_AUTH_MODE=token``
in its environment (:attr:`RayNodes.env`; in Python, before ``import ray``: Ray reads it then), as
with any such cluster. Linux only (``/proc``), as multi-node Ray is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .._validation import Int, Real, validate

#: what a driver (or another node) needs in its environment to join the nodes
AUTH_ENV = {"RAY_AUTH_MODE": "token"}


def _ray_command() -> str:
    """The ``ray`` command of this Python's environment."""
    here = Path(sys.executable).with_name("ray")
    if here.exists():
        return str(here)
    found = shutil.which("ray")
    if found is None:
        raise FileNotFoundError("the `ray` command was not found: pip install 'sgdlab[distributed]'")
    return found


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid -> (parent pid, process group, state), read from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def _members(group: int) -> set[int]:
    """The live processes of process group ``group`` and all their descendants."""
    table = _processes()
    members = {pid for pid, (_, pgrp, state) in table.items() if pgrp == group and state != "Z"}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _, state) in table.items()
                    if ppid in members and pid not in members and state != "Z"}
        members |= children
        grew = bool(children)
    return members


def _alive(pids: set[int]) -> set[int]:
    table = _processes()
    return {pid for pid in pids if pid in table and table[pid][2] != "Z"}


def _signal(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


_NODES_SCRIPT = ("import json, sys, ray\n"
                 "ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR')\n"
                 "print(json.dumps([{'id': n['NodeID'], 'alive': n['Alive'], 'raylet': n['RayletSocketName']}"
                 " for n in ray.nodes()]))\n"
                 "ray.shutdown()\n")


class RayNodes:
    """``nodes`` Ray nodes on this machine: a head and ``nodes - 1`` nodes joined to it.

    Started at construction (``ray start --head``, then ``ray start --address`` for each other node,
    each with its own ``--temp-dir`` and process group, every port picked by the system); ready when
    the head lists all of them as alive. Close it (or use it as a context manager) to stop them all.

    Args:
        nodes: how many nodes, the head included (>= 1).
        cpus: the CPUs each node offers to Ray's scheduler (``--num-cpus``; they need not exist:
            two nodes of 2 on a 2-core machine share its cores).
        object_store_mb: each node's object store (``--object-store-memory``), in MiB (>= 80).
        timeout: seconds each ``ray start`` and the wait for the nodes may take before a
            ``TimeoutError`` (the nodes started so far are stopped).

    Attributes:
        address: the head's address, ``"IP:PORT"`` (Ray gives the machine's address even to a node
            started on 127.0.0.1: a node must be reachable from the others).
        env: the environment variables a driver needs to join (``RAY_AUTH_MODE=token``).
        node_ids: Ray's id of each node, in order (the head first).
        temp_dirs: each node's temporary directory.

    Example:
        >>> from sgdlab.distributed import RayNodes, Cluster, downpour   # doctest: +SKIP
        >>> with RayNodes(2) as nodes:                                    # doctest: +SKIP
        ...     os.environ.update(nodes.env)
        ...     with Cluster(nodes.address) as cluster:
        ...         result = downpour(model, loss_fn, (X, y), workers=4, cluster=cluster)
        ...     {s["nodes"][0] for s in result.worker_stats} == set(nodes.node_ids)
        True
    """

    @validate(nodes=Int(1), cpus=Int(1), object_store_mb=Int(80), timeout=Real(0, closed="neither"))
    def __init__(self, nodes: int = 2, *, cpus: int = 1, object_store_mb: int = 128, timeout: float = 60.0) -> None:
        self.count, self.cpus, self.object_store_mb, self.timeout = nodes, cpus, object_store_mb, timeout
        self.env = dict(AUTH_ENV)
        self.address = ""
        self.node_ids: list[str] = []
        self.temp_dirs: list[str] = []
        self._groups: list[int] = []
        self._stopped: list[bool] = []
        try:
            self._ensure_token()
            for i in range(nodes):
                self._start(head=i == 0)
            self.node_ids = self._wait_for_nodes()
        except BaseException:
            self.close()
            raise

    # ---- starting -----------------------------------------------------------------------------
    def _ensure_token(self) -> None:
        """Ray's token (``~/.ray/auth_token``), created by ``ray get-auth-token --generate`` if there is
        none and none is given in the environment: with ``RAY_AUTH_MODE=token`` set, ``ray start``
        refuses to start without one."""
        if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
            return
        if (Path.home() / ".ray" / "auth_token").exists():
            return
        out = subprocess.run([_ray_command(), "get-auth-token", "--generate"], capture_output=True, text=True,
                             timeout=self.timeout, env={**os.environ, **self.env})
        if out.returncode != 0:
            raise RuntimeError(f"`ray get-auth-token --generate` failed: {_last_line(out.stderr or out.stdout)}")

    def _start(self, head: bool) -> None:
        # short: the node's Unix sockets live in it, and a socket path has at most 107 characters
        temp_dir = tempfile.mkdtemp(prefix="sgdray-", dir="/tmp")
        self.temp_dirs.append(temp_dir)
        args = [_ray_command(), "start", "--temp-dir", temp_dir, "--num-cpus", str(self.cpus),
                "--object-store-memory", str(self.object_store_mb * 2**20), "--dashboard-agent-listen-port", "0",
                "--disable-usage-stats"]
        args += ["--head", "--port", "0", "--include-dashboard", "false"] if head else ["--address", self.address]
        process = subprocess.Popen(args, env={**os.environ, **self.env}, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._groups.append(process.pid)  # start_new_session: the group of ray start and its daemons
        self._stopped.append(False)
        try:
            out, _ = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
            raise TimeoutError(f"`ray start` of node {len(self.temp_dirs) - 1} did not finish within "
                               f"{self.timeout:g} s: {_last_line(out)}") from None
        if process.returncode != 0:
            raise RuntimeError(f"`ray start` of node {len(self.temp_dirs) - 1} failed (exit status "
                               f"{process.returncode}): {_last_line(out)}")
        if head:
            # ray start writes the address of the cluster it started into its --temp-dir
            self.address = Path(temp_dir, "ray_current_cluster").read_text().strip()

    def _wait_for_nodes(self) -> list[str]:
        """Ask the head (from a child process) until it lists every node as alive; their ids, in order."""
        deadline = time.monotonic() + self.timeout
        while True:
            listed = self.describe(timeout=max(1.0, deadline - time.monotonic()))
            ids = [n["id"] for n in listed if n["alive"]]
            if len(ids) == self.count:
                return [next(n["id"] for n in listed if n["alive"] and n["raylet"].startswith(d + os.sep))
                        for d in self.temp_dirs]
            if time.monotonic() > deadline:
                raise TimeoutError(f"the head lists {len(ids)} of the {self.count} nodes as alive after "
                                   f"{self.timeout:g} s")
            time.sleep(0.5)

    def describe(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The nodes as the head lists them (from a child process): ``[{"id", "alive", "raylet"}]``."""
        try:
            out = subprocess.run([sys.executable, "-c", _NODES_SCRIPT, self.address], capture_output=True,
                                 text=True, timeout=timeout, env={**os.environ, **self.env})
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"the head at {self.address} did not answer within {timeout:g} s") from None
        if out.returncode != 0:
            raise ConnectionError(f"could not ask the head at {self.address}: {_last_line(out.stderr)}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    # ---- stopping -----------------------------------------------------------------------------
    def alive(self, node: int) -> bool:
        """Whether any process of node ``node`` is still running."""
        return bool(_members(self._groups[self._index(node)]))

    def stop(self, node: int, grace: float = 2.0) -> None:
        """Stop node ``node`` alone, as ``ray stop`` stops the Ray of a machine: SIGTERM to each of its
        processes (the raylet then ends its workers), SIGKILL to those still running ``grace``
        seconds later. Stopping the head (node 0) ends the cluster."""
        node = self._index(node)
        group = self._groups[node]
        members = _members(group)
        _signal(members, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            members = _alive(members) | _members(group)
            if not members:
                break
            time.sleep(0.05)
        while members:  # SIGKILL cannot be ignored: this ends
            _signal(members, signal.SIGKILL)
            time.sleep(0.05)
            members = _alive(members) | _members(group)
        self._stopped[node] = True

    def _index(self, node: int) -> int:
        from .._validation import argument_error, check

        node = check("node", node, Int(0))
        if node >= len(self._groups):
            raise argument_error("node", node, f"an int in [0, {len(self._groups) - 1}], the nodes started")
        return node

    def close(self) -> None:
        """Stop every node (the others first, then the head) and remove their temporary directories."""
        for node in reversed(range(len(self._groups))):
            if not self._stopped[node] or _members(self._groups[node]):
                self.stop(node)
        for temp_dir in self.temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)

    def __enter__(self) -> RayNodes:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        states = ["stopped" if s else "running" for s in self._stopped]
        return f"RayNodes({self.address!r}, {', '.join(states)})"


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
