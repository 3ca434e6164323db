"""``sgdlab distributed ALGO``: one distributed run on a benchmark problem, on a local Ray instance or
an existing cluster (``--address``).

``cli_distributed`` declares the options and calls :func:`sgdlab.distributed.run`, which checks them
(an option the algorithm does not take, a bad value, an unknown problem: a one-line usage error, exit
status 2); it prints the summary, the loss curve (:func:`format_curve`) and the staleness
(:func:`format_staleness`) and the workers, each with the Ray node(s) it ran on
(:func:`format_workers`), and ``--plot`` saves the curve against time and against updates
(:func:`save_plot`). Ray is imported only when a run starts: without it the command says how to
install it (exit status 2); a cluster that cannot be reached is one line too (exit status 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ._names import ALGORITHMS, FAILURE_POLICIES

if TYPE_CHECKING:
    from .result import DistributedResult


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


def format_workers(result: DistributedResult) -> str:
    """Per worker: the Ray node(s) it ran on (first 8 hex digits of the node id; more than one if it
    was replaced), its minibatch gradients and its seconds computing and waiting, as a Markdown table."""
    lines = ["| worker | node(s) | gradients | computing s | waiting s |", "|---|---|---|---|---|"]
    for w, stats in enumerate(result.worker_stats):
        nodes = ", ".join(node[:8] for node in stats.get("nodes", [])) or "this process"
        lines.append(f"| {w} | {nodes} | {stats['steps']} | {stats['compute_s']:.2f} | {stats['wait_s']:.2f} |")
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
    algorithm: Annotated[str, typer.Argument(metavar="ALGO", help=f"One of {', '.join(ALGORITHMS)}.")],
    problem: Annotated[str, typer.Option(help="A benchmark problem (sgdlab.problems), e.g. digits_mlp.")],
    workers: Annotated[Optional[int], typer.Option(help="N worker actors (default 2).")] = None,
    shards: Annotated[Optional[int], typer.Option(help="K parameter-server shards (default 1).")] = None,
    address: Annotated[Optional[str], typer.Option(
        help="A running Ray cluster (auto, HOST:PORT, ray://HOST:PORT); default: a local Ray instance.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        help="Passes over the training data (default: the problem's quick budget).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Minibatch size (default: the problem's).")] = None,
    lr: Annotated[Optional[float], typer.Option(
        help="Learning rate (the servers'; EASGD: the workers'; DiLoCo: the inner one).")] = None,
    seed: Annotated[int, typer.Option(help="Model initialisation, data split and minibatch order.")] = 0,
    optimizer: Annotated[Optional[str], typer.Option(
        help="The servers' optimizer (downpour: adagrad, sync and serial: sgd; diloco: the workers' inner "
             "one, adamw).")] = None,
    n_fetch: Annotated[Optional[int], typer.Option(help="Downpour: fetch every n_fetch steps (default 1).")] = None,
    n_push: Annotated[Optional[int], typer.Option(help="Downpour: push every n_push steps (default 1).")] = None,
    tau: Annotated[Optional[int], typer.Option(help="EASGD: communication period (default 4).")] = None,
    beta: Annotated[Optional[float], typer.Option(help="EASGD: beta = workers * alpha (default 0.9).")] = None,
    momentum: Annotated[Optional[float], typer.Option(
        help="EASGD/EAMSGD: Nesterov momentum delta (default 0 and 0.99).")] = None,
    synchronous: Annotated[bool, typer.Option("--synchronous", help="EASGD: synchronous rounds.")] = False,
    inner_steps: Annotated[Optional[int], typer.Option(help="DiLoCo: H, inner steps per round (default 16).")] = None,
    outer_optimizer: Annotated[Optional[str], typer.Option(
        help="DiLoCo: the servers' outer optimizer (default nag: Nesterov momentum).")] = None,
    outer_lr: Annotated[Optional[float], typer.Option(help="DiLoCo: the outer learning rate (default 0.7).")] = None,
    outer_momentum: Annotated[Optional[float], typer.Option(
        help="DiLoCo: the outer momentum (default 0.9; 0 for an outer optimizer without one).")] = None,
    on_worker_failure: Annotated[Optional[str], typer.Option(
        help=f"What to do when a worker dies: {', '.join(FAILURE_POLICIES)} (default replace).")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        help="Shard checkpoint every N updates (default 100).")] = None,
    checkpoint_dir: Annotated[Optional[Path], typer.Option(
        help="Where shards write checkpoints (shared storage on a multi-machine cluster).")] = None,
    connect_timeout: Annotated[Optional[float], typer.Option(
        help="Seconds to wait for --address to answer (default 30).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save the loss curve (against time and updates) here.")] = None,
) -> None:
    """Distributed SGD on Ray: Downpour, delay-tolerant AdaGrad, EASGD/EAMSGD, DiLoCo or synchronous SGD."""
    from .algorithms import run

    try:
        result = run(algorithm, problem, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                     n_fetch=n_fetch, n_push=n_push, tau=tau, beta=beta, momentum=momentum,
                     synchronous=synchronous or None, inner_steps=inner_steps, outer_optimizer=outer_optimizer,
                     outer_lr=outer_lr, outer_momentum=outer_momentum, workers=workers, shards=shards, address=address,
                     on_worker_failure=on_worker_failure, checkpoint_every=checkpoint_every,
                     checkpoint_dir=checkpoint_dir, connect_timeout=connect_timeout)
    except ImportError as err:
        if err.name != "ray":
            raise
        raise typer.BadParameter(str(err)) from None  # the [distributed] extra is not installed
    except (ConnectionError, TimeoutError) as err:  # the cluster, not the command line
        typer.echo(f"sgdlab distributed: error: {err}", err=True)
        raise typer.Exit(code=1) from None
    where = ("serial, this process" if result.algorithm == "serial" else
             f"Ray cluster at {address}" if address else "local Ray instance")
    typer.echo(f"sgdlab distributed {result.algorithm} · problem {problem} · {where}")
    typer.echo(result.summary())
    typer.echo("")
    typer.echo(format_curve(result))
    typer.echo("")
    typer.echo(format_staleness(result))
    if result.algorithm != "serial":
        typer.echo("")
        typer.echo(format_workers(result))
    if plot is not None:
        save_plot(result, plot, title=f"{result.algorithm} on {problem}")
        typer.echo(f"wrote {plot}")
