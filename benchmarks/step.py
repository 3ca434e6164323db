"""Optimizer step time: sgdlab's flat-buffer engine against torch.optim, and against memory bandwidth.

For each algorithm and each parameter layout, the median time of one ``opt.step()`` (gradients already
in place) over ``--steps`` steps after two warm-up steps, for:

* sgdlab (its convention="torch" variant where torch has the algorithm, so the work is the same);
* torch.optim's default (single-tensor loop on CPU), ``foreach=True`` and ``fused=True`` where they
  exist;
* the bandwidth bound: the bytes the update must move (read param, grad and state, write param and
  state) divided by the copy bandwidth measured in the same run.

Layouts: (a) one tensor of 16M floats, (b) 2000 tensors of mixed sizes (64/128/4096/16384, ~10M
floats), (c) 5000 tensors of 256 floats. Ratios, not absolute times, are what carries between machines.

    python benchmarks/step.py                  # everything (a few minutes on 2 cores)
    python benchmarks/step.py --layouts c --algorithms adam,sgd --steps 20
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch

import sgdlab

# sgdlab name -> (torch.optim class, kwargs, implementations torch offers on CPU)
TORCH = {
    "sgd": (torch.optim.SGD, {"lr": 1e-3}, ("default", "foreach", "fused")),
    "momentum": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}, ("default", "foreach", "fused")),
    "nag": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, ("default", "foreach", "fused")),
    "adagrad": (torch.optim.Adagrad, {}, ("default", "foreach", "fused")),
    "adadelta": (torch.optim.Adadelta, {}, ("default", "foreach")),
    "rmsprop": (torch.optim.RMSprop, {}, ("default", "foreach")),
    "adam": (torch.optim.Adam, {}, ("default", "foreach", "fused")),
    "adamax": (torch.optim.Adamax, {}, ("default", "foreach")),
    "nadam": (torch.optim.NAdam, {}, ("default", "foreach")),
    "amsgrad": (torch.optim.Adam, {"amsgrad": True}, ("default", "foreach", "fused")),
    "adamw": (torch.optim.AdamW, {}, ("default", "foreach", "fused")),
}
STATE_BUFFERS = {"sgd": 0, "momentum": 1, "nag": 1, "adagrad": 1, "adadelta": 2, "rmsprop": 1,
                 "adam": 2, "adamax": 2, "nadam": 2, "amsgrad": 3, "adamw": 2, "qhm": 1, "qhadam": 2,
                 "aggmo": 3}


def layout(name: str) -> list[int]:
    if name == "a":
        return [16 * 2**20]
    if name == "b":  # 2000 tensors cycling through 64, 128, 4096, 16384 floats: 10.3M floats
        return [(64, 128, 4096, 16384)[i % 4] for i in range(2000)]
    if name == "c":
        return [256] * 5000
    raise ValueError(f"unknown layout {name!r} (a, b or c)")


def make_params(sizes: list[int]) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(n, generator=gen)) for n in sizes]
    for p in params:
        p.grad = torch.randn(p.numel(), generator=gen).mul_(1e-3)
    return params


def time_steps(opt: torch.optim.Optimizer, steps: int) -> float:
    for _ in range(2):
        opt.step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def copy_bandwidth(numel: int = 16 * 2**20, repeats: int = 20) -> float:
    """Bytes per second of dst.copy_(src) on float32 (read + write counted)."""
    src, dst = torch.randn(numel), torch.empty(numel)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        times.append(time.perf_counter() - t0)
    return 2 * 4 * numel / statistics.median(times)


def run(layouts: list[str], algorithms: list[str], steps: int) -> list[dict]:
    bandwidth = copy_bandwidth()
    rows = []
    for lay in layouts:
        sizes = layout(lay)
        total = sum(sizes)
        for algo in algorithms:
            row = {"layout": lay, "algorithm": algo, "tensors": len(sizes), "floats": total}
            convention = "torch" if algo in TORCH else "paper"
            params = make_params(sizes)
            row["sgdlab"] = time_steps(sgdlab.optim.create(algo, params, convention=convention), steps)
            del params
            if algo in TORCH:
                cls, kwargs, impls = TORCH[algo]
                for impl in impls:
                    params = make_params(sizes)
                    flags = {"default": {"foreach": False}, "foreach": {"foreach": True},
                             "fused": {"fused": True}}[impl]
                    row[f"torch_{impl}"] = time_steps(cls(params, **kwargs, **flags), steps)
                    del params
            bytes_moved = 4 * total * (3 + 2 * STATE_BUFFERS[algo])
            row["bound"] = bytes_moved / bandwidth
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    ms = lambda k: f"{row[k] * 1e3:8.2f}" if k in row else "       -"  # noqa: E731
    torch_best = min((row[k] for k in row if k.startswith("torch_")), default=None)
    vs_torch = f"{torch_best / row['sgdlab']:6.2f}x" if torch_best else "      -"
    return (f"| {row['layout']} | {row['algorithm']:8s} | {ms('sgdlab')} | {ms('torch_default')} | "
            f"{ms('torch_foreach')} | {ms('torch_fused')} | {ms('bound')} | {vs_torch} | "
            f"{row['sgdlab'] / row['bound']:6.2f}x |")


HEADER = ("| layout | algorithm | sgdlab ms | torch default ms | torch foreach ms | torch fused ms | "
          "bandwidth bound ms | speed-up vs torch's fastest | sgdlab / bound |\n"
          "|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", default="a,b,c")
    parser.add_argument("--algorithms", default=",".join(sgdlab.optim.available()))
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"# {datetime.date.today()} · torch {torch.__version__} · {platform.processor() or platform.machine()}"
          f" · {torch.get_num_threads()} threads\n")
    print(HEADER)
    run(args.layouts.split(","), args.algorithms.split(","), args.steps)


if __name__ == "__main__":
    main()
