"""``sgdlab distributed ALGO``: one distributed run on a benchmark problem, on a local Ray instance or
an existing cluster (``--address``).

:func:`distributed_command` does the work (``cli_distributed`` is its typer signature): it checks the
options (each error names its option), runs :func:`sgdlab.distributed.run` and prints the summary,
the loss curve and the staleness; ``--plot`` saves the curve against time and against updates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray  # noqa: F401  (the [distributed] extra: without it the command says how to install it)
import typer

from .algorithms import ALGORITHMS, FAILURE_POLICIES, run
from .result import DistributedResult

#: The options that only some algorithms take.
SPECIFIC = {
    "optimizer": ("downpour", "sync", "serial"),
    "n_fetch": ("downpour",),
    "n_push": ("downpour",),
    "tau": ("easgd", "eamsgd"),
    "beta": ("easgd", "eamsgd"),
    "momentum": ("easgd", "eamsgd"),
    "synchronous": ("easgd", "eamsgd"),
}


def distributed_command(algorithm: str, *, problem: str, workers: int | None = None, shards: int | None = None,
                        address: str | None = None, epochs: int | None = None,
                        batch_size: int | None = None, lr: float | None = None, seed: int = 0,
                        optimizer: str | None = None, n_fetch: int | None = None,
                        n_push: int | None = None, tau: int | None = None, beta: float | None = None,
                        momentum: float | None = None, synchronous: bool = False,
                        on_worker_failure: str = "replace", checkpoint_every: int = 100,
                        checkpoint_dir: Path | None = None, connect_timeout: float = 30.0,
                        plot: Path | None = None, cluster: Any = None,
                        echo: Callable[[str], None] = typer.echo) -> DistributedResult:
    """Run ``algorithm`` on ``problem`` and print what happened; returns the result. ``cluster``: a
    :class:`~sgdlab.distributed.Cluster` to run on (default: one for this run, local or ``address``)."""
    key = algorithm.lower().strip()
    if key not in ALGORITHMS:
        raise typer.BadParameter(f"{algorithm!r} is not one of {', '.join(ALGORITHMS)}", param_hint="ALGO")
    given = {"optimizer": optimizer, "n_fetch": n_fetch, "n_push": n_push, "tau": tau, "beta": beta,
             "momentum": momentum, "synchronous": synchronous or None}
    kwargs: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if key not in SPECIFIC[name]:
            raise typer.BadParameter(f"applies to {', '.join(SPECIFIC[name])}, not {key}",
                                     param_hint="--" + name.replace("_", "-"))
        kwargs[name] = value
    if lr is not None:
        kwargs["lr"] = lr
    if key != "serial":
        kwargs.update(workers=2 if workers is None else workers, shards=1 if shards is None else shards,
                      address=address, cluster=cluster, on_worker_failure=on_worker_failure,
                      checkpoint_every=checkpoint_every, connect_timeout=connect_timeout,
                      checkpoint_dir=checkpoint_dir)
    elif workers is not None or shards is not None or address is not None:
        raise typer.BadParameter("serial SGD runs in this process: it takes no --workers, --shards or "
                                 "--address", param_hint="ALGO")
    try:
        from .. import problems

        problems.get(problem)
    except ImportError as err:
        raise typer.BadParameter(f"the benchmark problems are not available ({err})", param_hint="--problem")
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--problem") from err
    try:
        result = run(key, problem, seed=seed, epochs=epochs, batch_size=batch_size, **kwargs)
    except ConnectionError as err:
        echo(f"error: {err}")
        raise typer.Exit(code=1) from err
    except (TypeError, ValueError) as err:
        raise typer.BadParameter(str(err)) from err
    echo(f"sgdlab distributed {key} · problem {problem} · {_where(address, key)}")
    echo(result.summary())
    echo("")
    echo(format_curve(result))
    echo("")
    echo(format_staleness(result))
    if plot is not None:
        save_plot(result, plot, title=f"{key} on {problem}")
        echo(f"wrote {plot}")
    return result


def _where(address: str | None, algorithm: str) -> str:
    if algorithm == "serial":
        return "serial, this process"
    return f"Ray cluster at {address}" if address else "local Ray instance"


def format_curve(result: DistributedResult, rows: int = 11) -> str:
    """The loss curve as a Markdown table of about ``rows`` rows."""
    import numpy as np

    c = result.curve
    idx = np.unique(np.round(np.linspace(0, len(c) - 1, min(rows, len(c)))).astype(int))
    metric = c.metric is not None
    head = "| seconds | updates | gradients | loss |" + (" metric |" if metric else "")
    lines = [head, "|---|---|---|---|" + ("---|" if metric else "")]
    for i in idx:
        lines.append(f"| {c.time[i]:.3f} | {c.updates[i]} | {c.steps[i]} | {c.loss[i]:.5g} |"
                     + (f" {c.metric[i]:.4f} |" if metric else ""))
    return "\n".join(lines)


def format_staleness(result: DistributedResult, width: int = 40) -> str:
    """The delays seen at shard 0 as a text histogram (at most 12 bins)."""
    import numpy as np

    counts = result.staleness_histogram()
    total = int(counts.sum())
    if total == 0:
        return "staleness: no updates"
    edges = np.unique(np.linspace(0, len(counts), min(12, len(counts)) + 1).astype(int))
    lines = ["staleness (updates applied between a worker's read and its update), shard 0:"]
    peak = max(int(counts[a:b].sum()) for a, b in zip(edges[:-1], edges[1:]))
    for a, b in zip(edges[:-1], edges[1:]):
        n = int(counts[a:b].sum())
        if n == 0:
            continue
        label = f"{a}" if b - a == 1 else f"{a}-{b - 1}"
        lines.append(f"  {label:>9} | {'#' * max(1 if n else 0, round(width * n / peak))} {n}")
    return "\n".join(lines)


def save_plot(result: DistributedResult, path: Path, title: str = "") -> None:
    """The loss against seconds and against server updates, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    c = result.curve
    axes[0].plot(c.time, c.loss)
    axes[0].set_xlabel("seconds")
    axes[0].set_ylabel("loss")
    axes[1].plot(c.updates, c.loss)
    axes[1].set_xlabel("server updates")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cli_distributed(
    algorithm: str = typer.Argument(..., metavar="ALGO", help=f"One of {', '.join(ALGORITHMS)}."),
    problem: str = typer.Option(..., help="A benchmark problem (sgdlab.problems), e.g. digits_mlp."),
    workers: int = typer.Option(None, min=1, help="N worker actors (default 2)."),
    shards: int = typer.Option(None, min=1, help="K parameter-server shards (default 1)."),
    address: str = typer.Option(None, help="A running Ray cluster (auto, HOST:PORT, ray://HOST:PORT); "
                                           "default: a local Ray instance."),
    epochs: int = typer.Option(None, min=1, help="Passes over the training data (default: the "
                                                 "problem's quick budget)."),
    batch_size: int = typer.Option(None, min=1, help="Minibatch size (default: the problem's)."),
    lr: float = typer.Option(None, help="Learning rate (the server's; EASGD: the workers')."),
    seed: int = typer.Option(0, help="Model initialisation, data split and minibatch order."),
    optimizer: str = typer.Option(None, help="Server optimizer (downpour: adagrad, sync: sgd)."),
    n_fetch: int = typer.Option(None, min=1, help="Downpour: fetch every n_fetch steps."),
    n_push: int = typer.Option(None, min=1, help="Downpour: push every n_push steps."),
    tau: int = typer.Option(None, min=1, help="EASGD: communication period."),
    beta: float = typer.Option(None, help="EASGD: beta = workers * alpha (default 0.9)."),
    momentum: float = typer.Option(None, help="EASGD/EAMSGD: Nesterov momentum delta."),
    synchronous: bool = typer.Option(False, "--synchronous", help="EASGD: synchronous rounds."),
    on_worker_failure: str = typer.Option("replace", help=f"{', '.join(FAILURE_POLICIES)}."),
    checkpoint_every: int = typer.Option(100, min=0, help="Shard checkpoint every N updates."),
    checkpoint_dir: Path = typer.Option(None, help="Where shards write checkpoints (shared storage "
                                                   "on a multi-machine cluster)."),
    connect_timeout: float = typer.Option(30.0, help="Seconds to wait for --address to answer."),
    plot: Path = typer.Option(None, help="Save the loss curve (against time and updates) here."),
) -> None:
    """Distributed SGD on Ray: Downpour, delay-tolerant AdaGrad, EASGD/EAMSGD or synchronous SGD."""
    distributed_command(algorithm, problem=problem, workers=workers, shards=shards, address=address,
                        epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, optimizer=optimizer,
                        n_fetch=n_fetch, n_push=n_push, tau=tau, beta=beta, momentum=momentum,
                        synchronous=synchronous, on_worker_failure=on_worker_failure,
                        checkpoint_every=checkpoint_every, checkpoint_dir=checkpoint_dir,
                        connect_timeout=connect_timeout, plot=plot)
