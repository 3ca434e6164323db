"""The benchmark problems of ``sgdlab compare``: DeepOBS's recipes against independent NumPy
computations, reproducibility by seed, the splits, the LIBSVM spec, and one epoch of every problem
through the calls the runner makes."""

import doctest
import importlib
import math

import numpy as np
import pytest
import scipy.sparse
import torch

import sgdlab
from sgdlab import problems
from sgdlab.problems import calibrate, deepobs, digits
from sgdlab.problems._common import split_indices
from sgdlab.train.loop import evaluate

NAMES = ["quadratic_deep", "two_d_beale", "sparse_logreg", "digits_logreg", "digits_mlp", "digits_mlp_bn",
         "digits_cnn", "digits_cnn_bn", "char_lm"]
# DeepOBS initialises these to constants; every other problem's model is drawn from the seed
CONSTANT_INIT = {"quadratic_deep", "two_d_beale"}
RANDOM_INIT = [n for n in NAMES if n not in CONSTANT_INIT]


def numpy_beale(u, v):
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2


def same_data(a, b):
    if scipy.sparse.issparse(a):
        return a.shape == b.shape and (a != b).nnz == 0
    return torch.equal(torch.as_tensor(a), torch.as_tensor(b))


def splits(task):
    return (task.train, task.val, task.test)


# ---- registry -------------------------------------------------------------------------------------

def test_available_lists_the_problems_in_display_order():
    assert problems.available() == NAMES
    assert list(problems.PROBLEMS) == NAMES


def test_get_returns_the_registered_problem():
    for name in NAMES:
        assert problems.get(name) is problems.PROBLEMS[name]
        assert problems.get(name).name == name


def test_unknown_name_raises_listing_the_available_names():
    with pytest.raises(ValueError, match="'mnist'") as info:
        problems.get("mnist")
    for name in NAMES:
        assert name in str(info.value)
    assert "libsvm:PATH" in str(info.value)


def test_problem_metadata_is_consistent():
    for p in problems.PROBLEMS.values():
        assert p.metric in ("loss", "accuracy")
        assert p.higher_is_better == (p.metric == "accuracy")
        assert math.isfinite(p.target)
        if p.metric == "accuracy":
            assert 0 < p.target < 1
        assert p.quick.epochs >= 5 and p.full.epochs > p.quick.epochs
        assert str(p.target) in p.description or f"{p.target:g}" in p.description


def test_deepobs_problems_have_deepobs_full_budget():
    for name in ("quadratic_deep", "two_d_beale"):
        assert problems.get(name).full == problems.Budget(epochs=100, batch_size=128)


def test_tags_mark_sparse_and_batch_norm_problems():
    assert "sparse" in problems.get("sparse_logreg").tags
    bn = {n for n, p in problems.PROBLEMS.items() if "batch_norm" in p.tags}
    assert bn == {"digits_mlp_bn", "digits_cnn_bn"}
    for name in bn:
        model = problems.get(name).build(0).model
        assert any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_batch_norm_problems_never_train_on_a_batch_of_one():
    # BatchNorm1d cannot normalise a batch of one example in training mode
    for p in problems.PROBLEMS.values():
        if "batch_norm" in p.tags:
            n = len(p.build(0).train[1])
            for budget in (p.quick, p.full):
                assert n % budget.batch_size != 1


# ---- quadratic_deep -------------------------------------------------------------------------------

def test_quadratic_deep_hessian_has_90_eigenvalues_in_0_1_and_10_in_30_60():
    H = problems.get("quadratic_deep").build(0).model.hessian.double().numpy()
    eig = np.linalg.eigvalsh(H)
    assert eig.shape == (100,)
    assert np.sum((eig >= 0) & (eig < 1)) == 90
    assert np.sum((eig >= 30) & (eig < 60)) == 10


def test_quadratic_deep_eigenvalues_are_deepobs_draws():
    # DeepOBS: RandomState(42).uniform(0, 1, 90), then .uniform(30, 60, 10)
    rng = np.random.RandomState(42)
    expected = np.sort(np.concatenate((rng.uniform(0.0, 1.0, 90), rng.uniform(30.0, 60.0, 10))))
    H = problems.get("quadratic_deep").build(0).model.hessian.double().numpy()
    np.testing.assert_allclose(np.linalg.eigvalsh(H), expected, atol=2e-5)  # H is stored in float32


def test_quadratic_deep_hessian_is_symmetric():
    H = problems.get("quadratic_deep").build(0).model.hessian
    assert torch.equal(H, H.T)
    H64 = deepobs.quadratic_deep_hessian()[0]
    assert np.array_equal(H64, H64.T)


