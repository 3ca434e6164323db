"""``sgdlab compare``: which optimizer should I use, for my model? Tune every optimizer and AlgoPerf's
NAdamW baseline on every problem (yours included) under one of AlgoPerf's rulesets, store each trial as
it finishes, score them as AlgoPerf scores, with bootstrap intervals, and report.

- :func:`compare` is the whole job, what the command runs: it writes ``report.html`` and ``summary.md``;
- :class:`Problem` (``Problem.from_model(model_fn, loss_fn, train, val, ...)``) makes your model and
  data a problem;
- :func:`run_compare` runs (or resumes) the trials into a :class:`Store`;
- :func:`analyze` computes the statistics, :func:`recommend` the verdict, :func:`write_report` renders
  them.

The rulesets are :mod:`sgdlab.compare.protocol`'s, the search spaces :mod:`sgdlab.compare.search`'s, the
scoring :mod:`sgdlab.compare.scoring`'s, the intervals :mod:`sgdlab.compare.uncertainty`'s. Names are
loaded on first use, so that the command line can register ``sgdlab compare`` without importing the
report's plotting stack.

>>> from sgdlab import compare
>>> compare.protocol.TUNINGS, compare.protocol.STUDIES, compare.protocol.TRIALS
(('external', 'defaults', 'lr-grid'), 3, {'quick': 3, 'full': 5})
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the submodule that defines it
_EXPORTS = {
    "compare": "command", "CompareOutput": "command", "DEFAULT_STORE": "command", "DEFAULT_OUT": "command",
    "run_compare": "runner", "run_trial": "runner", "CompareResult": "runner", "settings": "runner",
    "Settings": "runner",
    "Store": "store",
    "analyze": "analysis", "Analysis": "analysis",
    "performance_profile": "scoring",
    "recommend": "verdict",
    "write_report": "report",
    "TrialSpec": "protocol", "Planned": "protocol",
    "search_space": "search",
}
_PROBLEM_EXPORTS = {"Problem": "base"}
_SUBMODULES = ("analysis", "baseline", "command", "protocol", "report", "runner", "scoring", "search", "store",
               "uncertainty", "verdict")

__all__ = sorted([*_EXPORTS, *_PROBLEM_EXPORTS]) + list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if name in _PROBLEM_EXPORTS:  # the same class as sgdlab.problems.Problem
        return getattr(importlib.import_module(f"sgdlab.problems.{_PROBLEM_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
