"""The parameter server's update rules, one plain class per algorithm family (no Ray here).

Each server owns one slice of the flat parameter vector (a 1-D tensor) and applies the algorithm's
update to it when a worker pushes; a Ray shard actor (``sgdlab.distributed._actors``) wraps one of
them, so the math is tested directly, without a cluster, against hand computations.

All servers share the bookkeeping of the asynchronous setting:

* ``version``: updates applied so far (the server's clock);
* ``read(worker)``: a copy of the slice and the version it was read at;
* every push names the ``read_version`` of the parameters its gradient was computed at, and its
  *staleness* (the delay tau of the asynchronous SGD literature) is ``version - read_version``: how
  many updates other workers applied in between. ``staleness`` counts them, ``{delay: count}``;
* ``progress[worker]``: minibatch gradients each worker has contributed (what a replacement worker
  resumes from) and ``steps`` their total.

Servers:

* :class:`OptimizerServer`: any ``sgdlab.optim`` optimizer on the slice. Downpour SGD's server
  (Adagrad by default, as in DistBelief) takes each push as it comes; synchronous SGD's server
  averages a round of pushes (``add``) and takes one step (``apply``).
* :class:`AdaRevisionServer`: delay-tolerant AdaGrad (McMahan & Streeter 2014, AdaptiveRevision).
* :class:`ElasticServer`: the centre variable of EASGD (Zhang, Choromanska & LeCun 2015),
  asynchronous (``exchange``) and synchronous (``sync_exchange`` per worker, ``end_round``).
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import optim
from .._validation import ArgumentTypeError, ArgumentValueError, Int, Options, Real, argument_error, check

_WORKER, _VERSION, _STEPS = Int(0), Int(), Int(0)
_POSITIVE = Real(0, closed="neither")


def _as_tensor(values: Any, like: Tensor, name: str) -> Tensor:
    """``values`` (array or tensor) as a tensor of ``like``'s dtype and shape."""
    t = torch.as_tensor(np.asarray(values) if not isinstance(values, Tensor) else values)
    if t.shape != like.shape:
        raise ArgumentValueError(f"Invalid {name}: an array of shape {tuple(t.shape)} (expected the shape of this "
                                 f"server's slice, {tuple(like.shape)})")
    return t.to(like.dtype)


def _check_worker(worker: Any) -> int:
    return check("worker", worker, _WORKER)


