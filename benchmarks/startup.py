"""Start-up cost: ``import sgdlab`` and the command line against ``import torch``, in the same run.

    python benchmarks/startup.py              # the table of docs/benchmarks.md (about a minute)
    python benchmarks/startup.py --rounds 5

Each contender is a fresh interpreter, timed wall-clock from start to exit; the contenders run
round-robin (the order rotating each round), so that a slow spell of a shared machine hits them alike,
and the median of the rounds is reported beside ``import torch``'s. Afterwards ``python -X importtime``
shows what ``import sgdlab.optim`` adds once torch is imported, and a check lists which heavy modules
``sgdlab --help``, ``import sgdlab.optim`` and an eager optimizer step load.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

PY = sys.executable
CONTENDERS = {
    'python -c "import torch"': [PY, "-c", "import torch"],
    'python -c "import sgdlab"': [PY, "-c", "import sgdlab"],
    'python -c "import sgdlab.optim"': [PY, "-c", "import sgdlab.optim"],
    'python -c "import sgdlab, sgdlab.train, sgdlab.lab"': [PY, "-c", "import sgdlab, sgdlab.train, sgdlab.lab"],
    "sgdlab --help": [PY, "-m", "sgdlab.cli", "--help"],
    "sgdlab optimizers": [PY, "-m", "sgdlab.cli", "optimizers"],
}
HEAVY = ("torch", "torch._dynamo", "numba", "llvmlite", "ray", "scipy", "sklearn", "matplotlib")


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def importtime(module: str, after: str = "torch", top: int = 6) -> list[tuple[float, str]]:
    """What ``import module`` costs once ``after`` is imported: (cumulative seconds, name) of the module
    and of its slowest imports, from ``python -X importtime -c "import after; import module"``."""
    err = subprocess.run([PY, "-X", "importtime", "-c", f"import {after}; import {module}"], check=True,
                         capture_output=True, text=True).stderr
    rows, seen_after = [], False
    for line in err.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        if name == after:
            seen_after = True
        elif seen_after:
            rows.append((int(parts[1]) / 1e6, name))
    return sorted(rows, reverse=True)[:top]


def heavy_modules(code: str) -> list[str]:
    out = subprocess.run([PY, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         check=True, capture_output=True, text=True).stdout.split()
    return [m for m in HEAVY if m in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    names = list(CONTENDERS)
    for cmd in CONTENDERS.values():  # warm the page cache and __pycache__
        wall(cmd)
    times: dict[str, list[float]] = {n: [] for n in names}
    load = os.getloadavg()[0]
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(wall(CONTENDERS[name]))
    base = statistics.median(times[names[0]])
    print(f"sgdlab benchmarks/startup.py · {datetime.date.today()} · {platform.machine()} · {os.cpu_count()} "
          f"cores · Python {platform.python_version()} · median of {args.rounds} round-robin rounds · load "
          f"{load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n")
    print("| command | wall time, median (s) | min (s) | minus `import torch` (s) |\n|---|---|---|---|")
    for name in names:
        med = statistics.median(times[name])
        print(f"| `{name}` | {med:.2f} | {min(times[name]):.2f} | {med - base:+.2f} |")
    print("\nWhat `import sgdlab.optim` adds once torch is imported (`python -X importtime -c \"import torch; "
          "import sgdlab.optim\"`, cumulative s): "
          + ", ".join(f"{name} {seconds:.3f}" for seconds, name in importtime("sgdlab.optim")))
    print("\nHeavy modules loaded by `sgdlab --help`: "
          f"{', '.join(heavy_modules('import sgdlab.cli')) or 'none'}; by `import sgdlab.optim`: "
          f"{', '.join(heavy_modules('import sgdlab.optim')) or 'none'}; by an eager optimizer step: "
          f"{', '.join(heavy_modules(_STEP)) or 'none'}")


_STEP = ("import torch, sgdlab.optim as o; p = torch.nn.Parameter(torch.ones(3)); opt = o.Adam([p]); "
         "p.grad = torch.ones(3); opt.step(); opt.zero_grad()")

if __name__ == "__main__":
    main()
