"""The flat-buffer engine behaves as a torch.optim.Optimizer: views, groups, closures, grads set to
None, parameters without gradients, mixed dtypes, models moved after the optimizer was built."""

import pytest
import torch

import sgdlab


def test_parameters_become_views_of_one_flat_buffer_per_group():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    before = [p.detach().clone() for p in model.parameters()]
    opt = sgdlab.optim.Adam(model.parameters())
    storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    assert len(storages) == 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    state_storages = {opt.state[p]["exp_avg"].untyped_storage().data_ptr() for p in model.parameters()}
    assert len(state_storages) == 1


def test_step_with_closure_returns_the_loss_and_uses_its_gradient():
    w = torch.nn.Parameter(torch.tensor([2.0]))
    opt = sgdlab.optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    assert w.item() == 1.0


def test_parameters_without_gradient_are_left_untouched_with_their_state():
    a, b, c = (torch.nn.Parameter(torch.ones(3)) for _ in range(3))
    opt = sgdlab.optim.Adam([a, b, c], lr=0.1)
    (a.sum() + b.sum() + c.sum()).backward()
    opt.step()
    b_before, b_state = b.detach().clone(), opt.state[b]["exp_avg"].clone()
    opt.zero_grad()
    (a.sum() + c.sum()).backward()  # b gets no gradient this step
    opt.step()
    assert torch.equal(b, b_before)
    assert torch.equal(opt.state[b]["exp_avg"], b_state)
    assert opt.state[b]["step"].item() == 1 and opt.state[a]["step"].item() == 2


def test_parameters_with_different_step_counts_get_their_own_bias_correction():
    """After a skipped parameter, steps differ within the flat buffer; each follows torch.optim."""
    ours = [torch.nn.Parameter(torch.full((2,), float(i + 1))) for i in range(3)]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_o, opt_t = sgdlab.optim.Adam(ours, convention="torch"), torch.optim.Adam(theirs)
    for step in range(6):
        for opt, ps in ((opt_o, ours), (opt_t, theirs)):
            opt.zero_grad()
            active = ps if step % 2 == 0 else ps[:1] + ps[2:]
            sum((p ** 2).sum() for p in active).backward()
            opt.step()
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q)


def test_zero_grad_set_to_none_false_zeroes_in_place():
    model = torch.nn.Linear(3, 2)
    opt = sgdlab.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_gradient_accumulation_into_the_flat_buffer_matches_torch():
    """With set_to_none=False, autograd accumulates into the engine's gradient views."""
    torch.manual_seed(0)
    m1 = torch.nn.Linear(3, 2)
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(m1.state_dict())
    o1, o2 = sgdlab.optim.Momentum(m1.parameters(), convention="torch"), torch.optim.SGD(m2.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(8, 3)
    for _ in range(5):
        for m, o in ((m1, o1), (m2, o2)):
            o.zero_grad(set_to_none=False)
            m(x[:4]).pow(2).sum().backward()
            m(x[4:]).pow(2).sum().backward()  # accumulates
            o.step()
    for p, q in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q)


def test_add_param_group_with_its_own_hyper_parameters():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = sgdlab.optim.SGD([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.5})
    (a.sum() + b.sum()).backward()
    opt.step()
    torch.testing.assert_close(a.detach(), torch.full((2,), 0.9))
    torch.testing.assert_close(b.detach(), torch.full((2,), 0.5))


def test_mixed_dtypes_in_one_model_are_updated_in_their_own_precision():
    params = [torch.nn.Parameter(torch.ones(3, dtype=dt)) for dt in (torch.float32, torch.float64, torch.bfloat16)]
    refs = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt, ref = sgdlab.optim.Adam(params, convention="torch", lr=0.1), torch.optim.Adam(refs, lr=0.1)
    for _ in range(3):
        for o, ps in ((opt, params), (ref, refs)):
            o.zero_grad()
            sum((p.float() ** 2).sum() for p in ps).backward()
            o.step()
    for p, q in zip(params, refs):
        assert p.dtype == q.dtype
        torch.testing.assert_close(p, q)


def test_moving_the_model_after_building_the_optimizer_keeps_training_and_state():
    model = torch.nn.Linear(3, 2)
    opt = sgdlab.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    exp_avg = opt.state[model.weight]["exp_avg"].clone()
    model.double()
    opt.zero_grad()
    model(torch.ones(1, 3, dtype=torch.float64)).sum().backward()
    opt.step()
    assert opt.state[model.weight]["exp_avg"].dtype == torch.float64
    torch.testing.assert_close(opt.state[model.weight]["exp_avg"],
                               (0.9 * exp_avg + 0.1 * model.weight.grad.float()).double())
    assert opt.state[model.weight]["step"].item() == 2


def test_lr_scheduler_drives_the_learning_rate():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = sgdlab.optim.SGD([w], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        w.sum().backward()
        opt.step()
        sched.step()
    torch.testing.assert_close(w.detach(), torch.tensor([1.0 - 1.0 - 0.5 - 0.25]))


def test_named_parameters_are_accepted():
    model = torch.nn.Linear(2, 1)
    opt = sgdlab.optim.Adam(model.named_parameters())
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]


def test_docstring_shows_the_equations_and_the_defaults():
    doc = sgdlab.optim.Adam.__doc__
    assert "m_hat = m_t / (1 - beta1^t)" in doc
    assert "Kingma & Ba" in doc
    assert "keras  lr=0.001, betas=(0.9, 0.999), eps=1e-07" in doc


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sgdlab.optim.available())
def test_cuda_step_matches_cpu_step(name):
    cpu = [torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))]
    gpu = [torch.nn.Parameter(cpu[0].detach().cuda())]
    opts = [sgdlab.optim.create(name, ps) for ps in (cpu, gpu)]
    for _ in range(10):
        g = torch.randn(5, 3, dtype=torch.float64)
        cpu[0].grad, gpu[0].grad = g.clone(), g.cuda()
        for o in opts:
            o.step()
    torch.testing.assert_close(cpu[0], gpu[0].cpu())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_state_dict_saved_on_cuda_loads_on_cpu():
    gpu = [torch.nn.Parameter(torch.randn(4, device="cuda"))]
    opt = sgdlab.optim.Adam(gpu)
    gpu[0].grad = torch.ones(4, device="cuda")
    opt.step()
    cpu = [torch.nn.Parameter(gpu[0].detach().cpu())]
    opt_cpu = sgdlab.optim.Adam(cpu)
    opt_cpu.load_state_dict(opt.state_dict())
    assert opt_cpu.state[cpu[0]]["exp_avg"].device.type == "cpu"
    torch.testing.assert_close(opt_cpu.state[cpu[0]]["exp_avg"], opt.state[gpu[0]]["exp_avg"].cpu())


def test_empty_parameters_do_not_force_a_rebuild_every_step():
    a, empty, b = (torch.nn.Parameter(torch.ones(n)) for n in (3, 0, 2))
    opt = sgdlab.optim.SGD([a, empty, b], lr=0.1)
    buckets = opt._buckets[0]
    (a.sum() + b.sum() + empty.sum()).backward()
    opt.step()
    assert opt._buckets[0] is buckets
    torch.testing.assert_close(b.detach(), torch.full((2,), 0.9))
