"""sgdlab: the optimizers and strategies of Ruder's "An overview of gradient descent optimization
algorithms", as exact and fast PyTorch optimizers."""

from . import optim
from .lab.minimize import minimize

__version__ = "0.1.0"
__all__ = ["lab", "minimize", "optim", "__version__"]
