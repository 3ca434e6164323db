"""Distributed SGD on Ray, measured: the tables and plots of docs/distributed.md and the "Distributed
SGD on Ray" section of docs/benchmarks.md.

    python benchmarks/distributed.py                      # all four parts, ~12 minutes on 2 cores
    python benchmarks/distributed.py --parts two-node     # one part (ray, delays, simulate, two-node)
    python benchmarks/distributed.py --parts ray --repeats 1 --epochs 5

Part 1 (Ray, a local instance): every algorithm with 1, 2 and 4 workers (1 server shard) on a
benchmark problem (digits_cnn by default), and serial SGD on the same problem with the same optimizer
and learning rate, in round-robin rounds (the order rotating each round, so that a busy spell of the
shared machine hits every contender alike); medians over the rounds, speeds also as ratios to the
serial run of the same round. Every run does the same work: ``epochs`` passes over the training
split, ``T = epochs * ceil(n / batch)`` minibatch gradients in all, split over the workers.

Part 2 (no Ray, deterministic): delay-tolerant AdaGrad against AdaGrad when every gradient arrives
exactly d updates late (``sgdlab.distributed.simulate_delays``), over a grid of learning rates, on
sparse_logreg (the sparse logistic regression AdaGrad and AdaptiveRevision were made for).

Part 3 (no Ray, deterministic): Downpour, delay-tolerant AdaGrad, EASGD and DiLoCo with N = 16 ...
1024 simulated workers (``sgdlab.distributed.simulate_workers``) on sparse_logreg and digits_mlp:
the loss against communication rounds and against bytes sent.

Part 4 (Ray): every algorithm on a cluster of two nodes started here with ``ray start``
(``sgdlab.distributed.RayNodes``) against the same runs on the in-process Ray instance, in
round-robin rounds (the two alternating which goes first): wall time, updates/s, staleness.

Markdown goes to stdout, progress to stderr, the plots to docs/images/distributed_*.png.
"""

from __future__ import annotations

import os

# Ray reads its authentication mode when it is imported: the two-node cluster of part 4 uses Ray's
# token authentication (the default of `ray start --head`), and so must this driver.
os.environ.setdefault("RAY_AUTH_MODE", "token")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sgdlab import problems  # noqa: E402
from sgdlab.distributed import (Cluster, RayNodes, delay_tolerant_adagrad, diloco, downpour, eamsgd,  # noqa: E402
                                easgd, serial_sgd, simulate_delays, simulate_workers, sync_sgd)

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
    ("DiLoCo, H 8", diloco, {"lr": 0.003, "inner_steps": 8}, ("adamw", {"lr": 0.003})),
    ("synchronous SGD", sync_sgd, {"lr": 0.1}, ("sgd", {"lr": 0.1})),
]
BASELINES = {"adagrad": "serial Adagrad", "sgd": "serial SGD", "nag": "serial NAG", "adamw": "serial AdamW"}
PARTS = ("ray", "delays", "simulate", "two-node")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which parts, of {', '.join(PARTS)}")
    parser.add_argument("--problem", default="digits_cnn")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=3, help="round-robin rounds")
    parser.add_argument("--delays", default="0,100,1000")
    parser.add_argument("--delay-lrs", default="0.03,0.1,0.3,1,3")
    parser.add_argument("--delay-epochs", type=int, default=5)
    parser.add_argument("--sim-workers", default="16,64,256,1024")
    parser.add_argument("--sim-rounds", type=int, default=30)
    parser.add_argument("--sim-problems", default="sparse_logreg,digits_mlp")
    parser.add_argument("--cluster-workers", default="2,4")
    parser.add_argument("--cluster-epochs", type=int, default=15)
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: the parts are {', '.join(PARTS)}")
    IMAGES.mkdir(parents=True, exist_ok=True)
    print(f"sgdlab benchmarks/distributed.py · {datetime.date.today()} · torch {torch.__version__} · "
          f"ray {__import__('ray').__version__} · {platform.machine()}, {os.cpu_count()} cores · load average "
          f"{os.getloadavg()[0]:.1f} at the start\n")
    if "ray" in parts:
        workers = [int(w) for w in args.workers.split(",")]
        runs = measure_ray(args.problem, workers, args.epochs, args.batch_size, args.repeats)
        print(format_ray(runs, workers, args) + "\n")
        plot_curves(runs, workers, args.problem, IMAGES / "distributed_loss.png")
        plot_staleness(runs, workers, IMAGES / "distributed_staleness.png")
    if "delays" in parts:
        delays = [int(d) for d in args.delays.split(",")]
        lrs = [float(v) for v in args.delay_lrs.split(",")]
        grid = measure_delays(delays, lrs, args.delay_epochs)
        print(format_delays(grid, delays, lrs, args) + "\n")
        plot_delays(grid, delays, lrs, IMAGES / "distributed_delays.png")
    if "simulate" in parts:
        counts = [int(n) for n in args.sim_workers.split(",")]
        for name in args.sim_problems.split(","):
            sims = measure_simulated(name, counts, args.sim_rounds)
            print(format_simulated(sims, name, counts, args) + "\n")
            plot_simulated(sims, name, counts, IMAGES / f"distributed_simulated_{name}.png")
    if "two-node" in parts:
        counts = [int(n) for n in args.cluster_workers.split(",")]
        runs = measure_two_node(args.problem, counts, args.cluster_epochs, args.batch_size, args.repeats)
        print(format_two_node(runs, counts, args) + "\n")
    print(f"(load average {os.getloadavg()[0]:.1f} at the end)")


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

    asynchronous = [c[0] for c in CONTENDERS if c[1] in (downpour, delay_tolerant_adagrad, easgd, eamsgd)
                    and not c[2].get("synchronous")]
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


