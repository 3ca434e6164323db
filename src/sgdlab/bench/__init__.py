"""Deprecated: ``sgdlab.bench`` was split in 0.2. It keeps working, with a ``DeprecationWarning``,
until 0.3:

==============================  ==============================
old                             new
==============================  ==============================
``sgdlab.bench.problems``       ``sgdlab.problems``
``sgdlab.bench.analysis`` etc.  ``sgdlab.compare.analysis`` etc.
``sgdlab.bench.step``           ``sgdlab.optim.step_time``
==============================  ==============================
"""

from __future__ import annotations

import importlib
import sys
import warnings

#: old submodule -> new module
_MOVED = {
    "problems": "sgdlab.problems",
    "step": "sgdlab.optim.step_time",
    **{name: f"sgdlab.compare.{name}"
       for name in ("analysis", "command", "protocol", "report", "runner", "store")},
}
_PROBLEM_MODULES = ("base", "char_lm", "deepobs", "digits", "sparse", "_common")

warnings.warn("sgdlab.bench is deprecated and will be removed in sgdlab 0.3: the comparison moved to "
              "sgdlab.compare, the benchmark problems to sgdlab.problems and the step-time benchmark "
              "to sgdlab.optim.step_time", DeprecationWarning, stacklevel=2)


for _old, _new in _MOVED.items():
    globals()[_old] = sys.modules[f"{__name__}.{_old}"] = importlib.import_module(_new)
for _name in _PROBLEM_MODULES:  # ``import sgdlab.bench.problems.digits`` too; calibrate is a script
    sys.modules[f"{__name__}.problems.{_name}"] = importlib.import_module(f"sgdlab.problems.{_name}")
