"""``sgdlab distributed``: every usage error is one line on stderr and exit status 2, never a traceback,
through the real entry point (no Ray cluster starts: each is refused before)."""

import subprocess
import sys

import pytest

BLOCK_RAY = "import sys; sys.modules['ray'] = None; from sgdlab.cli import main; main()"


def sgdlab(*args, without_ray=False):
    command = [sys.executable, "-c", BLOCK_RAY] if without_ray else [sys.executable, "-m", "sgdlab.cli"]
    return subprocess.run([*command, "distributed", *args], capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("args, message", [
    (["hogwild", "--problem", "digits_logreg"], "Invalid algorithm: 'hogwild' (expected one of 'downpour'"),
    (["downpour", "--problem", "digits_logreg", "--tau", "4"],
     "Invalid tau: 4 (expected no tau: it applies to easgd, eamsgd, not downpour)"),
    (["serial", "--problem", "digits_logreg", "--workers", "2"], "Invalid workers: 2 (expected no workers"),
    (["downpour", "--problem", "digits_logreg", "--workers", "0"], "Invalid workers: 0 (expected an int >= 1)"),
    (["downpour", "--problem", "digits_logreg", "--workers", "two"], "Invalid value for '--workers'"),
    (["downpour", "--problem", "no_such_problem"], "Invalid problem: 'no_such_problem'"),
    (["downpour", "--problem", "digits_logreg", "--on-worker-failure", "retry"], "Invalid on_worker_failure: 'retry'"),
    (["downpour"], "Missing option '--problem'"),
    (["downpour", "--problem", "digits_logreg", "--inner-steps", "4"],
     "Invalid inner_steps: 4 (expected no inner_steps: it applies to diloco, not downpour)"),
    (["diloco", "--problem", "digits_logreg", "--outer-optimizer", "sgd"],
     "Invalid outer_momentum: 0.9 (expected 0: the outer optimizer 'sgd' takes no momentum)"),
], ids=["unknown-algorithm", "option-not-for-the-algorithm", "option-not-for-serial", "bad-workers",
        "workers-not-a-number", "bad-problem", "bad-failure-policy", "no-problem", "diloco-option-for-downpour",
        "diloco-outer-sgd-with-momentum"])
def test_a_usage_error_is_one_line_and_exit_status_2(args, message):
    out = sgdlab(*args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert " distributed: error: " in out.stderr and message in out.stderr


def test_without_ray_the_command_says_how_to_install_it_in_one_line():
    out = sgdlab("downpour", "--problem", "digits_logreg", "--epochs", "1", without_ray=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "pip install 'sgdlab[distributed]'" in out.stderr


def test_without_ray_serial_sgd_still_runs_in_this_process():
    out = sgdlab("serial", "--problem", "digits_logreg", "--epochs", "1", "--lr", "0.1", without_ray=True)
    assert out.returncode == 0, out.stderr
    assert "sgdlab distributed serial · problem digits_logreg · serial, this process" in out.stdout
    assert "| seconds | updates | gradients | loss | metric |" in out.stdout
