"""The networks the cross-validation trains: ``SmallResNet`` for small grey images (digits),
``WhitenedNet`` (airbench-style) for colour photos and larger grey images (Fashion-MNIST), and
an MLP for features.

On CIFAR-10 test 10k (one fold of 8,000 training photos, 32x32, 1 CPU thread), the whitened
net reached 71.6% / 76.1% at 8 / 12 epochs; the ResNet 64% over 5 folds. On digits the
whitened net was worse (10% flipped labels, one seed: precision 0.86 vs 0.97, out-of-fold
accuracy 0.868 vs 0.892), so grey images no larger than 16 px keep the ResNet; on
Fashion-MNIST 6k (28x28) the whitened net at 32 px is far better (88.5% against the true
labels vs 84.5% for the ResNet at 16 px; ``recipes.DETAIL_SIDE``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_float(batch: torch.Tensor) -> torch.Tensor:
    """uint8 images to floats in [0, 1]; float input unchanged."""
    return batch.float() / 255.0 if batch.dtype == torch.uint8 else batch


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                   nn.BatchNorm2d(cout)) if stride != 1 or cin != cout
                     else nn.Identity())

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class SmallResNet(nn.Module):
    """Three residual stages (width, 2x, 4x channels), global pooling, a linear head."""

    def __init__(self, channels: int, classes: int, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.stages = nn.Sequential(_Block(width, width, 1), _Block(width, 2 * width, 2),
                                    _Block(2 * width, 4 * width, 2))
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))


class _ConvGroup(nn.Module):
    """conv -> 2x2 max-pool -> BatchNorm -> GELU -> conv -> BatchNorm -> GELU (airbench)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.gelu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.bn2(self.conv2(x)))


class WhitenedNet(nn.Module):
    """An airbench-style net: a frozen 2x2 patch-whitening convolution (set from the training
    images by :meth:`whiten_from`), three conv groups (width, 2x, 4x channels) that each halve
    the side, global max-pooling and a linear head scaled by 1/9."""

    def __init__(self, channels: int, classes: int, width: int = 32):
        super().__init__()
        self.whiten = nn.Conv2d(channels, 8 * channels, 2)
        self.whiten.weight.requires_grad_(False)
        self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("std", torch.ones(1, channels, 1, 1))
        self.groups = nn.Sequential(_ConvGroup(8 * channels, width),
                                    _ConvGroup(width, 2 * width),
                                    _ConvGroup(2 * width, 4 * width))
        self.head = nn.Linear(4 * width, classes, bias=False)

    @torch.no_grad()
    def whiten_from(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Normalise channels and set the first layer to the ZCA-style whitening of the
        images' 2x2 patches: their covariance's eigenvectors scaled by 1/sqrt(eigenvalue),
        each with its negative (so the GELU after it keeps both signs)."""
        x = as_float(images)  # may sit on another device than the net: no mixing below
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
        self.mean.copy_(mean)
        self.std.copy_(std)
        dim = x.shape[1] * 4
        total, outer, count = torch.zeros(dim, dtype=torch.float64, device=x.device), 0, 0
        for start in range(0, len(x), 256):  # patch covariance in chunks: bounded memory
            chunk = (x[start:start + 256] - mean) / std
            patches = F.unfold(chunk, 2).transpose(1, 2).reshape(-1, dim).double()
            total, outer = total + patches.sum(0), outer + patches.T @ patches
            count += len(patches)
        centre = total / count
        values, vectors = torch.linalg.eigh(outer / count - torch.outer(centre, centre))
        filters = (vectors.T.flip(0) / (values.flip(0) + eps).sqrt()[:, None]).float()
        filters = filters.reshape(-1, x.shape[1], 2, 2)
        self.whiten.weight.copy_(torch.cat([filters, -filters]))

    def forward(self, x):
        x = F.gelu(self.whiten((x - self.mean) / self.std))
        return self.head(F.adaptive_max_pool2d(self.groups(x), 1).flatten(1)) / 9


def mlp(dim: int, classes: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(hidden, classes))
