"""Parallel SGD on shared memory: Hogwild! (Niu, Recht, Re & Wright, 2011).

:func:`hogwild` fits a sparse linear classifier (logistic regression, linear SVM, least squares)
with worker threads that update one weight vector without locks, in compiled kernels that release
the global interpreter lock; :func:`hogwild_mf` does the paper's matrix completion the same way.
:mod:`sgdlab.parallel.benchmark` times them (``sgdlab hogwild``). docs/hogwild.md has the design and
the measured speed-ups.

Importing the package loads no numba: the kernels compile (or load from the cache) on first use.

>>> import numpy as np, scipy.sparse as sp
>>> from sgdlab.parallel import hogwild
>>> X = sp.random(1000, 200, density=0.05, format="csr", random_state=1)
>>> y = np.where(X @ np.random.default_rng(1).standard_normal(200) >= 0, 1, -1)
>>> result = hogwild(X, y, workers=2, epochs=3, objective="epoch")  # f after each epoch
>>> len(result.objective), result.workers, result.weights.shape
(3, 2, (200,))
"""

from __future__ import annotations

import importlib
from typing import Any

# light: hogwild loads its numba kernels on the first fit. (Imported here, not on first use: the
# submodule and the function share the name ``hogwild``, and the package must keep the function.)
from .hogwild import LOSSES, HogwildResult, hogwild, release_threads

#: loaded on first use (mf compiles its kernels at import): name -> submodule
_LAZY = {"MFResult": "mf", "hogwild_mf": "mf"}

__all__ = ["LOSSES", "HogwildResult", "MFResult", "hogwild", "hogwild_mf", "release_threads"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
