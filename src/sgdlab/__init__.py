"""sgdlab: the optimizers and strategies of Ruder's "An overview of gradient descent optimization
algorithms", as exact and fast PyTorch optimizers, with a lab that shows how they behave.

- ``sgdlab.optim``: every optimizer of the survey, drop-in for torch.optim;
- ``sgdlab.train``: batch, stochastic and mini-batch gradient descent and the survey's strategies;
- ``sgdlab.models``: the models the benchmark problems use;
- ``sgdlab.lab``: test functions, ``minimize`` and the survey's animations;
- ``sgdlab.gradcheck``: finite-difference checks of hand-derived gradients;
- ``sgdlab.problems`` and ``sgdlab.compare``: the benchmark problems and ``sgdlab compare``;
- ``sgdlab.parallel`` (Hogwild!) and ``sgdlab.distributed`` (on Ray), with their extras.

Each part loads on first use (``sgdlab.optim`` brings torch, ``sgdlab.lab`` SciPy and matplotlib,
``sgdlab.parallel`` numba, ``sgdlab.distributed`` Ray), so ``import sgdlab`` and ``sgdlab --help`` cost
only what they use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

#: loaded on first use: name -> (module, attribute or None for the module itself)
_LAZY = {
    **{part: (f".{part}", None) for part in ("optim", "models", "train", "lab", "problems", "compare", "data",
                                             "parallel", "distributed")},
    "minimize": (".lab.minimize", "minimize"),
    "gradcheck": (".gradient_check", "gradcheck"), "GradCheckResult": (".gradient_check", "GradCheckResult"),
}
__all__ = ["GradCheckResult", "gradcheck", "lab", "minimize", "models", "optim", "train", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sgdlab' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module, __name__)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
