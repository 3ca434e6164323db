"""Optimizer step time: sgdlab's fused flat-buffer step against torch.optim and memory bandwidth.

For each algorithm and each parameter layout, the median time of one ``opt.step()`` (gradients already
in place) over ``steps`` steps after warm-up steps (which include the compilation), for:

* sgdlab with ``fused=True`` (its ``convention="torch"`` variant where torch has the algorithm, so
  that both do the same work);
* torch.optim's default (the single-tensor loop on CPU), ``foreach=True`` and ``fused=True`` where
  torch has them;
* the bandwidth bound: the bytes the update must move (read parameter, gradient and state; write
  parameter and state) divided by the memory bandwidth of an in-place stream (``dst += src``)
  measured in the same run.

Layouts: (a) one tensor of 16M floats; (b) 2000 tensors cycling through 64/128/4096/16384 floats
(10.3M floats); (c) 5000 tensors of 256 floats. Ratios, not absolute times, carry between machines.

``compile_cost`` measures the first step (tracing and compiling the fused kernel) in a fresh process
with an empty Inductor cache, then in a second process that finds the cache.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable

import torch

from .. import optim

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
}
IMPLEMENTATION_FLAGS = {"default": {"foreach": False}, "foreach": {"foreach": True},
                        "fused": {"fused": True}}
LAYOUTS = {
    "a": lambda: [16 * 2**20],
    "b": lambda: [(64, 128, 4096, 16384)[i % 4] for i in range(2000)],
    "c": lambda: [256] * 5000,
}


def make_params(sizes: Iterable[int], seed: int = 0) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(n, generator=gen)) for n in sizes]
    for p in params:
        p.grad = torch.randn(p.numel(), generator=gen).mul_(1e-3)
    return params


def state_buffers(name: str, params: list[torch.nn.Parameter]) -> int:
    """How many parameter-sized state buffers the algorithm reads and writes per step."""
    opt = optim.create(name, params[:1], fused=False)
    inits = opt.state_names(opt.param_groups[0]).values()
    return sum(init[0] if isinstance(init, tuple) else 1 for init in inits)  # (K, value): K rows


def median_step_seconds(opt: torch.optim.Optimizer, steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        opt.step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def stream_bandwidth(numel: int = 16 * 2**20, repeats: int = 20) -> float:
    """Bytes per second of the in-place stream ``dst += src`` on float32 (read dst, read src, write
    dst: 12 bytes an element), the memory pattern of every in-place update. (``dst.copy_(src)``
    understates it here: writing to a line that was not read first costs a read for ownership.)"""
    src, dst = torch.randn(numel), torch.randn(numel)
    for _ in range(3):
        dst.add_(src)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.add_(src)
        times.append(time.perf_counter() - t0)
    return 3 * 4 * numel / statistics.median(times)


def run(layouts: Iterable[str] = "abc", algorithms: Iterable[str] | None = None, steps: int = 20,
        report: Callable[[dict], None] = lambda row: None) -> list[dict]:
    """Time every (layout, algorithm); each row of results is passed to ``report`` as it comes."""
    algorithms = list(algorithms or optim.available())
    bandwidth = stream_bandwidth()
    rows = []
    for layout in layouts:
        sizes = LAYOUTS[layout]()
        for name in algorithms:
            convention = "torch" if name in TORCH_EQUIVALENT else "paper"
            params = make_params(sizes)
            row = {"layout": layout, "algorithm": name, "tensors": len(sizes), "floats": sum(sizes)}
            opt = optim.create(name, params, convention=convention, fused=True)
            row["sgdlab"] = median_step_seconds(opt, steps)
            del opt, params
            if name in TORCH_EQUIVALENT:
                cls, kwargs, implementations = TORCH_EQUIVALENT[name]
                for impl in implementations:
                    params = make_params(sizes)
                    opt = cls(params, **kwargs, **IMPLEMENTATION_FLAGS[impl])
                    row[f"torch_{impl}"] = median_step_seconds(opt, steps)
                    del opt, params
            moved = 4 * row["floats"] * (3 + 2 * state_buffers(name, make_params([4])))
            row["bound"] = moved / bandwidth
            rows.append(row)
            report(row)
    return rows


def first_step_seconds(name: str, numel: int = 2**20) -> float:
    """Seconds of the first fused step (tracing + compiling, or loading from the cache)."""
    params = make_params([numel])
    opt = optim.create(name, params, fused=True)
    t0 = time.perf_counter()
    opt.step()
    return time.perf_counter() - t0


def compile_cost(algorithms: Iterable[str] | None = None,
                 report: Callable[[dict], None] = lambda row: None) -> list[dict]:
    """First-step seconds per algorithm: cold (empty Inductor cache, fresh process) and cached (a
    second fresh process with the same cache)."""
    rows = []
    for name in algorithms or optim.available():
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
            code = f"from sgdlab.bench.step import first_step_seconds; print(first_step_seconds({name!r}))"
            times = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                          capture_output=True, text=True).stdout.split()[-1])
                     for _ in range(2)]
        row = {"algorithm": name, "cold": times[0], "cached": times[1]}
        rows.append(row)
        report(row)
    return rows


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
    return (f"| {row['layout']} | {row['algorithm']} | {ms('sgdlab')} | {ms('torch_default')} | "
            f"{ms('torch_foreach')} | {ms('torch_fused')} | {ms('bound')} | {speedup} | {vs_adam} | "
            f"{row['sgdlab'] / row['bound']:.2f}x |")
