"""sgdlab: the optimizers and strategies of Ruder's "An overview of gradient descent optimization
algorithms", as exact and fast PyTorch optimizers."""

from . import optim

__version__ = "0.1.0"
__all__ = ["optim", "__version__"]
