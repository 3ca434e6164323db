"""Data for the benchmarks: LIBSVM files and synthetic problems of any size.

* :func:`load_libsvm`: a LIBSVM / svmlight file as ``(X, y)``, X a CSR matrix; a malformed file
  gets an error naming the line.
* :func:`sparse_classification`: sparse binary classification with power-law feature frequencies,
  RCV1-like; :func:`parse_size` reads sizes such as ``"100000x20000x50"`` or ``"rcv1"``.
* :func:`low_rank_ratings`: matrix completion from a hidden low-rank model, as train/test entries.
* :func:`load_text`: a public-domain text shipped with sgdlab (:func:`available_texts`), for the
  character-level language model; :func:`text_notice` its source and licence.

>>> from sgdlab.data import low_rank_ratings, parse_size, sparse_classification
>>> X, y = sparse_classification(*parse_size("2000x1000x20"), seed=0)
>>> X.shape, X.nnz
((2000, 1000), 40000)
"""

from .libsvm import load_libsvm
from .synthetic import SIZE_PRESETS, low_rank_ratings, parse_size, sparse_classification
from .text import available_texts, load_text, text_notice

__all__ = ["SIZE_PRESETS", "available_texts", "load_libsvm", "load_text", "low_rank_ratings", "parse_size",
           "sparse_classification", "text_notice"]
