"""Optimizer step time: sgdlab's fused flat-buffer step against torch.optim and memory bandwidth.

For each algorithm and each parameter layout, the median time of one ``opt.step()`` (gradients already
in place) over ``steps`` steps after warm-up steps (which include the compilation), for:

* sgdlab with ``fused=True`` (its ``convention="torch"`` variant where torch has the algorithm, so
  that both do the same work);
* torch.optim's default (the single-tensor loop on CPU), ``foreach=True`` and ``fused=True`` where
  torch has them;
* the bandwidth bound: the bytes the update must move (read parameter, gradient and state; write
  parameter and state) divided by the memory bandwidth of an in-place stream ``dst += src`` (12 bytes
  an element: the pattern of every in-place update; ``copy_`` understates it here, as writing a line
  that was not read first costs a read for ownership), measured in the same run.

All contenders of a row are timed round-robin, one step each per round, and the median taken: on a
shared machine, drift then hits them alike and the ratios hold.

Layouts: (a) one tensor of 16M floats; (b) 2000 tensors cycling through 64/128/4096/16384 floats
(10.3M floats); (c) 5000 tensors of 256 floats; (t) a transformer's: 12 blocks of four 768 x 768
matrices (attention), a 3072 x 768 and a 768 x 3072 (the MLP's), their 10 biases and gains (85.1M
floats, 340 MB), for the matrix-aware optimizers. Ratios, not absolute times, carry between machines.

On layout t, Muon runs against ``torch.optim.Muon`` on the 72 matrices plus ``torch.optim.AdamW`` (in
the implementation of the column) on the 120 vectors, the same work as sgdlab's Muon with its AdamW
group; Adafactor against ``torch.optim.Adafactor``. There a step takes seconds, so at most
``MATRIX_STEPS`` steps are timed after one warm-up, and the bandwidth bound is not shown (Muon's
step is bound by its matrix products, not by memory).

``compile_cost`` measures the first step (tracing and compiling the fused kernel) in fresh processes:
with an empty Inductor cache, with an empty cache but Inductor set up, and with the cache filled.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable

import torch

from .. import optim  # noqa: PLW0406 (the package this module measures)
from .._validation import Int, Options, Seq, check

# sgdlab name -> (torch.optim class, kwargs, the implementations torch has for it)
TORCH_EQUIVALENT = {
    "sgd": (torch.optim.SGD, {"lr": 1e-3}, ("default", "foreach", "fused")),
    "momentum": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}, ("default", "foreach", "fused")),
    "nag": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
            ("default", "foreach", "fused")),
    "adagrad": (torch.optim.Adagrad, {}, ("default", "foreach", "fused")),
    "adadelta": (torch.optim.Adadelta, {}, ("default", "foreach")),
    "rmsprop": (torch.optim.RMSprop, {}, ("default", "foreach")),
    "adam": (torch.optim.Adam, {}, ("default", "foreach", "fused")),
    "adamax": (torch.optim.Adamax, {}, ("default", "foreach")),
    "nadam": (torch.optim.NAdam, {}, ("default", "foreach")),
    "amsgrad": (torch.optim.Adam, {"amsgrad": True}, ("default", "foreach", "fused")),
    "adamw": (torch.optim.AdamW, {}, ("default", "foreach", "fused")),
    "radam": (torch.optim.RAdam, {}, ("default", "foreach")),
    "nadamw": (torch.optim.NAdam, {"decoupled_weight_decay": True}, ("default", "foreach")),
    "adafactor": (torch.optim.Adafactor, {}, ("default", "foreach")),
    # layouts a-c hold vectors only, which Muon gives to its AdamW group (torch's defaults)
    "muon": (torch.optim.AdamW, {}, ("default", "foreach", "fused")),
}
IMPLEMENTATION_FLAGS = {"default": {"foreach": False}, "foreach": {"foreach": True},
                        "fused": {"fused": True}}


def transformer_shapes(blocks: int = 12, width: int = 768) -> list[tuple[int, ...]]:
    """A transformer's parameters: per block four (width x width) attention matrices, the MLP's
    (4 width x width) and (width x 4 width), their biases and two norms' gains and biases."""
    block = ([(width, width)] * 4 + [(4 * width, width), (width, 4 * width)]
             + [(width,)] * 4 + [(4 * width,), (width,)] + [(width,)] * 4)
    return block * blocks


LAYOUTS = {
    "a": lambda: [16 * 2**20],
    "b": lambda: [(64, 128, 4096, 16384)[i % 4] for i in range(2000)],
    "c": lambda: [256] * 5000,
    "t": transformer_shapes,
}
#: The layouts of matrices, the algorithms they time by default, and the most steps they time.
MATRIX_LAYOUTS = {"t": ("adafactor", "muon")}
MATRIX_STEPS = 5


