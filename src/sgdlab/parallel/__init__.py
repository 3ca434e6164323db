"""Parallel SGD on shared memory: Hogwild! (Niu, Recht, Re & Wright, 2011).

:func:`hogwild` fits a sparse linear classifier (logistic regression, linear SVM, least squares)
with worker threads that update one weight vector without locks, in compiled kernels that release
the global interpreter lock; :func:`hogwild_mf` does the paper's matrix completion the same way.
docs/hogwild.md has the design and the measured speed-ups.

>>> import numpy as np, scipy.sparse as sp
>>> from sgdlab.parallel import hogwild
>>> X = sp.random(1000, 200, density=0.05, format="csr", random_state=1)
>>> y = np.where(X @ np.random.default_rng(1).standard_normal(200) >= 0, 1, -1)
>>> result = hogwild(X, y, workers=2, epochs=3)
>>> len(result.objective), result.workers, result.weights.shape
(3, 2, (200,))
"""

from .hogwild import LOSSES, HogwildResult, hogwild
from .mf import MFResult, hogwild_mf

__all__ = ["LOSSES", "HogwildResult", "MFResult", "hogwild", "hogwild_mf"]
