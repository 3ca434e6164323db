"""Hogwild! on this machine, the whole call and per epoch: the tables and the plot of docs/hogwild.md.

    python benchmarks/hogwild.py                    # both parts, ~10 minutes on 2 cores
    python benchmarks/hogwild.py --parts whole      # the whole call against SGDClassifier.fit
    python benchmarks/hogwild.py --parts epoch --size small --repeats 3 --plot /tmp/speedup.png
    python benchmarks/hogwild.py --size tiny --whole-size 20000x5000x20 --repeats 1 --plot /tmp/s.png  # smoke

Part "whole" (issue 15): the whole call, as a user times it, of ``hogwild(X, y, workers=k)`` with 1 and 2
workers against ``SGDClassifier(loss="log_loss", max_iter=epochs, tol=None).fit(X, y)`` (same alpha, no
intercept), round-robin rounds, medians, the load average recorded; on the project's generator
(``sgdlab.data.sparse_classification``, unit-norm tf-idf-like rows, lr 0.5) and on data made here
independently of ``sgdlab.data`` (:func:`independent_data`: feature frequencies ~ rank^-s for s = 0.5,
0.8 and 1.1, uniform values, lr 0.1), with float64 and float32 values; then a model of 4, 8 and 16
workers (:func:`model_speedups`), printed with its assumptions.

Part "epoch" runs the measurement of ``sgdlab hogwild`` (sgdlab.parallel.benchmark.measure: workers 1 and 2, with
a private replica of the weights per worker (the default) and without (``--plain``), with the lock,
scikit-learn's SGDClassifier, round-robin rounds) on two synthetic data sets of
the same size from ``sgdlab.data.sparse_classification``: RCV1-like power-law feature frequencies
(the default, a few features in nearly every row) and uniform ones (``power=0``: every feature
equally rare). Then a control: the same kernel, two threads, each with a *private* weight vector
(not SGD: it measures what sharing one vector costs). Markdown goes to stdout, progress to stderr,
the speed-up plot to ``--plot``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from sgdlab.data import parse_size, sparse_classification
from sgdlab.parallel import _kernels
from sgdlab.parallel.benchmark import (SKLEARN_FIT, core_to_core_round_trip_ns, format_notes, format_table,
                                       header, machine_parallelism, measure, split)

ROOT = Path(__file__).resolve().parent.parent
# the core-to-core round trip when the two virtual CPUs sit close together (~90 ns on this machine;
# ~330 ns when the host places them apart, and then two workers sharing w are slower than one)
CALM_ROUND_TRIP_NS = 150
# both cores free: k threads of pure arithmetic ran at least this many times the throughput of one
FREE_CORES = 1.9


def _calm(parallelism: float, round_trip_ns: float) -> bool:
    """A round (or run) measured with both cores free and the two vCPUs close together."""
    return parallelism >= FREE_CORES and round_trip_ns <= CALM_ROUND_TRIP_NS


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="whole,epoch", help="comma-separated: whole, epoch")
    parser.add_argument("--whole-size", default="400000x50000x40", help="NxDxK of the whole-call part's data")
    parser.add_argument("--whole-repeats", type=int, default=5, help="round-robin rounds per data set (whole)")
    parser.add_argument("--size", default="200000x50000x50", help="NxDxK or a preset (tiny, small, rcv1)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=15, help="round-robin rounds per data set")
    parser.add_argument("--loss", default="log")
    parser.add_argument("--alpha", type=float, default=1e-6)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--decay", type=float, default=0.9)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "images" / "hogwild_speedup.png")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts <= {"whole", "epoch"}:
        parser.error(f"--parts: {args.parts!r} (expected whole, epoch or both)")
    if "whole" in parts:
        whole_call_part(args)
    if "epoch" in parts:
        epoch_part(args)


def epoch_part(args) -> None:
    """Per-epoch speed-up with and without replicas and the lock, the control and the plot."""
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


def independent_data(n: int, d: int, k: int, exponent: float, dtype=np.float64, seed: int = 0):
    """Sparse binary data made without ``sgdlab.data``, as the issue made it: each row draws k feature
    indices i.i.d. from p_j ~ (j + 1)^-exponent (repeats merged, so a few rows hold fewer than k),
    values uniform in [0, 1) (rows not normalized), labels the sign of X w* - median for a Gaussian w*
    (balanced classes). CSR with int32 indices and ``dtype`` values."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.arange(1, d + 1, dtype=np.float64) ** -exponent)
    cols = np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n * k)), d - 1).astype(np.int32)
    X = sp.csr_matrix((rng.random(n * k).astype(dtype), cols, np.arange(0, n * k + 1, k, dtype=np.int64)),
                      shape=(n, d))
    X.sum_duplicates()
    X.indptr = X.indptr.astype(np.int32) if X.nnz < 2**31 else X.indptr
    score = X @ rng.standard_normal(d)
    return X, np.where(score >= np.median(score), 1.0, -1.0)


