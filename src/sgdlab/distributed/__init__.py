"""Distributed SGD on Ray: Downpour SGD, delay-tolerant AdaGrad, EASGD / EAMSGD, DiLoCo and synchronous SGD.

A parameter server sharded over K Ray actors, each owning a slice of the flat parameter vector and
applying the algorithm's server update to it (``server``: plain classes, tested without Ray), and N
worker actors, each with a model replica and its shard of the data (``worker``). The algorithms
(``algorithms``) say which update and which loop; the driver (``driver``) sets up the actors, handles
failures and collects the result. Local by default (a Ray instance on this machine); ``address=`` (or
a :class:`Cluster`) joins a running cluster, and :class:`RayNodes` starts one of several nodes on this
machine (``ray start``). :func:`simulate_workers` runs them with up to thousands of simulated workers in
one process, deterministically. docs/distributed.md has the design, the failure handling and the
measurements.

>>> from sgdlab.distributed import server
>>> server.shard_bounds(650, 4)
[0, 163, 326, 488, 650]

Every algorithm returns a :class:`DistributedResult`: the final parameters (and the model with them),
the loss curve against time and updates, updates per second, and the staleness seen at the server.
Names are loaded on first use, and none of them imports Ray until a run needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the submodule that defines it
_EXPORTS = {
    "ALGORITHMS": "algorithms", "delay_tolerant_adagrad": "algorithms", "diloco": "algorithms",
    "downpour": "algorithms", "eamsgd": "algorithms", "easgd": "algorithms", "run": "algorithms",
    "serial_sgd": "algorithms", "sync_sgd": "algorithms",
    "FAILURE_POLICIES": "_names",
    "Cluster": "cluster", "probe": "cluster",
    "RayNodes": "nodes",
    "Curve": "result", "DistributedResult": "result",
    "AdaRevisionServer": "server", "ElasticServer": "server", "OptimizerServer": "server", "Server": "server",
    "shard_bounds": "server",
    "simulate_delays": "simulate", "simulate_workers": "simulate",
}
_SUBMODULES = ("algorithms", "cluster", "command", "driver", "nodes", "result", "server", "simulate", "worker")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_SUBMODULES))
