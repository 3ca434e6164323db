"""CharLM (embedding -> GRU/LSTM -> linear) and CharVocab."""

import math

import pytest
import torch
import torch.nn.functional as F

from sgdlab.models import CharLM, CharVocab
from sgdlab.optim import Adam


def _count(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------
# CharVocab


def test_vocab_is_sorted_and_round_trips():
    vocab = CharVocab.from_text("hello world")
    assert vocab.chars == " dehlorw" and len(vocab) == 8
    ids = vocab.encode("world hello")
    assert ids.dtype == torch.long and ids.shape == (11,)
    assert vocab.decode(ids) == "world hello"
    assert vocab.decode(ids.tolist()) == "world hello"


def test_vocab_errors_name_the_argument():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"Invalid text: character 'z' is not in the vocabulary"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"Invalid ids: .* \(expected integers in \[0, 3\)\)"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match="Invalid text: ''"):
        CharVocab.from_text("")
    with pytest.raises(ValueError, match="Invalid chars: 'aba'"):
        CharVocab("aba")


# ----------------------------------------------------------------------------------------------------
# Shapes, parameters, state


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_output_and_state_shapes(cell, layers):
    model = CharLM(vocab_size=7, embed_dim=5, hidden=6, layers=layers, cell=cell)
    logits, state = model(torch.randint(7, (3, 11)))
    assert logits.shape == (3, 11, 7)
    if cell == "gru":
        assert state.shape == (layers, 3, 6)
    else:
        h, c = state
        assert h.shape == c.shape == (layers, 3, 6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_state_carries_over_between_chunks(cell):
    model = CharLM(vocab_size=7, embed_dim=5, hidden=6, cell=cell)
    x = torch.randint(7, (2, 10))
    whole, _ = model(x)
    first, state = model(x[:, :4])
    second, _ = model(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_parameter_counts_by_hand():
    V, E, H = 5, 3, 4
    embedding, head = V * E, H * V + V
    # GRU: 3 gates, each with input weights H*E, recurrent weights H*H and two biases of H
    gru = 3 * (H * E + H * H + 2 * H)
    lstm = 4 * (H * E + H * H + 2 * H)
    assert _count(CharLM(V, embed_dim=E, hidden=H, cell="gru")) == embedding + gru + head == 148
    assert _count(CharLM(V, embed_dim=E, hidden=H, cell="lstm")) == embedding + lstm + head == 184
    # a second layer reads the first one's H outputs
    gru2 = 3 * (H * H + H * H + 2 * H)
    assert _count(CharLM(V, embed_dim=E, hidden=H, layers=2)) == 148 + gru2 == 268


def test_dropout_is_applied_before_the_head_and_between_layers():
    model = CharLM(5, hidden=4, layers=2, dropout=0.3)
    assert model.drop.p == 0.3 and model.rnn.dropout == 0.3
    single = CharLM(5, hidden=4, layers=1, dropout=0.3)  # torch warns for RNN dropout with one layer
    assert single.rnn.dropout == 0.0 and single.drop.p == 0.3


@pytest.mark.parametrize("kwargs, name, error", [
    ({"vocab_size": 0}, "vocab_size", ValueError), ({"embed_dim": 0}, "embed_dim", ValueError),
    ({"hidden": 1.5}, "hidden", TypeError), ({"layers": 0}, "layers", ValueError),
    ({"cell": "rnn"}, "cell", ValueError), ({"dropout": 1.5}, "dropout", ValueError),
])
def test_invalid_arguments_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=f"Invalid {name}: "):
        CharLM(**{"vocab_size": 5, **kwargs})


def test_invalid_inputs_name_the_argument():
    model = CharLM(5, hidden=4)
    with pytest.raises(ValueError, match=r"Invalid x: \(4,\), torch.int64"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"Invalid x: \(1, 4\), torch.float32"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"Invalid x: ids in \[0, 5\]"):
        model(torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="Invalid prefix_ids"):
        model.generate([], 3)
    with pytest.raises(ValueError, match="Invalid n: -1"):
        model.generate([0], -1)
    with pytest.raises(ValueError, match="Invalid temperature: -0.5"):
        model.generate([0], 3, temperature=-0.5)


def test_generate_is_reproducible_with_a_generator_and_restores_the_mode():
    model = CharLM(6, hidden=8, dropout=0.2)
    a = model.generate([0, 1], 20, generator=torch.Generator().manual_seed(3))
    b = model.generate([0, 1], 20, generator=torch.Generator().manual_seed(3))
    assert a.shape == (20,) and a.dtype == torch.long and torch.equal(a, b)
    assert model.training
    assert model.generate(torch.tensor([2]), 0).shape == (0,)


# ----------------------------------------------------------------------------------------------------
# Learning a repetitive text


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_learns_a_repetitive_text_and_generates_it(cell):
    text = "abcd" * 100
    vocab = CharVocab.from_text(text)
    data = vocab.encode(text)
    V, T, B = len(vocab), 16, 16
    model = CharLM(V, embed_dim=8, hidden=32, cell=cell)
    opt = Adam(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        starts = torch.randint(len(data) - T - 1, (B,), generator=g)
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * math.log(V)
    prefix = vocab.encode("bc")
    assert vocab.decode(model.generate(prefix, 14, temperature=0)) == "dabcdabcdabcda"
    sampled = model.generate(prefix, 14, generator=torch.Generator().manual_seed(0))
    assert vocab.decode(sampled) == "dabcdabcdabcda"
