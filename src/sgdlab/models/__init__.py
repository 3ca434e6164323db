"""Small models to train with the optimizers: the workloads of the survey's examples.

* :class:`LogisticRegression`: convex; dense or sparse (bag-of-words) inputs.
* :class:`MLP`: fully connected, optional batch normalization (the survey's "Additional strategies").
* :class:`SmallCNN`: two conv blocks for small images (8x8 digits, 28x28 MNIST-like).
* :class:`CharLM` and :class:`CharVocab`: a character-level GRU/LSTM language model.

>>> import torch
>>> from sgdlab.models import MLP
>>> from sgdlab.optim import SGD
>>> model = MLP(20, hidden=(32,), out_features=10, batch_norm=True)
>>> opt = SGD(model.parameters(), lr=0.1)
>>> loss = torch.nn.functional.cross_entropy(model(torch.randn(16, 20)), torch.randint(10, (16,)))
>>> loss.backward(); opt.step()
"""

from .charlm import CharLM, CharVocab
from .cnn import SmallCNN
from .linear import LogisticRegression
from .mlp import ACTIVATIONS, MLP

__all__ = ["ACTIVATIONS", "CharLM", "CharVocab", "LogisticRegression", "MLP", "SmallCNN"]