class Server:
    """What every server keeps: the slice, its version, the staleness counts and each worker's
    progress. Subclasses add the update.

    Args:
        params: the slice of the flat parameter vector this server owns (1-D, floating point).
    """

    kind = "server"

    def __init__(self, params: Any) -> None:
        x = torch.as_tensor(np.asarray(params) if not isinstance(params, Tensor) else params)
        if x.ndim != 1:
            raise ArgumentValueError(f"Invalid params: an array of shape {tuple(x.shape)} (expected a 1-D slice of "
                                     "the flat parameter vector)")
        if not torch.is_floating_point(x):
            raise ArgumentTypeError(f"Invalid params: an array of {x.dtype} (expected floating point)")
        self._x = x.detach().clone()
        self.version = 0
        self.staleness: Counter[int] = Counter()
        self.progress: dict[int, int] = {}
        self.steps = 0
        self.restored = False  # True once loaded from a checkpoint: reads made after it were lost

    @property
    def x(self) -> Tensor:
        """The slice itself (updated in place)."""
        return self._x

    @property
    def params(self) -> Tensor:
        """The slice as it is now (a copy)."""
        return self.x.clone()

    def read(self, worker: int) -> tuple[np.ndarray, int]:
        """A copy of the slice and the version it was read at."""
        _check_worker(worker)
        return self.x.numpy().copy(), self.version

    def _delay(self, read_version: int) -> int:
        read_version = check("read_version", read_version, _VERSION)
        if read_version > self.version and self.restored:
            # read before this server went back to its checkpoint: the versions after it were lost,
            # so the push counts as fresh
            return 0
        if not 0 <= read_version <= self.version:
            raise argument_error("read_version", read_version, f"an int in [0, {self.version}], the versions this "
                                 "server has been read at")
        return self.version - read_version

    def _account(self, worker: int, delay: int, steps: int) -> None:
        steps = check("steps", steps, _STEPS)
        self.staleness[delay] += 1
        self.progress[worker] = self.progress.get(worker, 0) + steps
        self.steps += steps

    def state_dict(self) -> dict[str, Any]:
        """Everything a restarted shard needs to continue exactly: see :meth:`load_state_dict`."""
        return {"kind": self.kind, "x": self.x.clone(), "version": self.version,
                "staleness": dict(self.staleness), "progress": dict(self.progress), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise argument_error("state['kind']", state.get("kind"), f"{self.kind!r}: a checkpoint of another kind "
                                 f"of server cannot restore a {self.kind!r} one")
        self.x.copy_(state["x"])
        self.version = int(state["version"])
        self.staleness = Counter({int(k): int(v) for k, v in state["staleness"].items()})
        self.progress = {int(k): int(v) for k, v in state["progress"].items()}
        self.steps = int(state["steps"])
        self.restored = True


class OptimizerServer(Server):
    """A slice updated by an ``sgdlab.optim`` optimizer: Downpour SGD's and synchronous SGD's server.

    Downpour (Dean et al. 2012, DistBelief): every push is one optimizer step with the pushed
    (accumulated) gradient, applied when it arrives, however stale; the paper's server runs Adagrad,
    the default here. Synchronous SGD: the workers of a round ``add`` their gradients and ``apply``
    takes one step with their mean,

        g = 1/N sum_i g_i,    theta <- optimizer_step(theta, g).

    The optimizers of ``sgdlab.optim`` are elementwise, so K shards each stepping their slice do
    exactly what one optimizer over the whole vector does.

    Args:
        params: the slice (1-D).
        optimizer: a name of ``sgdlab.optim.available()``.
        lr: its learning rate (None: the optimizer's default).
        optimizer_options: its other arguments (``convention=...``; None: its defaults).

    Example:
        >>> import numpy as np
        >>> from sgdlab.distributed.server import OptimizerServer
        >>> server = OptimizerServer(np.zeros(2), "sgd", lr=0.5)
        >>> x, version = server.read(worker=0)
        >>> server.push(0, np.array([1.0, -2.0]), read_version=version)  # returns the staleness
        0
        >>> server.params.tolist(), server.version
        ([-0.5, 1.0], 1)
    """

    kind = "optimizer"

    @property
    def x(self) -> Tensor:
        # the optimizer's engine may move the parameter into its flat buffer: always read it there
        return self.param.data

    def __init__(self, params: Any, optimizer: str = "adagrad", lr: float | None = None,
                 optimizer_options: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.name = check("optimizer", optimizer, Options(*optim.available()))
        self.param = torch.nn.Parameter(self._x)
        hyper = dict(optimizer_options or {}, **({} if lr is None else {"lr": lr}))
        self.optimizer = optim.create(self.name, [self.param], **hyper)
        self._sum: Tensor | None = None
        self._count = 0

    def _step(self, grad: Tensor) -> None:
        self.param.grad = grad
        self.optimizer.step()
        self.param.grad = None
        self.version += 1

    def push(self, worker: int, grad: Any, read_version: int, steps: int = 1) -> int:
        """Apply one optimizer step with ``grad`` (Downpour); returns its staleness."""
        worker = _check_worker(worker)
        g = _as_tensor(grad, self.x, "grad")
        delay = self._delay(read_version)
        self._step(g)
        self._account(worker, delay, steps)
        return delay

    def add(self, worker: int, grad: Any, read_version: int, steps: int = 1) -> int:
        """Add ``grad`` to this round's sum (synchronous SGD); returns its staleness."""
        worker = _check_worker(worker)
        g = _as_tensor(grad, self.x, "grad")
        delay = self._delay(read_version)
        self._sum = g.clone() if self._sum is None else self._sum + g
        self._count += 1
        self._account(worker, delay, steps)
        return delay

    def apply(self) -> int:
        """One optimizer step with the mean of the round's gradients; returns how many there were
        (0: nothing was added, no step is taken)."""
        count = self._count
        if count:
            self._step(self._sum / count)
        self._sum, self._count = None, 0
        return count

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["optimizer"] = copy.deepcopy(self.optimizer.state_dict())  # torch's holds live tensors
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self._sum, self._count = None, 0


class AdaRevisionServer(Server):
    """Delay-tolerant AdaGrad: AdaptiveRevision (McMahan & Streeter 2014, "Delay-Tolerant Algorithms
    for Asynchronous Distributed Online Learning", NIPS).

    AdaGrad with delays applies each gradient with a learning rate computed from the gradients the
    server has seen, not from those the worker had seen when it read the parameters. AdaptiveRevision
    keeps, per coordinate, the sum of all gradients applied, ``z``, and at each read the worker's
    snapshot of it, ``z_old``; when the gradient ``g`` computed at that read arrives, the *backlog*

        g_bk = z - z_old                       (the gradients applied since the read)

    tells how much the learning rate of those backlog steps should have shrunk had ``g`` been known,
    and the update revises them, per coordinate:

        eta_old = alpha / sqrt(z'_max)
        z'      <- z' + g^2 + 2 g g_bk          (the delay-adapted sum of squares)
        z'_max  <- max(z'_max, z')              (keeps the learning rate non-increasing)
        eta     = alpha / sqrt(z'_max)
        x       <- x - eta g + (eta_old - eta) g_bk
        z       <- z + g

    The term ``(eta_old - eta) g_bk`` re-applies the backlog at the new, smaller rate. (After a
    restart from a checkpoint, a push whose read was made after the checkpoint finds no snapshot:
    it is applied as a fresh one, with no backlog and staleness 0.) Without delays
    (``g_bk = 0``) this is AdaGrad, ``x <- x - alpha g / sqrt(z'_0 + sum g^2)``: with
    ``initial_accumulator=eps`` exactly ``sgdlab.optim.Adagrad(lr=alpha, eps=eps)`` (the paper
    convention, ``initial_accumulator_value=0``). The same equations are in Bösen's implementation of
    AdaptiveRevision (Wei et al. 2015, petuum ``adarevision_server_table_logic.cpp``, which starts
    ``z'`` at 1). The server keeps one ``z_old`` per outstanding read, keyed by (worker, version); a
    push releases the snapshots of that worker up to the version it names.

    Args:
        params: the slice (1-D).
        lr: alpha.
        initial_accumulator: ``z'`` and ``z'_max`` at the start (> 0).

    Example:
        >>> import numpy as np
        >>> from sgdlab.distributed.server import AdaRevisionServer
        >>> server = AdaRevisionServer(np.zeros(1), lr=1.0, initial_accumulator=1.0)
        >>> _, v_a = server.read(worker=0)          # worker 0 reads at version 0
        >>> _, v_b = server.read(worker=1)          # so does worker 1
        >>> server.push(1, np.array([1.0]), v_b)    # arrives first: no backlog
        0
        >>> server.push(0, np.array([1.0]), v_a)    # one update late: backlog g_bk = 1
        1
        >>> z_prime = 1 + 1 + (1 + 2 * 1 * 1)       # z'_0 + g1^2 + (g2^2 + 2 g2 g_bk)
        >>> eta1, eta2 = 1 / np.sqrt(2), 1 / np.sqrt(z_prime)
        >>> bool(np.isclose(server.params[0].item(), -eta1 - eta2 + (eta1 - eta2) * 1))
        True
    """

    kind = "adarevision"

    def __init__(self, params: Any, lr: float = 0.01, initial_accumulator: float = 1e-8) -> None:
        super().__init__(params)
        self.lr = float(check("lr", lr, _POSITIVE))
        self.initial_accumulator = float(check("initial_accumulator", initial_accumulator, _POSITIVE))
        self.z = torch.zeros_like(self.x)
        self.z_prime = torch.full_like(self.x, self.initial_accumulator)
        self.z_prime_max = self.z_prime.clone()
        self.snapshots: dict[int, dict[int, Tensor]] = {}  # worker -> {read version: z_old}

    def read(self, worker: int) -> tuple[np.ndarray, int]:
        """The slice and its version; the server keeps this worker's snapshot ``z_old`` of ``z``."""
        worker = _check_worker(worker)
        self.snapshots.setdefault(worker, {})[self.version] = self.z.clone()
        return self.x.numpy().copy(), self.version

    def push(self, worker: int, grad: Any, read_version: int, steps: int = 1) -> int:
        """Apply ``grad``, computed at this worker's read at ``read_version``; returns its staleness."""
        worker = _check_worker(worker)
        g = _as_tensor(grad, self.x, "grad")
        delay = self._delay(read_version)
        reads = self.snapshots.get(worker, {})
        z_old = reads.get(int(read_version))
        if z_old is None:
            if not self.restored:
                raise argument_error("read_version", read_version, f"a version worker {worker} has read this "
                                     "server at: every push follows the read its gradient was computed at")
            # the read was made after the checkpoint this server restarted from: its snapshot was
            # lost with it; the push counts as fresh (no backlog)
            z_old = self.z
        for version in [v for v in reads if v < read_version]:
            del reads[version]
        g_bk = self.z - z_old
        eta_old = self.lr / self.z_prime_max.sqrt()
        self.z_prime += g * (g + 2.0 * g_bk)
        torch.maximum(self.z_prime_max, self.z_prime, out=self.z_prime_max)
        eta = self.lr / self.z_prime_max.sqrt()
        self.x.add_(-eta * g + (eta_old - eta) * g_bk)
        self.z += g
        self.version += 1
        self._account(worker, delay, steps)
        return delay

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(z=self.z.clone(), z_prime=self.z_prime.clone(), z_prime_max=self.z_prime_max.clone(),
                     snapshots={w: {v: t.clone() for v, t in reads.items()} for w, reads in self.snapshots.items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.z.copy_(state["z"])
        self.z_prime.copy_(state["z_prime"])
        self.z_prime_max.copy_(state["z_prime_max"])
        self.snapshots = {int(w): {int(v): t.clone() for v, t in reads.items()}
                          for w, reads in state["snapshots"].items()}


class ElasticServer(Server):
    """The centre variable x~ of Elastic Averaging SGD (Zhang, Choromanska & LeCun 2015).

    Asynchronous EASGD (the paper's Algorithm 1; EAMSGD, Algorithm 2, differs only on the worker):
    every tau steps a worker sends its x^i, and with the centre as it is at that moment

        d   = alpha (x^i - x~)
        x~ <- x~ + d                 (the master's step, b)
        x^i <- x^i - d               (the worker's step, a: ``exchange`` returns d)

    Synchronous EASGD (the paper's eqs. 5-6, with period tau): all p workers meet the same x~_t,

        x^i <- x^i - alpha (x^i - x~_t)    for each i    (``sync_exchange`` returns alpha (x^i - x~_t))
        x~  <- x~_t + alpha sum_i (x^i - x~_t)           (``end_round``, after all p exchanges)

    with alpha = beta / p (the paper's beta = p alpha; it suggests beta = 0.9). A worker's staleness
    is the number of centre updates since its last exchange (always 0 in the synchronous rounds).

    Args:
        params: the slice of the centre (1-D).
        alpha: the moving rate, 0 < alpha < 1.

    Example:
        >>> import numpy as np
        >>> from sgdlab.distributed.server import ElasticServer
        >>> centre = ElasticServer(np.zeros(1), alpha=0.25)
        >>> centre.exchange(0, np.array([4.0]))   # d = 0.25 * (4 - 0)
        array([1.])
        >>> centre.params.tolist()
        [1.0]
    """

    kind = "elastic"

    def __init__(self, params: Any, alpha: float = 0.1) -> None:
        super().__init__(params)
        self.alpha = float(check("alpha", alpha, Real(0, 1, closed="neither")))
        self.seen: dict[int, int] = {}
        self._round: Tensor | None = None

    def read(self, worker: int) -> tuple[np.ndarray, int]:
        """The centre and its version; a worker starting from it has seen this version."""
        worker = _check_worker(worker)
        self.seen[worker] = self.version
        return self.x.numpy().copy(), self.version

    def exchange(self, worker: int, x_worker: Any, steps: int = 0) -> np.ndarray:
        """Asynchronous elastic step with the centre as it is now; returns d = alpha (x^i - x~) for
        the worker to subtract."""
        worker = _check_worker(worker)
        xi = _as_tensor(x_worker, self.x, "x_worker")
        delay = self.version - self.seen.get(worker, 0)
        d = self.alpha * (xi - self.x)
        self.x.add_(d)
        self.version += 1
        self.seen[worker] = self.version
        self._account(worker, delay, steps)
        return d.numpy()

    def sync_exchange(self, worker: int, x_worker: Any, steps: int = 0) -> np.ndarray:
        """Synchronous elastic step against this round's centre x~_t (unchanged until ``end_round``);
        returns alpha (x^i - x~_t)."""
        worker = _check_worker(worker)
        xi = _as_tensor(x_worker, self.x, "x_worker")
        delay = self.version - self.seen.get(worker, 0)
        d = self.alpha * (xi - self.x)
        self._round = d.clone() if self._round is None else self._round + d
        self._account(worker, delay, steps)
        return d.numpy()

    def end_round(self) -> bool:
        """x~ <- x~_t + sum of the round's alpha (x^i - x~_t); False if nobody exchanged."""
        if self._round is None:
            return False
        self.x.add_(self._round)
        self._round = None
        self.version += 1
        for worker in self.seen:
            self.seen[worker] = self.version
        return True

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["seen"] = dict(self.seen)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = {int(k): int(v) for k, v in state["seen"].items()}
        self._round = None


SERVERS: dict[str, type[Server]] = {cls.kind: cls for cls in (OptimizerServer, AdaRevisionServer, ElasticServer)}


def make_server(kind: str, params: Any, **options: Any) -> Server:
    """The server of ``kind`` ("optimizer", "adarevision" or "elastic") over ``params``."""
    return SERVERS[check("kind", kind, Options(*SERVERS))](params, **options)


def shard_bounds(size: int, shards: int) -> list[int]:
    """Where the K slices of a vector of ``size`` elements start and end: K + 1 offsets, the
    slices as equal as can be (``numpy.array_split``'s sizes).

    Args:
        size: the length of the flat parameter vector.
        shards: K, at most ``size``.

    >>> shard_bounds(10, 3)
    [0, 4, 7, 10]
    """
    size, shards = check("size", size, Int(1)), check("shards", shards, Int(1))
    if shards > size:
        raise argument_error("shards", shards, f"at most the {size} parameters to split")
    sizes = [len(part) for part in np.array_split(np.arange(size), shards)]
    return [0, *np.cumsum(sizes).tolist()]
