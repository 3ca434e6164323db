"""``sgdlab compare``: which optimizer should I use? Tune every optimizer on every problem, rerun the
best with more seeds, store each trial as it finishes, and report.

- :func:`compare` is the whole job, what the command runs: it writes ``report.html`` and ``summary.md``;
- :func:`run_compare` runs (or resumes) the trials into a :class:`Store`;
- :func:`analyze` and :func:`recommend` compute the statistics; :func:`write_report` renders them.

The problems are those of :mod:`sgdlab.problems` (or your own :class:`~sgdlab.problems.Problem`);
the protocol is :mod:`sgdlab.compare.protocol`. Names are loaded on first use, so that the command line
can register ``sgdlab compare`` without importing the report's plotting stack.

>>> from sgdlab import compare
>>> compare.protocol.grid("quick")
(0.0001, 0.001, 0.01, 0.1, 1.0)
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
    "analyze": "analysis", "recommend": "analysis", "Analysis": "analysis", "performance_profile": "analysis",
    "write_report": "report",
    "TrialSpec": "protocol",
}
_SUBMODULES = ("analysis", "command", "protocol", "report", "runner", "store")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
