"""Distributed SGD on Ray: Downpour SGD, delay-tolerant AdaGrad, EASGD / EAMSGD and synchronous SGD.

A parameter server sharded over K Ray actors, each owning a slice of the flat parameter vector and
applying the algorithm's server update to it (``server``: plain classes, tested without Ray), and N
worker actors, each with a model replica and its shard of the data (``worker``). Local by default
(a Ray instance on this machine); ``address=`` (or a :class:`Cluster`) joins a running cluster.
docs/distributed.md has the design, the failure handling and the measurements.

>>> from sgdlab.distributed import server
>>> server.shard_bounds(650, 4)
[0, 163, 326, 488, 650]

Every algorithm returns a :class:`DistributedResult`: the final parameters (and the model with them),
the loss curve against time and updates, updates per second, and the staleness seen at the server.
"""

from .algorithms import (ALGORITHMS, FAILURE_POLICIES, delay_tolerant_adagrad, downpour, eamsgd, easgd,
                         run, serial_sgd, sync_sgd)
from .cluster import Cluster, probe
from .result import Curve, DistributedResult
from .server import AdaRevisionServer, ElasticServer, OptimizerServer, Server, shard_bounds
from .simulate import simulate_delays

__all__ = [
    "ALGORITHMS", "AdaRevisionServer", "Cluster", "Curve", "DistributedResult", "ElasticServer",
    "FAILURE_POLICIES", "OptimizerServer", "Server", "delay_tolerant_adagrad", "downpour", "eamsgd",
    "easgd", "probe", "run", "serial_sgd", "shard_bounds", "simulate_delays", "sync_sgd",
]
