"""Sparse gradients: Adagrad and SGD update only the touched rows, exactly as the dense update would;
every other optimizer refuses them, naming the parameter and suggesting Adagrad."""

import pytest
import torch

import sgdlab


def _embedding_pair(sparse_lr_kwargs, name):
    torch.manual_seed(0)
    sparse = torch.nn.Embedding(20, 4, sparse=True).double()
    dense = torch.nn.Embedding(20, 4, sparse=False).double()
    dense.weight.data.copy_(sparse.weight.data)
    return sparse, dense, (sgdlab.optim.create(name, sparse.parameters(), **sparse_lr_kwargs),
                           sgdlab.optim.create(name, dense.parameters(), **sparse_lr_kwargs))


@pytest.mark.parametrize("name, hyper", [("adagrad", {"lr": 0.5}), ("adagrad", {"lr": 0.5, "convention": "torch"}),
                                         ("adagrad", {"convention": "keras"}), ("sgd", {"lr": 0.5})])
def test_sparse_gradient_update_matches_the_dense_update(name, hyper):
    sparse, dense, (opt_s, opt_d) = _embedding_pair(hyper, name)
    before = sparse.weight.detach().clone()
    for step in range(10):
        idx = torch.tensor([[1, 3, 3, 7], [2, 7, 19, 1]])[step % 2]  # repeated index: grads add up
        for emb, opt in ((sparse, opt_s), (dense, opt_d)):
            opt.zero_grad()
            (emb(idx) ** 2).sum().backward()
            opt.step()
    assert sparse.weight.grad.is_sparse
    torch.testing.assert_close(sparse.weight.detach(), dense.weight.detach(), rtol=1e-12, atol=1e-14)
    untouched = [i for i in range(20) if i not in (1, 2, 3, 7, 19)]
    assert torch.equal(sparse.weight.detach()[untouched], before[untouched])
    assert not torch.equal(sparse.weight.detach()[1], before[1])


def test_adagrad_sparse_state_matches_torch_sparse_adagrad():
    torch.manual_seed(0)
    ours, theirs = torch.nn.Embedding(10, 3, sparse=True), torch.nn.Embedding(10, 3, sparse=True)
    theirs.weight.data.copy_(ours.weight.data)
    opt_o = sgdlab.optim.Adagrad(ours.parameters(), convention="torch", lr=0.3)
    opt_t = torch.optim.Adagrad(theirs.parameters(), lr=0.3)
    for idx in ([1, 2, 2], [5, 1], [9]):
        for emb, opt in ((ours, opt_o), (theirs, opt_t)):
            opt.zero_grad()
            emb(torch.tensor(idx)).sum().backward()
            opt.step()
    torch.testing.assert_close(ours.weight.detach(), theirs.weight.detach())
    torch.testing.assert_close(opt_o.state[ours.weight]["sum"], opt_t.state[theirs.weight]["sum"])


@pytest.mark.parametrize("name", [n for n in sgdlab.optim.available() if n not in ("adagrad", "sgd")])
def test_sparse_gradient_is_refused_naming_the_parameter(name):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = sgdlab.optim.create(name, emb.named_parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match=r"(?s)'weight'.*Adagrad"):
        opt.step()


def test_sparse_gradient_with_weight_decay_is_refused():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = sgdlab.optim.Adagrad(emb.parameters(), weight_decay=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="weight_decay=0.1"):
        opt.step()
