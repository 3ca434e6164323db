"""Shared pieces of the optimizer tests."""

import io

import pytest
import torch


@pytest.fixture
def through_a_file():
    """``roundtrip(obj)``: ``obj`` saved with ``torch.save`` and loaded back with
    ``torch.load(weights_only=True)``, as a checkpoint goes to disk and comes back."""

    def roundtrip(obj):
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=True)

    return roundtrip