def make_params(shapes: Iterable[int | tuple[int, ...]], seed: int = 0) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(shape, generator=gen)) for shape in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen).mul_(1e-3)
    return params


def state_buffers(name: str, params: list[torch.nn.Parameter]) -> int:
    """How many parameter-sized state buffers the algorithm reads and writes per step (counted in
    the state one step leaves: AggMo's K velocities are K, Adafactor's factors of a vector 1)."""
    opt = optim.create(name, params[:1], fused=False)
    opt.step()
    p = params[0]
    return round(sum(v.numel() for k, v in opt.state[p].items() if k != "step") / p.numel())


def interleaved_medians(steps_by_name: dict[str, Callable[[], object]], rounds: int,
                        warmup: int = 3) -> dict[str, float]:
    """Median seconds of each callable, timed round-robin (one call of each per round), so that a
    shared machine's slow drift hits all of them alike and their ratios stay meaningful."""
    for _ in range(warmup):
        for fn in steps_by_name.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps_by_name}
    for _ in range(rounds):
        for name, fn in steps_by_name.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _torch_step(name: str, impl: str, shapes: list) -> Callable[[], object]:
    """The step of torch.optim's ``impl`` of algorithm ``name`` over fresh parameters of ``shapes``.
    For Muon, torch.optim.Muon takes the matrices and AdamW (``impl``) the rest, as sgdlab's Muon
    routes them."""
    cls, kwargs, _ = TORCH_EQUIVALENT[name]
    params = make_params(shapes)
    if name != "muon":
        return cls(params, **kwargs, **IMPLEMENTATION_FLAGS[impl]).step
    matrices = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    opts = ([torch.optim.Muon(matrices)] if matrices else []) + (
        [cls(rest, **kwargs, **IMPLEMENTATION_FLAGS[impl])] if rest else [])
    return lambda: [opt.step() for opt in opts]


def run(layouts: Iterable[str] = "abc", algorithms: Iterable[str] | None = None, steps: int = 20,
        report: Callable[[dict], None] = lambda row: None) -> list[dict]:
    """Time every (layout, algorithm); each row of results is passed to ``report`` as it comes.
    ``algorithms`` None: every algorithm on layouts a-c, those of ``MATRIX_LAYOUTS`` on t.

    sgdlab, each torch.optim implementation and the bandwidth probe (``dst += src`` over as many
    floats) are timed round-robin within one row."""
    rows = []
    for layout in layouts:
        shapes = LAYOUTS[layout]()
        total = sum(math.prod(s) if isinstance(s, tuple) else s for s in shapes)
        matrices = layout in MATRIX_LAYOUTS
        names = list(algorithms or (MATRIX_LAYOUTS[layout] if matrices else _adam_first(optim.available())))
        src, dst = torch.randn(total), torch.randn(total)
        for name in names:
            convention = "torch" if name in TORCH_EQUIVALENT else "paper"
            contenders = {"sgdlab": optim.create(name, make_params(shapes), convention=convention,
                                                 fused=True).step}
            if name in TORCH_EQUIVALENT:
                for impl in TORCH_EQUIVALENT[name][2]:
                    contenders[f"torch_{impl}"] = _torch_step(name, impl, shapes)
            if not matrices:
                contenders["stream"] = lambda: dst.add_(src)
            timed = min(steps, MATRIX_STEPS) if matrices else steps
            medians = interleaved_medians(contenders, timed, warmup=1 if matrices else 3)
            del contenders
            row = {"layout": layout, "algorithm": name, "tensors": len(shapes), "floats": total, "steps": timed,
                   **medians}
            if not matrices:
                bandwidth = 3 * 4 * total / row.pop("stream")  # read dst, read src, write dst
                row["bound"] = 4 * total * (3 + 2 * state_buffers(name, make_params([4]))) / bandwidth
            rows.append(row)
            report(row)
    return rows


def first_step_seconds(name: str, numel: int = 2**20, warm_inductor: bool = False) -> float:
    """Seconds of the first fused step (tracing + compiling, or loading from the cache). With
    ``warm_inductor``, an unrelated function is compiled first, so that Inductor's one-time set-up
    (per process and cache directory) is not counted."""
    if warm_inductor:
        torch.compile(lambda x: x.add_(1.0), fullgraph=True)(torch.zeros(8))
    params = make_params([numel])
    opt = optim.create(name, params, fused=True)
    t0 = time.perf_counter()
    opt.step()
    return time.perf_counter() - t0


