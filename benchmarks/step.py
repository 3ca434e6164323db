"""Optimizer step time against torch.optim and the memory-bandwidth bound; see sgdlab.optim.step_time.

    python benchmarks/step.py                      # the table of docs/benchmarks.md (a few minutes)
    python benchmarks/step.py --layouts c --algorithms adam,sgd --steps 20
    python benchmarks/step.py --compile-cost       # first-step compile time, cold and cached

The same as ``sgdlab bench-step``.
"""

from sgdlab.cli import app

if __name__ == "__main__":
    import sys

    app(["bench-step", *sys.argv[1:]])