# ---- part 3: N simulated workers ----------------------------------------------------------------------

#: per problem, each simulated algorithm's label, name and settings (the same for every N)
SIMULATED = {
    "sparse_logreg": [("Downpour (Adagrad)", "downpour", {"lr": 0.3}),
                      ("delay-tolerant AdaGrad", "dtadagrad", {"lr": 0.3}),
                      ("EASGD, tau 4", "easgd", {"lr": 10.0, "tau": 4}),
                      ("DiLoCo, H 8", "diloco", {"lr": 0.01, "inner_steps": 8})],
    "digits_mlp": [("Downpour (Adagrad)", "downpour", {"lr": 0.03}),
                   ("delay-tolerant AdaGrad", "dtadagrad", {"lr": 0.03}),
                   ("EASGD, tau 4", "easgd", {"lr": 0.1, "tau": 4}),
                   ("DiLoCo, H 8", "diloco", {"lr": 0.001, "inner_steps": 8})],
}
SIM_BATCH = 16


def measure_simulated(name: str, counts: list[int], rounds: int) -> dict:
    """{(label, N): result}"""
    sims = {}
    started = time.perf_counter()
    for label, algorithm, options in SIMULATED[name]:
        simulate_workers(algorithm, name, workers=2, rounds=1, batch_size=SIM_BATCH, **options)  # warm up
        for n in counts:
            r = simulate_workers(algorithm, name, workers=n, rounds=rounds, batch_size=SIM_BATCH, **options)
            sims[(label, n)] = r
            say(f"{name}, {label}, {n} workers: val loss {r.final_loss:.4f} in {r.wall_time:.1f} s "
                f"[{time.perf_counter() - started:.0f} s]")
    return sims


