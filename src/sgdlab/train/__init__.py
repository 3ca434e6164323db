"""Training loops with the strategies of the survey: the three gradient descent variants, shuffling,
curriculum learning, learning-rate annealing, early stopping, gradient noise and clipping.

>>> import torch, sgdlab.train
>>> X = torch.randn(100, 2, generator=torch.Generator().manual_seed(0)); y = X.sum(1, keepdim=True)
>>> model = torch.nn.Linear(2, 1)
>>> opt = sgdlab.optim.SGD(model.parameters(), lr=0.1)
>>> h = sgdlab.train.fit(model, torch.nn.functional.mse_loss, (X, y), optimizer=opt, epochs=5,
...                      batch_size=None, scheduler=sgdlab.train.InverseTimeDecay(opt, k=1.0),
...                      progress=False)
>>> h.updates, [round(lr, 4) for lr in h.lr]          # batch gradient descent: 1 update per epoch
([1, 1, 1, 1, 1], [0.1, 0.05, 0.0333, 0.025, 0.02])
"""

from . import schedules
from .callbacks import Callback, EarlyStopping, TrainContext
from .curriculum import Curriculum
from .history import History
from .loop import CHUNK_SIZE, evaluate, fit
from .schedules import InverseTimeDecay, SearchThenConverge

__all__ = [
    "CHUNK_SIZE", "Callback", "Curriculum", "EarlyStopping", "History", "InverseTimeDecay",
    "SearchThenConverge", "TrainContext", "evaluate", "fit", "schedules",
]
