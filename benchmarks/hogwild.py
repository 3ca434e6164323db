"""Hogwild! speed-up on this machine: the tables and the plot of docs/hogwild.md.

    python benchmarks/hogwild.py                    # ~90 s on 2 cores
    python benchmarks/hogwild.py --size small --repeats 3 --plot /tmp/speedup.png
    python benchmarks/hogwild.py --size tiny --repeats 1 --plot /tmp/speedup.png   # a smoke run, seconds

Runs the measurement of ``sgdlab hogwild`` (sgdlab.parallel.benchmark.measure: workers 1 and 2, with
private copies of the hot weights (the default) and without (``--plain``), with the lock,
scikit-learn's SGDClassifier, round-robin rounds) on two synthetic data sets of
the same size from ``sgdlab.data.sparse_classification``: RCV1-like power-law feature frequencies
(the default, a few features in nearly every row) and uniform ones (``power=0``: every feature
equally rare). Then a control: the same kernel, two threads, each with a *private* weight vector
(not SGD: it measures what sharing one vector costs). Markdown goes to stdout, progress to stderr,
the speed-up plot to ``--plot``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from sgdlab.data import parse_size, sparse_classification
from sgdlab.parallel import _kernels
from sgdlab.parallel.benchmark import (core_to_core_round_trip_ns, format_notes, format_table, header,
                                       machine_parallelism, measure, split)

ROOT = Path(__file__).resolve().parent.parent
# the core-to-core round trip when the two virtual CPUs sit close together (~90 ns on this machine;
# ~330 ns when the host places them apart, and then two workers sharing w are slower than one)
CALM_ROUND_TRIP_NS = 150


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="200000x50000x50", help="NxDxK or a preset (tiny, small, rcv1)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=15, help="round-robin rounds per data set")
    parser.add_argument("--loss", default="log")
    parser.add_argument("--alpha", type=float, default=1e-6)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--decay", type=float, default=0.9)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "images" / "hogwild_speedup.png")
    args = parser.parse_args(argv)
    n, d, k = parse_size(args.size)
    settings = dict(loss=args.loss, alpha=args.alpha, lr=args.lr, decay=args.decay, epochs=args.epochs)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results = {}
    started = time.perf_counter()
    for label, power in (("power-law features (RCV1-like, power 1.1)", 1.1), ("uniform features (power 0)", 0.0)):
        progress(f"generating {n}x{d}x{k}, {label}")
        X, y = sparse_classification(n, d, k, power=power, seed=0)
        X_train, y_train, X_test, y_test = split(X, y, 0.2, 0)
        m = measure(X_train, y_train, X_test, y_test, workers=[1, 2], lock=True, baseline="sklearn",
                    plain=True, seed=0, repeats=args.repeats, progress=progress, **settings)
        control = private_weights_control(X_train, y_train, rounds=args.repeats, alpha=args.alpha, lr=args.lr)
        results[label] = (m, control)
        source = f"synthetic {n}x{d}x{k}, {label} (sgdlab.data.sparse_classification, seed 0)"
        print(f"### {label}\n")
        print(header(source, m, seed=0, **settings) + "\n")
        print(format_table(m) + "\n")
        print(format_notes(m) + "\n")
        print(calm_rounds(m) + "\n")
        print(control_text(control) + "\n")
    progress(f"total {time.perf_counter() - started:.0f} s")
    plot(results, args.plot)
    progress(f"plot: {args.plot}")


def calm_rounds(m) -> str:
    """The 2-worker speed-ups per round, and their medians over the rounds the machine was at its best."""
    runs = {(r.name, r.workers): r for r in m.runs}
    one = runs[("hogwild", 1)]
    texts = []
    for name in ("hogwild", "hogwild, plain"):
        two = runs[(name, 2)]
        # the machine check of the round, and those just before and after each of the two runs
        rows = [(statistics.median(a) / statistics.median(b), min(p, p1, p2), max(ns1, ns2))
                for a, b, p, p1, p2, ns1, ns2 in zip(one.round_times, two.round_times, m.machine_parallelism,
                                                     one.parallelism, two.parallelism, one.round_trip_ns,
                                                     two.round_trip_ns)]
        calm = [r for r, p, ns in rows if p >= 1.9 and ns <= CALM_ROUND_TRIP_NS]
        text = (f"Per round, {name} 2 workers vs 1 worker (ratio of the round's median epochs), with the "
                "machine checks (lowest arithmetic parallelism and slowest round trip, measured at the start "
                "of the round and before and after each of the two runs): "
                + ", ".join(f"{r:.2f}x ({p:.2f}, {ns:.0f} ns)" for r, p, ns in rows) + ".")
        if calm:
            text += (f" **Median over the {len(calm)} round(s) with both cores free (>= 1.9) and every "
                     f"round trip <= {CALM_ROUND_TRIP_NS} ns: {statistics.median(calm):.2f}x.**")
        texts.append(text)
    return "\n\n".join(texts)


def private_weights_control(X, y, *, rounds: int, alpha: float, lr: float) -> list[tuple]:
    """Epoch times of the lock-free kernel: 1 thread; 2 threads sharing w; 2 with private copies.

    Each round records the machine's arithmetic parallelism and the slowest core-to-core round trip
    measured before and after it.
    """
    n, d = X.shape
    indptr = X.indptr.astype(np.int64)
    shrink = _kernels.shrink_factors(alpha * n / np.maximum(np.bincount(X.indices, minlength=d), 1), lr)
    stop, lock = np.zeros(1, np.int64), np.zeros(1, np.int64)

    def epoch(shares, weights) -> float:
        done = []

        def run(rows, w):  # plain Hogwild! (no hot weights), no lock
            args = _kernels.SgdRowsArgs(indptr=indptr, indices=X.indices, data=X.data, y=y, w=w, shrink=shrink,
                                        order=rows, next_row=_kernels.row_counter(), eta=lr, kind=_kernels.LOG,
                                        intercept_at=-1, stop=stop, lock=lock)
            done.append(_kernels.sgd_rows(*args)[0])

        threads = [threading.Thread(target=run, args=(rows, w)) for rows, w in zip(shares, weights)]
        tick = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - tick
        if sum(done) != n:
            raise RuntimeError(f"the control's kernels stepped on {sum(done)} rows of {n}")
        return elapsed

    records = []  # (parallelism, slowest round trip, 1 thread, 2 sharing, 2 private)
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        perm = rng.permutation(n)
        halves = np.array_split(perm, 2)
        w, w2 = np.zeros(d), np.zeros(d)
        parallelism = machine_parallelism(2)
        before = core_to_core_round_trip_ns(5_000)
        times = (epoch([perm], [w]), epoch(halves, [w, w]), epoch(halves, [w, w2]))
        records.append((parallelism, max(before, core_to_core_round_trip_ns(5_000)), *times))
    return records


def control_text(records) -> str:
    """Medians of the control over the calm rounds, and over the rounds with a slow round trip."""
    groups = {"calm": [r for r in records if r[0] >= 1.9 and r[1] <= CALM_ROUND_TRIP_NS],
              "far": [r for r in records if r[0] >= 1.9 and r[1] > CALM_ROUND_TRIP_NS]}
    parts = []
    for key, what in (("calm", f"both cores free (>= 1.9) and round trips <= {CALM_ROUND_TRIP_NS} ns"),
                      ("far", f"both cores free but a round trip > {CALM_ROUND_TRIP_NS} ns")):
        group = groups[key]
        if not group:
            parts.append(f"no round with {what}")
            continue
        one, shared, private = (statistics.median(r[i] for r in group) for i in (2, 3, 4))
        parts.append(f"{len(group)} round(s) with {what} (round trip median "
                     f"{statistics.median(r[1] for r in group):.0f} ns): 1 thread {one:.4f} s per epoch, "
                     f"2 threads sharing one w {shared:.4f} s ({one / shared:.2f}x), 2 threads with a private "
                     f"w each {private:.4f} s ({one / private:.2f}x)")
    rest = len(records) - len(groups["calm"]) - len(groups["far"])
    return (f"Control, the same kernel, {len(records)} rounds, medians: " + "; ".join(parts) + "."
            + (f" ({rest} round(s) with fewer than 1.9 cores' worth of arithmetic left out.)" if rest else ""))


def control_speedup(records) -> float:
    """1 thread / 2 private threads over the rounds with both cores free (for the plot)."""
    free = [r for r in records if r[0] >= 1.9] or records
    return statistics.median(r[2] for r in free) / statistics.median(r[4] for r in free)


def plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.4]})
    colors = {"power": "tab:blue", "uniform": "tab:orange"}
    left.plot([1, 2], [1, 2], color="gray", linestyle=":", label="ideal (linear)")
    labels = []  # (speed-up at 2 workers, color): written at the right, spread so as not to overlap
    for label, (m, control) in results.items():
        color = colors["power" if label.startswith("power") else "uniform"]
        short = "power-law" if label.startswith("power") else "uniform"
        runs = {(r.name, r.workers): r for r in m.runs}
        base = runs[("hogwild", 1)].seconds_per_epoch
        for name, style in (("hogwild", "-o"), ("hogwild, plain", "-.^"), ("hogwild + lock", "--s")):
            one = runs[("hogwild", 1)] if name == "hogwild, plain" else runs[(name, 1)]  # same run at 1
            ys = [base / r.seconds_per_epoch for r in (one, runs[(name, 2)])]
            left.plot([1, 2], ys, style, color=color, label=f"{name}, {short}")
            labels.append((ys[1], color))
        private = control_speedup(control)
        left.plot([2], [private], "*", color=color, markersize=11, label=f"control: private w per thread, {short}")
        labels.append((private, color))
    labels.sort()
    placed = []
    for value, color in labels:
        at = max(value, placed[-1] + 0.08) if placed else value
        placed.append(at)
        left.annotate(f"{value:.2f}x", (2, value), xytext=(2.06, at), textcoords="data", fontsize=8,
                      va="center", color=color)
    left.axhline(1.8, color="tab:red", linewidth=0.8, alpha=0.6)
    left.text(1.02, 1.83, "target 1.8x", color="tab:red", fontsize=8)
    left.set_xticks([1, 2])
    left.set_xlim(0.9, 2.3)
    left.set_xlabel("workers (threads)")
    left.set_ylabel("speed-up over 1 lock-free worker (s/epoch)")
    left.set_title("Hogwild! speed-up, 2-core machine")
    left.set_ylim(0, 2.3)
    left.legend(fontsize=7, loc="lower left")
    left.grid(alpha=0.3)

    names = [("hogwild", 1), ("hogwild", 2), ("hogwild, plain", 2), ("hogwild + lock", 1),
             ("hogwild + lock", 2), ("sklearn SGDClassifier", 1)]
    xs = np.arange(len(names))
    width = 0.38
    for i, (label, (m, _)) in enumerate(results.items()):
        runs = {(r.name, r.workers): r for r in m.runs}
        heights = [runs[key].seconds_per_epoch * 1e3 for key in names]
        short = "power-law" if label.startswith("power") else "uniform"
        bars = right.bar(xs + (i - 0.5) * width, heights, width,
                         color=colors["power" if label.startswith("power") else "uniform"], label=short)
        right.bar_label(bars, fmt="%.0f", fontsize=7)
    right.set_xticks(xs, [f"{n}\n{k} worker{'s' if k > 1 else ''}" if not n.startswith("sklearn")
                          else "sklearn\nSGDClassifier" for n, k in names], fontsize=7)
    right.set_ylabel("ms per epoch (median)")
    right.set_title("time per epoch, same data, loss, alpha, epochs and step schedule")
    right.legend(fontsize=8)
    right.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
