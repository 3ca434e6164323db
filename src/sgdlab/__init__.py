"""sgdlab: the optimizers and strategies of Ruder's "An overview of gradient descent optimization
algorithms", as exact and fast PyTorch optimizers, with a lab that shows how they behave.

- ``sgdlab.optim``: every optimizer of the survey, drop-in for torch.optim;
- ``sgdlab.train``: batch, stochastic and mini-batch gradient descent and the survey's strategies;
- ``sgdlab.models``: the models the benchmark problems use;
- ``sgdlab.lab``: test functions, ``minimize`` and the survey's animations;
- ``sgdlab.gradcheck``: finite-difference checks of hand-derived gradients.
"""

from . import models, optim, train
from .gradient_check import GradCheckResult, gradcheck
from .lab.minimize import minimize

__version__ = "0.1.0"
__all__ = ["GradCheckResult", "gradcheck", "lab", "minimize", "models", "optim", "train",
           "__version__"]