def compile_cost(algorithms: Iterable[str] | None = None,
                 report: Callable[[dict], None] = lambda row: None) -> list[dict]:
    """First-step seconds per algorithm, each in a fresh process: ``cold`` with an empty Inductor
    cache; ``kernel`` with an empty cache but Inductor already set up (the compile time of this
    algorithm's kernel alone); ``cached`` with the cache the cold run filled."""
    rows = []
    for name in algorithms or optim.available():
        row = {"algorithm": name}
        with tempfile.TemporaryDirectory() as cache:
            for key, warm in (("cold", False), ("cached", False)):
                row[key] = _first_step_in_new_process(name, cache, warm)
        with tempfile.TemporaryDirectory() as cache:
            row["kernel"] = _first_step_in_new_process(name, cache, True)
        rows.append(row)
        report(row)
    return rows


def _first_step_in_new_process(name: str, cache: str, warm_inductor: bool) -> float:
    code = ("from sgdlab.optim.step_time import first_step_seconds; "
            f"print(first_step_seconds({name!r}, warm_inductor={warm_inductor}))")
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                          text=True)
    return float(done.stdout.split()[-1])


TABLE_HEADER = (
    "| layout | algorithm | sgdlab fused ms | torch default ms | torch foreach ms | torch fused ms | "
    "bandwidth bound ms | speed-up vs torch's fastest | sgdlab / torch fused Adam (same layout) | "
    "sgdlab / bound |\n|---|---|---|---|---|---|---|---|---|---|"
)


def format_row(row: dict, adam_fused: float | None) -> str:
    def ms(key: str) -> str:
        return f"{row[key] * 1e3:.2f}" if key in row else "-"

    torch_times = [row[k] for k in row if k.startswith("torch_")]
    speedup = f"{min(torch_times) / row['sgdlab']:.2f}x" if torch_times else "-"
    vs_adam = f"{row['sgdlab'] / adam_fused:.2f}x" if adam_fused else "-"
    vs_bound = f"{row['sgdlab'] / row['bound']:.2f}x" if "bound" in row else "-"
    return (f"| {row['layout']} | {row['algorithm']} | {ms('sgdlab')} | {ms('torch_default')} | "
            f"{ms('torch_foreach')} | {ms('torch_fused')} | {ms('bound')} | {speedup} | {vs_adam} | "
            f"{vs_bound} |")


def _names(algorithms: Iterable[str] | None) -> list[str]:
    return list(check("algorithms", list(optim.available() if algorithms is None else algorithms),
                      Seq(Options(*optim.available()), min_length=1)))


def print_table(layouts: Iterable[str] = "abc", algorithms: Iterable[str] | None = None, steps: int = 20,
                echo: Callable[[str], None] = print) -> list[dict]:
    """The step-time table of docs/benchmarks.md, printed row by row through ``echo`` as it is
    measured (``sgdlab bench-step``); returns the rows. Adam is measured first, so that every row can
    show its ratio to torch's fused Adam on the same layout."""
    layouts = list(check("layouts", list(layouts), Seq(Options(*LAYOUTS), min_length=1)))
    names = None if algorithms is None else _adam_first(_names(algorithms))
    steps = check("steps", steps, Int(1))
    echo(_title("bench-step"))
    echo(TABLE_HEADER)
    adam_fused: dict[str, float] = {}
    timed: dict[str, int] = {}

    def report(row: dict) -> None:
        if row["algorithm"] == "adam" and "torch_fused" in row:
            adam_fused[row["layout"]] = row["torch_fused"]
        if row["layout"] in MATRIX_LAYOUTS:
            timed[row["layout"]] = row["steps"]
        echo(format_row(row, adam_fused.get(row["layout"])))

    rows = run(layouts, names, steps, report=report)
    for layout, n in timed.items():
        echo(f"\nLayout {layout}: median of {n} timed steps per contender (after 1 warm-up), round-robin; "
             "torch's Muon is torch.optim.Muon on the matrices plus torch.optim.AdamW, in the column's "
             "implementation, on the vectors; no bandwidth bound (Muon's step is bound by its matrix products).")
    return rows


def _adam_first(names: list[str]) -> list[str]:
    return (["adam"] if "adam" in names else []) + [n for n in names if n != "adam"]


def print_compile_cost(algorithms: Iterable[str] | None = None,
                       echo: Callable[[str], None] = print) -> list[dict]:
    """:func:`compile_cost` as a Markdown table, printed row by row through ``echo``."""
    names = _names(algorithms)
    echo(_title("bench-step --compile-cost"))
    echo("| algorithm | first step, new process, empty cache (s) | of which this kernel's compile (s) | "
         "first step, new process, cache filled (s) |\n|---|---|---|---|")
    return compile_cost(names, report=lambda r: echo(
        f"| {r['algorithm']} | {r['cold']:.2f} | {r['kernel']:.2f} | {r['cached']:.2f} |"))


def _title(what: str) -> str:
    return (f"sgdlab {what} · {datetime.date.today()} · torch {torch.__version__} · {platform.machine()} "
            f"· {torch.get_num_threads()} threads\n")
