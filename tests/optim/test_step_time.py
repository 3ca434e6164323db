"""``sgdlab bench-step``: one row per (layout, algorithm) with torch's implementations and the bound."""

import math

import pytest
from typer.testing import CliRunner

import sgdlab
from sgdlab.optim import step_time as step
from sgdlab.cli import app

runner = CliRunner()


def test_bench_step_prints_a_row_per_algorithm_with_its_ratios():
    result = runner.invoke(app, ["bench-step", "--layouts", "c", "--algorithms", "sgd,adam,qhm",
                                 "--steps", "2"])
    assert result.exit_code == 0, result.output
    rows = [line.split(" | ") for line in result.output.splitlines() if line.startswith("| c |")]
    assert [r[1] for r in rows] == ["adam", "sgd", "qhm"]  # torch's fused Adam first: the reference
    adam, sgd, qhm = rows
    assert all(float(cell) > 0 for cell in adam[2:7])  # sgdlab, torch default/foreach/fused, bound
    assert sgd[7].endswith("x") and sgd[8].endswith("x")
    assert qhm[3] == "-" and qhm[7] == "-"  # torch has no QHM


@pytest.mark.parametrize("args, message", [(["--layouts", "d"], "Invalid layouts[0]: 'd'"),
                                           (["--algorithms", "adamm"], "adamm")])
def test_bench_step_rejects_unknown_names(args, message):
    result = runner.invoke(app, ["bench-step", *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("name, buffers", [("sgd", 0), ("momentum", 1), ("adam", 2), ("amsgrad", 3),
                                           ("adadelta", 2), ("aggmo", 3)])
def test_bound_counts_the_state_buffers_each_update_moves(name, buffers):
    assert step.state_buffers(name, step.make_params([4])) == buffers


def test_compile_cost_times_cold_kernel_and_cached_first_steps():
    (row,) = step.compile_cost(["sgd"])
    assert row["algorithm"] == "sgd"
    assert all(row[key] > 0 for key in ("cold", "kernel", "cached"))


def test_every_algorithm_torch_has_is_benchmarked_against_it():
    have_torch = {n for n in sgdlab.optim.available() if "torch" in sgdlab.optim.get(n).DEFAULTS}
    assert set(step.TORCH_EQUIVALENT) == have_torch


def test_the_transformer_layout_has_12_blocks_of_four_768_squares_two_mlp_matrices_biases_and_norms():
    shapes = step.LAYOUTS["t"]()
    matrices = [s for s in shapes if len(s) == 2]
    assert sorted(set(matrices)) == [(768, 768), (768, 3072), (3072, 768)] and len(matrices) == 72
    assert matrices.count((768, 768)) == 48 and len(shapes) - len(matrices) == 120
    assert sum(math.prod(s) for s in matrices) == 12 * (4 * 768 * 768 + 2 * 768 * 3072)


def test_matrix_layout_rows_time_muon_and_adafactor_against_torch(monkeypatch):
    """On a small transformer (one block of width 16): torch.optim.Muon plus AdamW, and
    torch.optim.Adafactor, in each implementation; no bandwidth bound."""
    monkeypatch.setitem(step.LAYOUTS, "t", lambda: step.transformer_shapes(blocks=1, width=16))
    lines = []
    rows = step.print_table(["t"], steps=2, echo=lines.append)
    assert [r["algorithm"] for r in rows] == ["adafactor", "muon"]
    adafactor, muon = rows
    assert {k for k in muon if k.startswith("torch_")} == {"torch_default", "torch_foreach", "torch_fused"}
    assert {k for k in adafactor if k.startswith("torch_")} == {"torch_default", "torch_foreach"}
    assert all(r[k] > 0 for r in rows for k in r if k == "sgdlab" or k.startswith("torch_"))
    assert "bound" not in muon and muon["steps"] == 2
    table = [line.split(" | ") for line in lines if line.startswith("| t |")]
    assert [cells[1] for cells in table] == ["adafactor", "muon"] and table[1][6] == "-"
    assert "median of 2 timed steps" in lines[-1]


@pytest.mark.parametrize("name, buffers", [("adafactor", 1), ("soap", 2), ("muon", 2)])
def test_bound_counts_the_state_of_a_vector_for_the_matrix_aware_optimizers(name, buffers):
    assert step.state_buffers(name, step.make_params([4])) == buffers