def format_simulated(sims: dict, name: str, counts: list[int], args) -> str:
    problem = problems.get(name)
    size = next(iter(sims.values())).params.size
    settings = "; ".join(f"{label}: " + ", ".join(f"{k} {v:g}" for k, v in options.items())
                         for label, _, options in SIMULATED[name])
    lines = [f"{name} ({problem.title}, D = {size:,} parameters); {args.sim_rounds} communication rounds, "
             f"minibatches of {SIM_BATCH}, simulated (deterministic; ``simulate_workers``): validation loss "
             f"and accuracy after the last round, the minibatch gradients computed, the MiB sent (both ways, "
             f"float32) and the simulation's wall time here. Settings, the same for every N: {settings} (the "
             "other options at their defaults; not tuned per N).", "",
             "| algorithm | N | final loss | accuracy | worst loss on the way | gradients | MiB sent | "
             "staleness max | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for label, _, _ in SIMULATED[name]:
        for n in counts:
            r = sims[(label, n)]
            lines.append(f"| {label} | {n} | {r.final_loss:.3f} | {r.curve.metric[-1]:.3f} | "
                         f"{np.max(r.curve.loss):.3g} | {r.steps:,} | {r.curve.bytes[-1] / 2**20:,.1f} | "
                         f"{max(r.staleness)} | {r.wall_time:.1f} |")
    return "\n".join(lines)


def plot_simulated(sims: dict, name: str, counts: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for label, _, _ in SIMULATED[name]]
    fig, axes = plt.subplots(2, len(labels), figsize=(3.6 * len(labels), 6.4), sharey=True)
    colors = dict(zip(counts, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    for col, label in enumerate(labels):
        for n in counts:
            c = sims[(label, n)].curve
            axes[0, col].plot(c.rounds, c.loss, color=colors[n], label=f"N = {n}")
            axes[1, col].plot(c.bytes[1:] / 2**20, c.loss[1:], color=colors[n], label=f"N = {n}")
        axes[0, col].set_title(label, fontsize=10)
        axes[0, col].set_xlabel("communication rounds")
        axes[1, col].set_xlabel("MiB sent (both ways)")
        axes[1, col].set_xscale("log")
        for row in (0, 1):
            axes[row, col].set_yscale("log")
            axes[row, col].grid(alpha=0.3)
    for row in (0, 1):
        axes[row, 0].set_ylabel("validation loss")
    axes[0, -1].legend(fontsize=8)
    fig.suptitle(f"{name}: N simulated workers taking turns (deterministic), loss against rounds and bytes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"plot: {path}")


# ---- part 4: two nodes against the in-process Ray -----------------------------------------------------------

def measure_two_node(problem_name: str, counts: list[int], epochs: int, batch_size: int, repeats: int) -> dict:
    """{(where, label, n): [result per round]}; where is "in-process" or "two nodes"."""
    problem = problems.get(problem_name)
    runs: dict = {}
    started = time.perf_counter()
    with RayNodes(2, cpus=max(1, (os.cpu_count() or 2) // 2)) as nodes:
        runs["nodes"] = nodes.node_ids
        for round_ in range(repeats):
            order = ["in-process", "two nodes"] if round_ % 2 == 0 else ["two nodes", "in-process"]
            for where in order:
                address = nodes.address if where == "two nodes" else None
                with Cluster(address, num_cpus=None if address else os.cpu_count()) as cluster:
                    for label, fn, kw, _ in CONTENDERS:
                        for n in counts:
                            task = problem.build(0)
                            r = fn(task.model, task.loss_fn, task.train, epochs=epochs, batch_size=batch_size,
                                   eval_data=task.val, metric_fn=task.metric_fn, curve_points=10, workers=n,
                                   shards=1, cluster=cluster, **kw)
                            runs.setdefault((where, label, n), []).append(r)
                            say(f"round {round_ + 1}/{repeats}, {where}: {label}, {n} workers: "
                                f"{r.wall_time:.2f} s [{time.perf_counter() - started:.0f} s]")
    return runs


def format_two_node(runs: dict, counts: list[int], args) -> str:
    total = runs[("in-process", CONTENDERS[0][0], counts[0])][0].steps
    lines = [f"Problem {args.problem}; {args.cluster_epochs} epochs of batch {args.batch_size}: {total} minibatch "
             "gradients per run, split over the workers; 1 server shard. In-process: the Ray instance this "
             "process starts (one node). Two nodes: a head (`ray start --head`) and a second node (`ray start "
             "--address`) on this machine, each with its own raylet and object store; the driver joins them "
             "with `address=`, the workers are placed on both nodes in turn (checked below), the shard on "
             f"the driver's node. {args.repeats} rounds, the two alternating which goes first; medians, "
             "and the median of the per-round ratio two nodes / in-process.", "",
             "| algorithm | workers | seconds in-process | two nodes | ratio | updates/s in-process | two nodes "
             "| staleness mean in-process | two nodes | max in-process | two nodes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    spread = True
    for label, *_ in CONTENDERS:
        for n in counts:
            a, b = runs[("in-process", label, n)], runs[("two nodes", label, n)]
            ratio = statistics.median(y.wall_time / x.wall_time for x, y in zip(a, b))
            lines.append(
                f"| {label} | {n} | {statistics.median(r.wall_time for r in a):.2f} "
                f"| {statistics.median(r.wall_time for r in b):.2f} | {ratio:.2f}x "
                f"| {statistics.median(r.updates_per_second for r in a):.0f} "
                f"| {statistics.median(r.updates_per_second for r in b):.0f} "
                f"| {statistics.median(r.mean_staleness for r in a):.2f} "
                f"| {statistics.median(r.mean_staleness for r in b):.2f} "
                f"| {statistics.median(max(r.staleness) for r in a):.0f} "
                f"| {statistics.median(max(r.staleness) for r in b):.0f} |")
            spread &= all({s["nodes"][0] for s in r.worker_stats} == set(runs["nodes"]) for r in b)
    lines += ["", "Workers on both nodes in every two-node run: " + ("yes." if spread else "NO (see the runs).")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
