"""``sgdlab optimizers`` prints every optimizer with its paper, equations and defaults."""

from typer.testing import CliRunner

import sgdlab
from sgdlab.cli import app

runner = CliRunner()


def test_optimizers_lists_every_optimizer_with_paper_equations_and_defaults():
    result = runner.invoke(app, ["optimizers"])
    assert result.exit_code == 0
    for name in sgdlab.optim.available():
        assert f"{name}  (sgdlab.optim." in result.output
    assert "Kingma & Ba 2015" in result.output
    assert "v_hat_t = max(v_hat_{t-1}, v_t)" in result.output
    assert "keras  lr=0.001, rho=0.95, eps=1e-07" in result.output  # Adadelta's Keras defaults
    assert "schedulefree_adamw  (sgdlab.optim.ScheduleFreeAdamW)" in result.output
    assert "Symbolic Discovery of Optimization Algorithms" in result.output  # Lion's paper


def test_optimizers_with_a_name_shows_only_that_one():
    result = runner.invoke(app, ["optimizers", "AdaMax"])
    assert result.exit_code == 0
    assert result.output.startswith("adamax  (sgdlab.optim.AdaMax)")
    assert "nadam" not in result.output


def test_unknown_optimizer_name_is_a_usage_error():
    result = runner.invoke(app, ["optimizers", "adamm"])
    assert result.exit_code == 2
    assert "adamm" in result.output