def _paired_change(one, two) -> str:
    """The final objective of 2 workers against 1 in each round (same seed, same row orders): the
    median change and its range, as "+0.12% (-0.50..+1.00)"."""
    changes = [100 * (b[-1] / a[-1] - 1) for a, b in zip(one.objectives, two.objectives)]
    return f"{statistics.median(changes):+.2f}% ({min(changes):+.2f}..{max(changes):+.2f})"


def whole_call_part(args) -> None:
    """The whole call against SGDClassifier.fit on seven data sets; a summary table, then the model."""
    n, d, k = parse_size(args.whole_size)
    common = dict(loss="log", alpha=1e-6, epochs=5, decay=0.9)
    sets = [("sgdlab.data generator, power 1.1, float64, lr 0.5",
             lambda: sparse_classification(n, d, k, power=1.1, seed=0), 0.5)]
    for dtype in (np.float64, np.float32):
        for exponent in (0.5, 0.8, 1.1):
            sets.append((f"independent, s = {exponent}, {np.dtype(dtype).name}",
                         lambda e=exponent, t=dtype: independent_data(n, d, k, e, t, seed=0), 0.1))
    rows, measured = [], []
    started = time.perf_counter()
    for label, make, lr in sets:
        print(f"whole call: generating {n}x{d}x{k}, {label}", file=sys.stderr, flush=True)
        X, y = make()
        m = measure(X, y, workers=[1, 2], baseline="sklearn-fit", seed=0, repeats=args.whole_repeats, lr=lr,
                    progress=lambda message: print(message, file=sys.stderr, flush=True), **common)
        runs = {(r.name, r.workers): r for r in m.runs}
        one, two, fit = runs[("hogwild", 1)], runs[("hogwild", 2)], runs[(SKLEARN_FIT, 1)]
        calm = [a / b for a, b, p1, p2, ns1, ns2 in zip(one.wall_times, two.wall_times, one.parallelism,
                                                          two.parallelism, one.round_trip_ns, two.round_trip_ns)
                if _calm(min(p1, p2), max(ns1, ns2))]
        rows.append(f"| {label} | {X.nnz / 1e6:.1f}M | {two.hot_weights} | {fit.wall_time:.3f} | {one.wall_time:.3f} "
                    f"| {two.wall_time:.3f} | **{fit.wall_time / one.wall_time:.2f}x** "
                    f"| **{one.wall_time / two.wall_time:.2f}x** | "
                    + (f"{statistics.median(calm):.2f}x ({len(calm)})" if calm else "- (0)")
                    + f" | {one.seconds_per_epoch / two.seconds_per_epoch:.2f}x "
                    f"| {100 * one.setup_share:.0f}% / {100 * two.setup_share:.0f}% "
                    f"| {100 * (one.final_objective / fit.final_objective - 1):+.2f}% "
                    f"| {100 * (two.final_objective / one.final_objective - 1):+.2f}% "
                    f"| {_paired_change(one, two)} "
                    f"| {statistics.median(m.machine_parallelism):.2f}x, {statistics.median(m.round_trip_ns):.0f} ns |")
        measured.append((label, X, one, two))
    print(f"### The whole call (n x d x k = {n}x{d}x{k}, log loss, alpha 1e-6, 5 epochs, decay 0.9)\n")
    print(f"Measured {datetime.date.today()}, {args.whole_repeats} round-robin rounds per data set, medians; "
          f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{time.perf_counter() - started:.0f} s in all.\n")
    print("| data | non-zeros | hot weights (2 workers) | SGDClassifier.fit (s) | 1 worker (s) | 2 workers (s) "
          "| 1 worker vs fit | 2 vs 1 worker, whole call | calm rounds (n) | 2 vs 1, per epoch "
          "| set-up, % of an epoch (1 / 2 workers) | objective, 1 worker vs fit | objective, 2 vs 1 worker "
          "| objective, 2 vs 1, same seed (median; range) | machine: 2 threads' arithmetic, round trip |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows) + "\n")
    print(f"Calm rounds: both runs had both cores free (>= {FREE_CORES}x the arithmetic of one) and every core-to-core "
          f"round trip <= {CALM_ROUND_TRIP_NS} ns; the median of their whole-call ratios, and how many there were. "
          "Machine: the medians of the checks at the start of each round, 2 threads of pure arithmetic against "
          "one (2.00x: both cores free) and a cache line's round trip between the cores. Objective, 2 vs 1: the "
          "ratio of the medians over the rounds; same seed: the median (and range) of each round's ratio, both "
          "runs of a round having the same seed, so the same row orders (the final objective moves with the seed "
          "more than with the workers at the heaviest skew).\n")
    print(model_text(measured))


def model_speedups(one, two, n: int, bytes_per_row: float, workers=(1, 2, 4, 8, 16),
                   bandwidth_gb_s: float = 80.0, core_gb_s: float = 10.0) -> dict[int, float]:
    """Expected whole-call speed-ups over 1 worker of a k-worker Hogwild! run, from a 1- and 2-worker
    measurement (``Run`` records), by a model:

    - an epoch of one worker is n rows of c = its epoch time / n seconds each;
    - with k workers each row costs c + delta * (k - 1) / k, where delta is the sharing cost measured
      at 2 workers: the extra time of a row whose writes meet lines another core wrote, at most
      (k - 1) / k of them when the k workers write a shared line in turn (with 2: 1/2, so delta =
      2 (2 T_2 / n - c));
    - the rows stream bytes_per_row from memory: k workers together get at most ``bandwidth_gb_s``
      (a 16-core server's memory system, an assumption) and each at most ``core_gb_s``;
    - the set-up (checks, the sample for the fold intervals, the first order: none of it split among
      the workers) stays as measured; the rest of the call outside the epochs (the final objective,
      split among the workers, and the epochs' hand-offs) stays as measured too (an upper bound).
    """
    c = one.seconds_per_epoch / n
    delta = max(0.0, 2 * (2 * two.seconds_per_epoch / n - c))
    epochs = len(one.round_times[0])
    setup = statistics.median(one.setup_times)
    serial = max(0.0, one.wall_time - epochs * one.seconds_per_epoch - setup)
    out = {}
    for k in workers:
        per_row = c + delta * (k - 1) / k
        rows_per_s = min(k / per_row, bandwidth_gb_s * 1e9 / bytes_per_row,
                         k * core_gb_s * 1e9 / bytes_per_row)
        epoch = n / rows_per_s
        whole = setup + epochs * epoch + serial
        out[k] = one.wall_time / whole
    return out


def model_text(measured) -> str:
    lines = ["### A model of 4, 8 and 16 workers (not a measurement)\n",
             "From each data set's 1- and 2-worker runs above, by `model_speedups` (the model's assumptions are "
             "its docstring: the sharing cost per row measured at 2 workers grows as (k - 1) / k; the rows stream "
             "their bytes from a memory system of 80 GB/s, 10 GB/s per core; the set-up and the rest of the call "
             "outside the epochs stay as measured with 1 worker). Expected whole-call speed-up over 1 worker:\n",
             "| data | 2 workers (model; measured) | 4 | 8 | 16 |", "|---|---|---|---|---|"]
    for label, X, one, two in measured:
        bytes_per_row = (X.data.itemsize + X.indices.itemsize) * X.nnz / X.shape[0] + 8 + 8
        s = model_speedups(one, two, X.shape[0], bytes_per_row)
        lines.append(f"| {label} | {s[2]:.2f}x; {one.wall_time / two.wall_time:.2f}x | {s[4]:.2f}x | {s[8]:.2f}x "
                     f"| {s[16]:.2f}x |")
    return "\n".join(lines) + "\n"


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
        calm = [r for r, p, ns in rows if _calm(p, ns)]
        text = (f"Per round, {name} 2 workers vs 1 worker (ratio of the round's median epochs), with the "
                "machine checks (lowest arithmetic parallelism and slowest round trip, measured at the start "
                "of the round and before and after each of the two runs): "
                + ", ".join(f"{r:.2f}x ({p:.2f}, {ns:.0f} ns)" for r, p, ns in rows) + ".")
        if calm:
            text += (f" **Median over the {len(calm)} round(s) with both cores free (>= {FREE_CORES}) and every "
                     f"round trip <= {CALM_ROUND_TRIP_NS} ns: {statistics.median(calm):.2f}x.**")
        texts.append(text)
    return "\n\n".join(texts)


def private_weights_control(X, y, *, rounds: int, alpha: float, lr: float) -> list[tuple]:
    """Epoch times of the lock-free kernel: 1 thread; 2 threads sharing w; 2 with a private w each.

    Each round records the machine's arithmetic parallelism and the slowest core-to-core round trip
    measured before and after it.
    """
    n, d = X.shape
    indptr = X.indptr.astype(np.int64)
    stop, lock = np.zeros(1, np.int64), np.zeros(1, np.int64)

    def epoch(shares, weights) -> float:
        done = []

        def run(rows, w):  # plain Hogwild! (no hot weights), no lock, the default dense L2 step
            args = _kernels.SgdRowsArgs(indptr=indptr, indices=X.indices, data=X.data, y=y, w=w, shrink=np.empty(0),
                                        order=rows, next_row=_kernels.row_counter(), eta=lr, kind=_kernels.LOG,
                                        intercept_at=-1, stop=stop, lock=lock, scaled=True, rho=1.0 - lr * alpha)
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
    groups = {"calm": [r for r in records if _calm(r[0], r[1])],
              "far": [r for r in records if r[0] >= FREE_CORES and r[1] > CALM_ROUND_TRIP_NS]}
    parts = []
    for key, what in (("calm", f"both cores free (>= {FREE_CORES}) and round trips <= {CALM_ROUND_TRIP_NS} ns"),
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
            + (f" ({rest} round(s) with fewer than {FREE_CORES} cores' worth of arithmetic left out.)" if rest else ""))


def control_speedup(records) -> float:
    """1 thread / 2 private threads over the rounds with both cores free (for the plot)."""
    free = [r for r in records if r[0] >= FREE_CORES] or records
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
