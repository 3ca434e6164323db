"""A small convolutional classifier for small square images (8x8 digits, 28x28 MNIST-like)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .._validation import ArgumentValueError, Bool, Int, argument_error, check
from .mlp import widths


class SmallCNN(nn.Module):
    """Convolutional classifier: per entry of ``channels`` one block
    ``Conv2d(3x3, padding 1) -> [BatchNorm2d] -> ReLU -> MaxPool2d(2)``, then a linear layer from the
    flattened feature maps to ``n_classes`` logits.

    Each block keeps the spatial size through the convolution and halves it (rounding down) in the
    pooling, so two blocks take 8x8 images to 2x2 maps and 28x28 images to 7x7. As in :class:`MLP`,
    with ``batch_norm=True`` the convolutions have no bias (BatchNorm's shift replaces it).

    Args:
        in_channels: channels of the input images (default 1).
        n_classes: number of classes (default 10).
        image_size: height = width of the input images (default 8, as scikit-learn's digits; 28 for
            MNIST). Must be at least ``2 ** len(channels)`` so the last block still has a pixel.
        channels: output channels of the convolution blocks (default ``(16, 32)``: two blocks).
        batch_norm: insert ``BatchNorm2d`` after each convolution (default ``False``).

    Input: ``(N, in_channels, image_size, image_size)``; also ``(N, image_size, image_size)`` when
    ``in_channels == 1``, and flat rows ``(N, in_channels * image_size**2)`` (e.g. the 64 columns of
    the digits data), which are reshaped.

    Example:
        >>> import torch
        >>> from sgdlab.models import SmallCNN
        >>> model = SmallCNN(n_classes=10, image_size=8)
        >>> model(torch.randn(5, 1, 8, 8)).shape
        torch.Size([5, 10])
        >>> model(torch.randn(5, 64)).shape  # flat rows, as the digits data comes
        torch.Size([5, 10])
        >>> SmallCNN(image_size=28, channels=(2, 4)).classifier  # 28 -> 14 -> 7
        Linear(in_features=196, out_features=10, bias=True)
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, image_size: int = 8,
                 channels: Sequence[int] = (16, 32), batch_norm: bool = False):
        super().__init__()
        self.in_channels = check("in_channels", in_channels, Int(1))
        self.n_classes = check("n_classes", n_classes, Int(1))
        self.channels = widths("channels", channels, min_length=1)
        self.image_size = check("image_size", image_size, Int(1))
        if self.image_size < 2 ** len(self.channels):
            raise argument_error("image_size", image_size, f">= {2 ** len(self.channels)}: "
                                 f"{len(self.channels)} poolings by 2 must leave at least one pixel")
        self.batch_norm = check("batch_norm", batch_norm, Bool())

        layers: list[nn.Module] = []
        c_in, size = self.in_channels, self.image_size
        for c_out in self.channels:
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=not self.batch_norm))
            if self.batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            c_in, size = c_out, size // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in * size * size, self.n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of shape ``(N, n_classes)``."""
        c, s = self.in_channels, self.image_size
        if x.dim() == 2 and x.shape[1] == c * s * s:
            x = x.reshape(-1, c, s, s)
        elif x.dim() == 3 and c == 1:
            x = x.unsqueeze(1)
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ArgumentValueError(f"Invalid x: shape {tuple(x.shape)} "
                             f"(expected (N, {c}, {s}, {s}) or (N, {c * s * s}))")
        return self.classifier(self.features(x).flatten(1))
