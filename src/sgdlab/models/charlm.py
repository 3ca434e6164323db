"""A character-level language model (embedding -> GRU/LSTM -> linear) and its vocabulary."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Union

import torch
from torch import Tensor, nn

from .._validation import ArgumentValueError, Instance, Int, Options, Real, argument_error, check

#: The recurrent state: ``h`` of shape (layers, B, hidden) for a GRU, ``(h, c)`` for an LSTM.
State = Union[Tensor, tuple[Tensor, Tensor]]

_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def _nonempty_text(name: str, text: str) -> None:
    if not check(name, text, Instance(str, what="a non-empty string")):
        raise argument_error(name, text, "a non-empty string")


class CharVocab:
    """The characters of a text, each mapped to an id ``0 .. len(vocab) - 1``.

    Example:
        >>> from sgdlab.models import CharVocab
        >>> vocab = CharVocab.from_text("hello world")
        >>> vocab.chars
        ' dehlorw'
        >>> ids = vocab.encode("hello")
        >>> ids
        tensor([3, 2, 4, 4, 5])
        >>> vocab.decode(ids)
        'hello'
    """

    def __init__(self, chars: str):
        _nonempty_text("chars", chars)
        if len(set(chars)) != len(chars):
            raise argument_error("chars", chars, "each character once")
        self.chars = chars
        self.index = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of the distinct characters of ``text``, in sorted order (so that the ids
        do not depend on where a character first occurs)."""
        _nonempty_text("text", text)
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({self.chars!r})"

    def encode(self, text: str) -> Tensor:
        """The ids of the characters of ``text``, a 1-D LongTensor."""
        try:
            return torch.tensor([self.index[ch] for ch in text], dtype=torch.long)
        except KeyError as err:
            raise ArgumentValueError(f"Invalid text: character {err.args[0]!r} is not in the vocabulary "
                                     f"(expected characters of {self.chars!r})") from None

    def decode(self, ids: Tensor | Iterable[int]) -> str:
        """The text of a 1-D sequence of ids (tensor or list)."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if any(not isinstance(i, numbers.Integral) or not 0 <= i < len(self.chars) for i in ids):
            raise argument_error("ids", ids, f"integers in [0, {len(self.chars)})")
        return "".join(self.chars[i] for i in ids)


class CharLM(nn.Module):
    """Character-level language model: ``Embedding -> GRU or LSTM -> [Dropout] -> Linear`` to one
    logit per character of the vocabulary, predicting the next character at every position.

    Train it with ``cross_entropy(logits.reshape(-1, V), targets.reshape(-1))`` where ``targets`` is
    the input shifted left by one character; a model that knows nothing scores ``log(V)``.

    Args:
        vocab_size: number of characters V (e.g. ``len(CharVocab.from_text(text))``).
        embed_dim: size of the character embeddings (default 32).
        hidden: size of the recurrent state (default 128).
        layers: stacked recurrent layers (default 1).
        cell: ``"gru"`` (default) or ``"lstm"``.
        dropout: dropout probability in [0, 1) on the recurrent output before the linear layer and,
            with ``layers > 1``, between recurrent layers (default 0).

    Example:
        >>> import torch
        >>> from sgdlab.models import CharLM
        >>> model = CharLM(vocab_size=5, embed_dim=3, hidden=4)
        >>> logits, state = model(torch.tensor([[0, 1, 2], [3, 4, 0]]))
        >>> logits.shape, state.shape  # (B, T, V) and GRU state (layers, B, hidden)
        (torch.Size([2, 3, 5]), torch.Size([1, 2, 4]))
        >>> sum(p.numel() for p in model.parameters())  # 5*3 + 3*(4*3 + 4*4 + 2*4) + 4*5 + 5
        148
        >>> model.generate([0, 1], 6, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([6])
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden: int = 128, layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0):
        super().__init__()
        self.vocab_size = check("vocab_size", vocab_size, Int(1))
        self.embed_dim = check("embed_dim", embed_dim, Int(1))
        self.hidden = check("hidden", hidden, Int(1))
        self.layers = check("layers", layers, Int(1))
        self.cell = check("cell", cell, Options(*_CELLS))
        self.dropout = check("dropout", dropout, Real(0, 1, closed="left"))

        self.embedding = nn.Embedding(self.vocab_size, self.embed_dim)
        # torch applies an RNN's own dropout only between layers (and warns for a single layer)
        self.rnn = _CELLS[self.cell](self.embed_dim, self.hidden, num_layers=self.layers, batch_first=True,
                                     dropout=self.dropout if self.layers > 1 else 0.0)
        self.drop = nn.Dropout(self.dropout)
        self.head = nn.Linear(self.hidden, self.vocab_size)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Logits ``(B, T, V)`` for ids ``x`` of shape ``(B, T)``, and the state after the last step.

        ``state`` (default zeros) carries on from a previous call, for truncated backpropagation
        through time or generation; detach it between training chunks.
        """
        if not isinstance(x, Tensor) or x.dim() != 2 or x.dtype != torch.long:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            dtype = f", {x.dtype}" if isinstance(x, Tensor) else ""
            raise ArgumentValueError(f"Invalid x: {shape}{dtype} (expected a LongTensor of shape (B, T))")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
            raise ArgumentValueError(f"Invalid x: ids in [{int(x.min())}, {int(x.max())}] "
                             f"(expected ids in [0, {self.vocab_size}))")
        out, state = self.rnn(self.embedding(x), state)
        return self.head(self.drop(out)), state

    @torch.no_grad()
    def generate(self, prefix_ids: Tensor | Sequence[int], n: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Sample ``n`` characters after ``prefix_ids``; returns their ids, a 1-D LongTensor of length n
        (without the prefix: ``vocab.decode(prefix) + vocab.decode(new)`` is the whole text).

        Each next id is drawn from ``softmax(logits / temperature)``; ``temperature=0`` takes the most
        likely character (greedy), lower temperatures are more conservative, higher more random.
        ``generator`` (a ``torch.Generator``) makes the draws reproducible. Runs in eval mode (no
        dropout) and restores the previous mode.
        """
        prefix = torch.as_tensor(prefix_ids, dtype=torch.long, device=self.head.weight.device)
        if prefix.dim() != 1 or prefix.numel() == 0:
            raise ArgumentValueError(f"Invalid prefix_ids: shape {tuple(prefix.shape)} (expected a non-empty "
                                     "1-D sequence of ids)")
        n = check("n", n, Int(0))
        temperature = check("temperature", temperature, Real(0))

        was_training = self.training
        self.eval()
        try:
            out = torch.empty(n, dtype=torch.long, device=prefix.device)
            logits, state = self(prefix[None])
            last = logits[0, -1]
            for i in range(n):
                if temperature == 0:
                    nxt = last.argmax()
                else:
                    probs = torch.softmax(last.double() / temperature, dim=-1)
                    nxt = torch.multinomial(probs, 1, generator=generator)[0]
                out[i] = nxt
                logits, state = self(nxt.view(1, 1), state)
                last = logits[0, -1]
            return out
        finally:
            self.train(was_training)
