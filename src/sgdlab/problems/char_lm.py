"""A character-level language model on a shipped public-domain text (DeepOBS's tolstoi_char_rnn in
miniature).

The text is ``sgdlab.data.load_text("genesis_kjv")`` (Genesis 1-11, King James Version, 34,961
characters, 69 distinct). Its characters are numbered in sorted order (:class:`~sgdlab.models.
CharVocab` of the whole text) and the stream is cut in three contiguous parts: the first 80% for
training, the next 10% for validation, the last 10% for test (contiguous, so that no validation
sequence overlaps a training one). Each part is cut into non-overlapping windows of SEQ_LEN + 1
characters; an example is a window's first SEQ_LEN characters as input and its last SEQ_LEN as the
targets (the input shifted by one).

The model is :class:`sgdlab.models.CharLM` (embedding EMBED_DIM -> one GRU layer of HIDDEN units ->
linear to the 69 characters), trained with the mean cross-entropy of its next-character
predictions, every window starting from a zero state.

Metric: next-character accuracy (the fraction of positions whose most likely character is the right
one), higher is better, as DeepOBS reports for tolstoi_char_rnn. It is bounded, reads the same way
as the classifiers' accuracy, and does not reward a model for spreading probability cautiously;
the loss (nats per character) is recorded next to it in every trial's history.

Calibration of the target (``python -m sgdlab.problems.calibrate``, 2026-11-30): the tuned
learning rate and the first epoch whose validation accuracy reaches 0.46 (seed 0 / seed 1; "-": not
within the 5 quick epochs): SGD lr 1: - / - (final 0.377), Momentum lr 1: 4 / 4, Adam lr 0.1: 5 / 3,
Adagrad lr 0.1: 3 / 3. A quick trial takes 0.92 s (Adam, one thread), the longest of the problems.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..data import load_text
from ..models import CharLM, CharVocab
from .base import Budget, Problem, Task
from ._common import seeded, target_note

TEXT = "genesis_kjv"
SEQ_LEN = 50
EMBED_DIM = 16
HIDDEN = 64
FRACTIONS = (0.8, 0.1)  # train, validation; test the rest
#: From ``python -m sgdlab.problems.calibrate`` (see the table in the module docstring).
TARGET = 0.46


def lm_loss(out: tuple[Tensor, object], y: Tensor) -> Tensor:
    """Mean cross-entropy of the next-character logits ``out[0]`` (B, T, V) against ``y`` (B, T)."""
    logits = out[0]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def next_char_accuracy(out: tuple[Tensor, object], y: Tensor) -> Tensor:
    """The fraction of positions whose largest logit is the next character."""
    return (out[0].argmax(-1) == y).float().mean()


def _windows(ids: Tensor, seq_len: int) -> tuple[Tensor, Tensor]:
    n = (len(ids) - 1) // seq_len
    X = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1: n * seq_len + 1].reshape(n, seq_len)
    return X, y


@functools.lru_cache(maxsize=1)
def _data() -> tuple[int, tuple[tuple[Tensor, Tensor], ...]]:
    text = load_text(TEXT)
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    a = int(FRACTIONS[0] * len(ids))
    b = a + int(FRACTIONS[1] * len(ids))
    parts = (ids[:a], ids[a:b], ids[b:])
    return len(vocab), tuple(_windows(p, SEQ_LEN) for p in parts)


def build_char_lm(seed: int) -> Task:
    """A fresh char_lm task: the GRU initialised from ``seed``, the data fixed."""
    vocab_size, splits = _data()
    with seeded(seed):
        model = CharLM(vocab_size, embed_dim=EMBED_DIM, hidden=HIDDEN, cell="gru")
    train, val, test = ((X.clone(), y.clone()) for X, y in splits)
    return Task(model=model, loss_fn=lm_loss, train=train, val=val, test=test,
                metric_fn=next_char_accuracy)


CHAR_LM = Problem(
    name="char_lm",
    title="Character-level GRU language model on Genesis (KJV)",
    description=(
        f"A character-level language model (embedding {EMBED_DIM}, one GRU layer of {HIDDEN} units) "
        f"on Genesis 1-11 in the King James Version (public domain, shipped with sgdlab), windows of "
        f"{SEQ_LEN} characters, split 80/10/10 by position in the text. Metric: validation "
        "next-character accuracy. " + target_note(TARGET, "accuracy")),
    metric="accuracy",
    higher_is_better=True,
    target=TARGET,
    quick=Budget(epochs=5, batch_size=32),
    full=Budget(epochs=50, batch_size=32),
    builder=build_char_lm,
    tags=("rnn", "language_model", "text"),
)
