"""Distributed SGD on Ray, measured: the tables and plots of docs/distributed.md and the "Distributed
SGD on Ray" section of docs/benchmarks.md.

    python benchmarks/distributed.py                      # ~3 minutes on 2 cores
    python benchmarks/distributed.py --repeats 1 --epochs 5 --delays 0,100 --skip-delays

Part 1 (Ray, a local instance): every algorithm with 1, 2 and 4 workers (1 server shard) on a
benchmark problem (digits_cnn by default), and serial SGD on the same problem with the same optimizer
and learning rate, in round-robin rounds (the order rotating each round, so that a busy spell of the
shared machine hits every contender alike); medians over the rounds, speeds also as ratios to the
serial run of the same round. Every run does the same work: ``epochs`` passes over the training
split, ``T = epochs * ceil(n / batch)`` minibatch gradients in all, split over the workers.

Part 2 (no Ray, deterministic): delay-tolerant AdaGrad against AdaGrad when every gradient arrives
exactly d updates late (``sgdlab.distributed.simulate_delays``), over a grid of learning rates, on
sparse_logreg (the sparse logistic regression AdaGrad and AdaptiveRevision were made for).

Markdown goes to stdout, progress to stderr, the plots to docs/images/distributed_*.png.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sgdlab import problems
from sgdlab.distributed import (Cluster, delay_tolerant_adagrad, downpour, eamsgd, easgd, serial_sgd,
                                simulate_delays, sync_sgd)

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"

#: (label, function, its arguments, the serial baseline's optimizer and its arguments)
CONTENDERS = [
    ("Downpour (Adagrad)", downpour, {"lr": 0.03}, ("adagrad", {"lr": 0.03})),
    ("delay-tolerant AdaGrad", delay_tolerant_adagrad, {"lr": 0.03}, ("adagrad", {"lr": 0.03})),
    ("EASGD async, tau 4", easgd, {"lr": 0.1, "tau": 4}, ("sgd", {"lr": 0.1})),
    ("EAMSGD async, tau 4", eamsgd, {"lr": 0.01, "tau": 4, "momentum": 0.9},
     ("nag", {"lr": 0.01, "optimizer_options": {"momentum": 0.9}})),
    ("EASGD sync, tau 4", easgd, {"lr": 0.1, "tau": 4, "synchronous": True}, ("sgd", {"lr": 0.1})),
    ("synchronous SGD", sync_sgd, {"lr": 0.1}, ("sgd", {"lr": 0.1})),
]
BASELINES = {"adagrad": "serial Adagrad", "sgd": "serial SGD", "nag": "serial NAG"}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default="digits_cnn")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=3, help="round-robin rounds")
    parser.add_argument("--delays", default="0,100,1000")
    parser.add_argument("--delay-lrs", default="0.03,0.1,0.3,1,3")
    parser.add_argument("--delay-epochs", type=int, default=5)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-delays", action="store_true")
    args = parser.parse_args(argv)
    IMAGES.mkdir(parents=True, exist_ok=True)
    print(f"sgdlab benchmarks/distributed.py · {datetime.date.today()} · torch {torch.__version__} · "
          f"ray {__import__('ray').__version__} · {platform.machine()}, {os.cpu_count()} cores\n")
    if not args.skip_ray:
        workers = [int(w) for w in args.workers.split(",")]
        runs = measure_ray(args.problem, workers, args.epochs, args.batch_size, args.repeats)
        print(format_ray(runs, workers, args) + "\n")
        plot_curves(runs, workers, args.problem, IMAGES / "distributed_loss.png")
        plot_staleness(runs, workers, IMAGES / "distributed_staleness.png")
    if not args.skip_delays:
        delays = [int(d) for d in args.delays.split(",")]
        lrs = [float(v) for v in args.delay_lrs.split(",")]
        grid = measure_delays(delays, lrs, args.delay_epochs)
        print(format_delays(grid, delays, lrs, args) + "\n")
        plot_delays(grid, delays, lrs, IMAGES / "distributed_delays.png")


# ---- part 1: Ray ----------------------------------------------------------------------------------

def measure_ray(problem_name: str, workers: list[int], epochs: int, batch_size: int, repeats: int) -> dict:
    """{(label, n): [result per round]} and {baseline label: [result per round]}."""
    problem = problems.get(problem_name)
    runs: dict = {}
    contenders = [(label, fn, kw, n) for label, fn, kw, _ in CONTENDERS for n in workers]
    contenders += [(BASELINES[opt], serial_sgd, {"optimizer": opt, **okw}, 1)
                   for opt, okw in {b[0]: b[1] for *_, b in CONTENDERS}.items()]
    started = time.perf_counter()
    with Cluster(num_cpus=os.cpu_count()) as cluster:
        runs["round trip ms"] = round_trip_ms(cluster)
        for round_ in range(repeats):
            shift = (round_ * 5) % len(contenders)
            for label, fn, kw, n in contenders[shift:] + contenders[:shift]:
                task = problem.build(0)
                extra = {} if fn is serial_sgd else {"workers": n, "shards": 1, "cluster": cluster}
                result = fn(task.model, task.loss_fn, task.train, epochs=epochs, batch_size=batch_size,
                            eval_data=task.val, metric_fn=task.metric_fn, curve_points=30, **kw, **extra)
                runs.setdefault((label, n), []).append(result)
                say(f"round {round_ + 1}/{repeats}: {label}, {n} worker(s): {result.wall_time:.2f} s, "
                    f"loss {result.final_loss:.3f} [{time.perf_counter() - started:.0f} s]")
    return runs


def round_trip_ms(cluster, calls: int = 300) -> float:
    """Median milliseconds of an empty call to a shard actor and back (ray.get of its ping)."""
    import ray

    _, (slot,) = cluster.take(0, 1)
    ray.get(slot.handle.ping.remote())
    times = []
    for _ in range(calls):
        tick = time.perf_counter()
        ray.get(slot.handle.ping.remote())
        times.append(time.perf_counter() - tick)
    cluster.give_back([], [slot])
    return 1000 * statistics.median(times)


def _baseline(label: str) -> str:
    opt = next(b[0] for lab, _, _, b in CONTENDERS if lab == label)
    return BASELINES[opt]


def format_ray(runs: dict, workers: list[int], args) -> str:
    problem = problems.get(args.problem)
    total = runs[(CONTENDERS[0][0], workers[0])][0].steps
    lines = [f"Problem {args.problem} ({problem.title}); {args.epochs} epochs of batch {args.batch_size}: "
             f"{total} minibatch gradients per run, split over the workers; 1 server shard; "
             f"{args.repeats} round-robin rounds, medians. Loss and accuracy on the validation split "
             "(for EASGD: of the centre variable).", "",
             "| algorithm | workers | seconds | gradients/s | x serial (same round) | server updates/s "
             "| final loss | accuracy | staleness mean | p90 | max |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [(label, n) for label, *_ in CONTENDERS for n in workers]
    serial_rows = [(b, 1) for b in dict.fromkeys(BASELINES[c[3][0]] for c in CONTENDERS)]
    for key in serial_rows + rows:
        rs = runs[key]
        base = runs[(_baseline(key[0]), 1)] if key not in serial_rows else rs
        ratio = statistics.median(r.steps_per_second / b.steps_per_second for r, b in zip(rs, base))
        lines.append(
            f"| {key[0]} | {key[1] if key not in serial_rows else 'serial'} "
            f"| {statistics.median(r.wall_time for r in rs):.2f} "
            f"| {statistics.median(r.steps_per_second for r in rs):.0f} | {ratio:.2f}x "
            f"| {statistics.median(r.updates_per_second for r in rs):.0f} "
            f"| {statistics.median(r.final_loss for r in rs):.3f} "
            f"| {statistics.median(float(r.curve.metric[-1]) for r in rs):.3f} "
            f"| {statistics.median(r.mean_staleness for r in rs):.2f} "
            f"| {statistics.median(r.staleness_quantile(0.9) for r in rs):.0f} "
            f"| {statistics.median(max(r.staleness) for r in rs):.0f} |")
    compute = []
    for key, rs in runs.items():
        if not isinstance(key, tuple):
            continue
        label, n = key
        if n == max(workers) and label in {c[0] for c in CONTENDERS}:
            frac = statistics.median(sum(s["compute_s"] for s in r.worker_stats) /
                                     max(1e-9, n * r.wall_time) for r in rs)
            compute.append(f"{label} {frac:.0%}")
    lines += ["", f"Share of the workers' time spent computing gradients with {max(workers)} workers: "
              + ", ".join(compute) + " (the rest: waiting for the servers and Ray's messages). "
              f"An empty call to a shard actor and back took {runs['round trip ms']:.2f} ms (median of 300)."]
    return "\n".join(lines)


def _median_run(rs: list):
    order = sorted(range(len(rs)), key=lambda i: rs[i].wall_time)
    return rs[order[len(order) // 2]]


def plot_curves(runs: dict, workers: list[int], problem: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(CONTENDERS), 2, figsize=(10, 2.6 * len(CONTENDERS)), sharey="row")
    colors = {n: c for n, c in zip(workers, ("tab:blue", "tab:orange", "tab:green", "tab:red"))}
    for row, (label, *_rest) in enumerate(CONTENDERS):
        base = _median_run(runs[(_baseline(label), 1)])
        for col, x in enumerate(("time", "updates")):
            ax = axes[row, col]
            ax.plot(getattr(base.curve, x), base.curve.loss, "k--", lw=1.2, label=_baseline(label))
            for n in workers:
                r = _median_run(runs[(label, n)])
                ax.plot(getattr(r.curve, x), r.curve.loss, color=colors[n], label=f"{n} worker{'s' * (n > 1)}")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.set_xlabel("seconds" if x == "time" else "server updates")
        axes[row, 0].set_ylabel(f"{label}\nvalidation loss", fontsize=9)
        axes[row, 1].legend(fontsize=7)
    fig.suptitle(f"Validation loss on {problem}: against wall-clock time (left) and server updates (right)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"plot: {path}")


def plot_staleness(runs: dict, workers: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    asynchronous = [c[0] for c in CONTENDERS if "sync" not in c[0]]
    fig, axes = plt.subplots(1, len(asynchronous), figsize=(3.4 * len(asynchronous), 3), sharey=True)
    for ax, label in zip(axes, asynchronous):
        for n in workers:
            counts = sum((_pad(r.staleness_histogram(), 64) for r in runs[(label, n)]), np.zeros(64))
            ax.step(np.arange(64), counts / counts.sum(), where="mid", label=f"{n} worker{'s' * (n > 1)}")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("staleness (updates)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of updates")
    axes[-1].legend(fontsize=8)
    fig.suptitle("Staleness seen at the server (all rounds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"plot: {path}")


def _pad(counts: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size)
    k = min(size, len(counts))
    out[:k] = counts[:k]
    out[-1] += counts[k:].sum()
    return out


# ---- part 2: deterministic delays -------------------------------------------------------------------

def measure_delays(delays: list[int], lrs: list[float], epochs: int) -> dict:
    problem = problems.get("sparse_logreg")
    task = problem.build(0)
    grid = {}
    started = time.perf_counter()
    for d in delays:
        for server in ("adagrad", "dtadagrad"):
            for lr in lrs:
                r = simulate_delays(problem.build(0).model, task.loss_fn, task.train, server=server, delay=d,
                                    lr=lr, epochs=epochs, batch_size=8, eval_data=task.val,
                                    metric_fn=task.metric_fn, curve_points=30)
                grid[(d, server, lr)] = r
                say(f"delay {d}, {server}, lr {lr:g}: val loss {r.final_loss:.4f} "
                    f"[{time.perf_counter() - started:.0f} s]")
    return grid


def format_delays(grid: dict, delays: list[int], lrs: list[float], args) -> str:
    first = next(iter(grid.values()))
    lines = [f"sparse_logreg, minibatches of 8, {args.delay_epochs} epochs = {first.updates} updates; every "
             "gradient applied exactly d updates after the read it was computed at (simulated, "
             "deterministic). Each cell: validation loss after the last update, (in brackets) its mean "
             "over the run's 30 evaluation points, a measure of how smoothly it got there. eps = "
             "initial accumulator = 1e-8.",
             "", "| delay d | server | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | best |",
             "|---|---|" + "---|" * (len(lrs) + 1)]
    for d in delays:
        for server, name in (("adagrad", "AdaGrad"), ("dtadagrad", "delay-tolerant AdaGrad")):
            cells = [grid[(d, server, lr)] for lr in lrs]
            best = min(cells, key=lambda r: r.final_loss if np.isfinite(r.final_loss) else np.inf)
            lines.append(f"| {d} | {name} | " + " | ".join(
                f"{r.final_loss:.3f} ({np.mean(r.curve.loss):.3f})" for r in cells)
                + f" | {best.final_loss:.3f} at lr {best.options['lr']:g}, accuracy {best.curve.metric[-1]:.3f} |")
    return "\n".join(lines)


def plot_delays(grid: dict, delays: list[int], lrs: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    styles = {"adagrad": "--", "dtadagrad": "-"}
    names = {"adagrad": "AdaGrad", "dtadagrad": "delay-tolerant AdaGrad"}
    colors = dict(zip(delays, ("tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green")))
    measures = ((lambda r: r.final_loss, "validation loss after training"),
                (lambda r: float(np.mean(r.curve.loss)), "mean validation loss over the run"))
    for col, (what, label) in enumerate(measures):
        for d in delays:
            for server in ("adagrad", "dtadagrad"):
                axes[col].plot(lrs, [what(grid[(d, server, lr)]) for lr in lrs], styles[server], marker="o",
                               color=colors[d], label=f"{names[server]}, d={d}")
        axes[col].set_xscale("log")
        axes[col].set_yscale("log")
        axes[col].set_xlabel("learning rate alpha")
        axes[col].set_ylabel(label)
        axes[col].grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    d = max(delays)
    for lr, color in zip(lrs[::2], ("tab:blue", "tab:orange", "tab:red", "tab:purple")):
        for server in ("adagrad", "dtadagrad"):
            r = grid[(d, server, lr)]
            axes[2].plot(r.curve.updates, r.curve.loss, styles[server], color=color,
                         label=f"{names[server]}, lr {lr:g}")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("server updates")
    axes[2].set_ylabel("validation loss")
    axes[2].set_title(f"delay d = {d}", fontsize=9)
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.suptitle("AdaGrad and delay-tolerant AdaGrad with every gradient d updates late (sparse_logreg)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"plot: {path}")


if __name__ == "__main__":
    main()
