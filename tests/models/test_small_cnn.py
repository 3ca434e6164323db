"""SmallCNN: (conv3x3 -> [BatchNorm2d] -> ReLU -> maxpool) per block, then a linear classifier."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgdlab.models import SmallCNN
from sgdlab.optim import Adam


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size, pooled", [(8, 2), (28, 7), (9, 2)])
def test_shapes_for_8x8_and_28x28(size, pooled):
    model = SmallCNN(n_classes=10, image_size=size)
    assert model(torch.randn(3, 1, size, size)).shape == (3, 10)
    assert model.classifier.in_features == 32 * pooled * pooled


def test_accepts_flat_rows_and_channel_less_images():
    model = SmallCNN(image_size=8)
    x = torch.randn(4, 1, 8, 8)
    model.eval()
    torch.testing.assert_close(model(x.reshape(4, 64)), model(x))
    torch.testing.assert_close(model(x[:, 0]), model(x))
    rgb = SmallCNN(in_channels=3, n_classes=5, image_size=8)
    assert rgb(torch.randn(2, 3 * 64)).shape == (2, 5)


def test_wrong_image_size_names_x():
    with pytest.raises(ValueError, match=r"Invalid x: shape \(2, 1, 10, 10\)"):
        SmallCNN(image_size=8)(torch.randn(2, 1, 10, 10))
    with pytest.raises(ValueError, match=r"Invalid x: shape \(2, 8, 8\)"):
        SmallCNN(in_channels=3, image_size=8)(torch.randn(2, 8, 8))


def test_parameter_counts_by_hand():
    # conv 1->2: 2*1*9 + 2; conv 2->4: 4*2*9 + 4; 8 -> 4 -> 2, so linear 4*2*2 -> 3: 16*3 + 3
    assert _count(SmallCNN(1, n_classes=3, image_size=8, channels=(2, 4))) == 20 + 76 + 51 == 147
    # with batch norm the convolutions lose their bias (2 + 4) and BatchNorm adds gamma, beta (4 + 8)
    assert _count(SmallCNN(1, n_classes=3, image_size=8, channels=(2, 4), batch_norm=True)) == 147 - 6 + 12
    # one block on 28x28: 28 -> 14, linear 2*14*14 -> 10
    assert _count(SmallCNN(1, n_classes=10, image_size=28, channels=(2,))) == (18 + 2) + (392 * 10 + 10)


def test_batch_norm_inserts_batchnorm2d_and_eval_uses_running_statistics():
    model = SmallCNN(channels=(4, 8), batch_norm=True)
    kinds = [type(m) for m in model.features]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d] * 2
    assert all(m.bias is None for m in model.features if isinstance(m, nn.Conv2d))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in SmallCNN().modules())

    x = torch.randn(16, 1, 8, 8)
    model(x)
    a, b = model(x[:4])[0], model(torch.cat([x[:1], 3 * x[4:7]]))[0]
    assert not torch.allclose(a, b)  # training: batch statistics
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x[:4])[0], model(torch.cat([x[:1], 3 * x[4:7]]))[0])


def test_learns_a_simple_image_task():
    # class 1: a bright vertical bar in the left half; class 0: in the right half
    n = 128
    y = torch.randint(2, (n,))
    x = 0.3 * torch.randn(n, 1, 8, 8)
    cols = torch.randint(4, (n,)) + 4 * (1 - y)
    x[torch.arange(n), 0, :, cols] += 2.0
    model = SmallCNN(n_classes=2, channels=(4, 8), batch_norm=True)
    opt = Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() > 0.95


@pytest.mark.parametrize("kwargs, name, error", [
    ({"in_channels": 0}, "in_channels", ValueError), ({"n_classes": 0}, "n_classes", ValueError),
    ({"image_size": 3}, "image_size", ValueError),
    ({"image_size": 8, "channels": (2, 2, 2, 2)}, "image_size", ValueError),
    ({"channels": ()}, "channels", ValueError), ({"channels": (16, -1)}, r"channels\[1\]", ValueError),
    ({"batch_norm": "no"}, "batch_norm", TypeError),
])
def test_invalid_arguments_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=f"Invalid {name}: "):
        SmallCNN(**kwargs)
