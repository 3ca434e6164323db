"""A small laboratory for watching optimizers: 2-D test functions, a ``minimize`` that records the
path an sgdlab optimizer takes, and ``plot`` / ``animate`` that draw the paths (the survey's Images 5
and 6; matplotlib is imported only when they are first used).

>>> from sgdlab import lab
>>> res = lab.minimize("rosenbrock", optimizer="adam", lr=0.02, steps=3000)
>>> res.x.round(2).tolist()
[1.0, 1.0]
>>> lab.names()[-1]
'noisy_beale'
"""

from . import functions
from .functions import TestFunction, get, names
from .minimize import OptimizeResult, minimize

__all__ = ["OptimizeResult", "TestFunction", "animate", "functions", "get", "minimize", "names", "plot",
           "race"]
_FIGURES = ("animate", "plot", "race", "SCENES", "SURVEY_OPTIMIZERS")


def __getattr__(name: str):
    if name in _FIGURES:
        from . import figures

        return getattr(figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