def test_quadratic_deep_rotation_is_orthogonal_with_determinant_one():
    H, eigenvalues, R = deepobs.quadratic_deep_hessian()
    np.testing.assert_allclose(R @ R.T, np.eye(100), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(R.T @ np.diag(eigenvalues) @ R, H, atol=1e-12)


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
def test_random_rotation_is_in_so_d(dim):
    R = deepobs.random_rotation(dim, np.random.RandomState(dim))
    np.testing.assert_allclose(R @ R.T, np.eye(dim), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)


def test_random_rotation_rejects_a_dimension_below_two():
    with pytest.raises(ValueError, match="dim: 1"):
        deepobs.random_rotation(1, np.random.RandomState(0))


def test_quadratic_deep_loss_is_half_the_quadratic_form_in_numpy():
    task = problems.get("quadratic_deep").build(0)
    theta = np.random.default_rng(1).normal(size=100)
    with torch.no_grad():
        task.model.theta.copy_(torch.from_numpy(theta))
    X, y = task.train[0][:128], task.train[1][:128]
    H = task.model.hessian.double().numpy()
    q = theta[None, :] - X.double().numpy()
    expected = np.mean(0.5 * np.einsum("ni,ij,nj->n", q, H, q))
    with torch.no_grad():
        loss = float(task.loss_fn(task.model(X), y))
    assert loss == pytest.approx(expected, rel=1e-5)


def test_quadratic_deep_data_and_init_follow_deepobs():
    task = problems.get("quadratic_deep").build(0)
    for (X, _), seed in zip(splits(task), (42, 44, 43)):  # train, validation, test
        expected = np.float32(np.random.RandomState(seed).normal(0.0, 0.6, (1000, 100)))
        np.testing.assert_array_equal(X.numpy(), expected)
    for seed in (0, 1, 7):
        assert torch.equal(problems.get("quadratic_deep").build(seed).model.theta, torch.ones(100))


def test_quadratic_deep_validation_floor_is_the_documented_85_54():
    # min over theta of the mean validation loss: theta = the mean of the validation points
    H, _, _ = deepobs.quadratic_deep_hessian()
    X = np.float32(np.random.RandomState(44).normal(0.0, 0.6, (1000, 100))).astype(np.float64)
    q = X.mean(axis=0) - X
    floor = np.mean(0.5 * np.einsum("ni,ij,nj->n", q, H, q))
    assert round(floor, 2) == 85.54
    assert "85.54" in problems.get("quadratic_deep").description
    assert problems.get("quadratic_deep").target > floor


# ---- two_d_beale ----------------------------------------------------------------------------------

def test_two_d_beale_loss_is_beale_plus_the_noise_recipe():
    task = problems.get("two_d_beale").build(0)
    u, v = 1.25, -0.5
    with torch.no_grad():
        task.model.u.fill_(u)
        task.model.v.fill_(v)
    rng = np.random.RandomState(42)  # DeepOBS: all x, then all y
    x, y = rng.normal(0.0, 1.0, 10000), rng.normal(0.0, 1.0, 10000)
    x, y = np.float32(x).astype(np.float64), np.float32(y).astype(np.float64)
    batch = slice(0, 128)
    expected = np.mean(numpy_beale(u, v) + u * x[batch] + v * y[batch])
    X, Y = task.train[0][batch], task.train[1][batch]
    with torch.no_grad():
        loss = float(task.loss_fn(task.model(X), Y))
    assert loss == pytest.approx(expected, rel=1e-6)


def test_two_d_beale_starts_at_deepobs_point_and_tests_the_noise_free_function():
    task = problems.get("two_d_beale").build(3)
    assert (task.model.u.item(), task.model.v.item()) == (-4.5, 4.5)
    test_loss, _ = evaluate(task.model, task.loss_fn, task.test, task.metric_fn)
    assert test_loss == pytest.approx(numpy_beale(-4.5, 4.5), rel=1e-6)


def test_two_d_beale_validation_noise_is_randomstate_44():
    X = problems.get("two_d_beale").build(0).val[0].numpy()
    rng = np.random.RandomState(44)
    np.testing.assert_array_equal(X[:, 0], np.float32(rng.normal(0.0, 1.0, 10000)))
    np.testing.assert_array_equal(X[:, 1], np.float32(rng.normal(0.0, 1.0, 10000)))


# ---- seeds ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_identical_init_and_data(name):
    a, b = problems.get(name).build(5), problems.get(name).build(5)
    for (k, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(pa, pb), k
    for sa, sb in zip(splits(a), splits(b)):
        assert same_data(sa[0], sb[0]) and same_data(sa[1], sb[1])


@pytest.mark.parametrize("name", RANDOM_INIT)
def test_different_seeds_give_different_init_and_the_same_data(name):
    a, b = problems.get(name).build(0), problems.get(name).build(1)
    assert any(not torch.equal(pa, pb) for pa, pb in zip(a.model.parameters(), b.model.parameters()))
    for sa, sb in zip(splits(a), splits(b)):
        assert same_data(sa[0], sb[0]) and same_data(sa[1], sb[1])


def test_building_a_task_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    problems.get("digits_mlp").build(9)
    assert torch.equal(torch.rand(3), expected)


# ---- splits ---------------------------------------------------------------------------------------

def test_split_indices_are_disjoint_cover_everything_and_have_the_asked_sizes():
    train, val, test = split_indices(1003, (0.1, 0.1))
    assert (len(train), len(val), len(test)) == (803, 100, 100)
    both = np.concatenate([train, val, test])
    assert np.array_equal(np.sort(both), np.arange(1003))


def test_split_indices_refuse_too_few_examples():
    with pytest.raises(ValueError, match="n: 2"):
        split_indices(2, (0.1, 0.1))


def test_digits_splits_are_disjoint_and_standardised_with_training_statistics_only():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    train, val, test = digits.digits_split_indices()
    assert (len(train), len(val), len(test)) == (1197, 300, 300)
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(1797))
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std = np.where(std == 0, 1.0, std)
    task = problems.get("digits_cnn").build(0)
    for (Xs, ys), rows in zip(splits(task), (train, val, test)):
        np.testing.assert_allclose(Xs.numpy(), (X[rows] - mean) / std, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(ys.numpy(), y[rows])


def test_sparse_logreg_splits_80_10_10_of_the_generated_data():
    X, y = sgdlab.data.sparse_classification(10000, 2000, 20, seed=0, dtype=np.float32)
    task = problems.get("sparse_logreg").build(0)
    sizes = [part[0].shape[0] for part in splits(task)]
    assert sizes == [8000, 1000, 1000]
    for (Xs, ys), idx in zip(splits(task), split_indices(10000, (0.1, 0.1))):
        assert (Xs != X[idx]).nnz == 0
        np.testing.assert_array_equal(ys.numpy(), (y[idx] > 0).astype(np.int64))


def test_char_lm_splits_are_consecutive_windows_of_the_text():
    text = sgdlab.data.load_text("genesis_kjv")
    vocab = sgdlab.models.CharVocab.from_text(text)
    task = problems.get("char_lm").build(0)
    starts = (0, int(0.8 * len(text)), int(0.8 * len(text)) + int(0.1 * len(text)))
    ends = (starts[1], starts[2], len(text))
    for (X, Y), start, end in zip(splits(task), starts, ends):
        n = (end - start - 1) // 50
        assert X.shape == Y.shape == (n, 50)
        assert vocab.decode(X.reshape(-1)) == text[start:start + 50 * n]
        assert vocab.decode(Y.reshape(-1)) == text[start + 1:start + 50 * n + 1]
    assert task.model.vocab_size == len(set(text)) == 69


# ---- libsvm:PATH ----------------------------------------------------------------------------------

def write_libsvm(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        label = 1 if i % 2 else -1
        feats = sorted(rng.choice(np.arange(1, 9), size=3, replace=False))
        vals = {f: rng.uniform(0.1, 1.0) for f in feats}
        vals[9] = 1.0 if label > 0 else 0.0  # feature 9 gives the label away
        lines.append(f"{label:+d} " + " ".join(f"{f}:{v:.3f}" for f, v in sorted(vals.items())))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_libsvm_spec_builds_logistic_regression_on_the_file(tmp_path):
    path = write_libsvm(tmp_path / "toy.svm")
    p = problems.get(f"libsvm:{path}")
    assert p.name == f"libsvm:{path}"
    assert p.metric == "accuracy" and p.higher_is_better and "sparse" in p.tags
    task = p.build(0)
    assert [part[0].shape[0] for part in splits(task)] == [48, 6, 6]
    assert task.model.n_features == 9 and task.model.n_classes == 2  # indices 1..9, one-based
    assert sorted(np.unique(task.train[1].numpy()).tolist()) == [0, 1]
    assert 0.0 <= p.target <= 1.0


def test_libsvm_malformed_file_error_names_the_line(tmp_path):
    path = tmp_path / "bad.svm"
    path.write_text("+1 1:0.5 2:1\n-1 1:0.25\n+1 3:abc\n")
    with pytest.raises(ValueError, match=r"bad\.svm, line 3: feature value 'abc'"):
        problems.get(f"libsvm:{path}")


def test_libsvm_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.svm"):
        problems.get(f"libsvm:{tmp_path / 'nope.svm'}")


def test_libsvm_single_class_file_is_refused(tmp_path):
    path = tmp_path / "one.svm"
    path.write_text("".join(f"+1 1:{i}\n" for i in range(1, 11)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        problems.get(f"libsvm:{path}")


def test_libsvm_spec_without_a_path_is_refused():
    with pytest.raises(ValueError, match="libsvm:PATH"):
        problems.get("libsvm:")


# ---- one epoch through the runner's calls --------------------------------------------------------

@pytest.fixture
def single_thread():
    # as the runner's worker processes train (and a GRU on 2 busy cores is much slower with 2 threads)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", NAMES + ["libsvm"])
def test_every_problem_trains_one_epoch_through_fit_and_evaluate(name, tmp_path, single_thread):
    if name == "libsvm":
        name = f"libsvm:{write_libsvm(tmp_path / 'toy.svm')}"
    problem = problems.get(name)
    b = problem.quick
    seed = 0
    torch.manual_seed(seed)
    task = problem.build(seed)
    opt = sgdlab.optim.create("adam", task.model.parameters(), lr=1e-3)
    hist = sgdlab.train.fit(task.model, task.loss_fn, task.train, optimizer=opt, epochs=1,
                            batch_size=b.batch_size, val=task.val, metric=task.metric_fn, seed=seed,
                            progress=False)
    test_loss, test_metric = sgdlab.train.loop.evaluate(task.model, task.loss_fn, task.test, task.metric_fn)
    record = hist.records[0]
    assert math.isfinite(record["train_loss"]) and math.isfinite(record["val_loss"])
    assert math.isfinite(test_loss)
    if problem.metric == "accuracy":
        assert 0.0 <= record["val_metric"] <= 1.0 and 0.0 <= test_metric <= 1.0
    else:
        assert task.metric_fn is None and record["val_metric"] is None and test_metric is None


# ---- the target calibration -----------------------------------------------------------------------

def test_held_level_is_the_worst_value_from_the_middle_epoch_on():
    assert calibrate.held_level([0.2, 0.9, 0.7, 0.8], higher_is_better=True) == 0.7  # epochs 2..4
    assert calibrate.held_level([9.0, 4.0, 5.0, 3.0, 2.0], higher_is_better=False) == 5.0  # 3..5


def test_suggested_target_is_the_best_held_level_rounded_to_the_easier_side():
    acc = problems.get("digits_mlp")  # 10 quick epochs: levels from epoch 5 on
    tuned = {"a": [0.5] * 4 + [0.9712] * 6, "b": [0.5] * 4 + [0.9688] * 6, "c": None}
    assert calibrate.suggest_target(acc, tuned) == 0.97
    loss = problems.get("quadratic_deep")  # 20 quick epochs: levels from epoch 10 on
    tuned = {"a": [100.0] * 9 + [86.97] * 11, "b": [100.0] * 9 + [88.0] * 11}
    assert calibrate.suggest_target(loss, tuned) == 87.0


# ---- the shipped text -----------------------------------------------------------------------------

def test_shipped_text_loads_from_package_data():
    text = sgdlab.data.load_text("genesis_kjv")
    assert text.startswith("CHAPTER 1\nIn the beginning God created the heaven and the earth.\n")
    assert text.endswith("And the days of Terah were two hundred and five years: and Terah died in Haran.\n")
    assert 20_000 <= len(text.encode("utf-8")) <= 60_000
    assert not any(line.startswith("#") for line in text.splitlines())


def test_shipped_text_notice_names_source_and_public_domain_status():
    notice = sgdlab.data.text_notice("genesis_kjv")
    assert "King James Version" in notice and "bible-kjv-text" in notice
    assert "Public-domain status" in notice and "Chip Chapin" in notice


def test_unknown_text_name_raises_listing_the_available_ones():
    with pytest.raises(ValueError, match="'hamlet'.*genesis_kjv"):
        sgdlab.data.load_text("hamlet")


# ---- docstring examples ---------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["sgdlab.problems", "sgdlab.problems.deepobs",
                                    "sgdlab.problems._common", "sgdlab.problems.calibrate",
                                    "sgdlab.data.text"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
