"""Residual networks, their plain twins, and an Inception block (notebook 10), for 28 x 28 grey images.

A residual block learns a *correction* to its input instead of a whole new representation:

    y = relu( F(x) + shortcut(x) ),   F(x) = BN(conv3x3( relu(BN(conv3x3(x))) ))

``shortcut(x)`` is ``x`` itself (identity) when the shapes agree, else a 1x1 convolution with stride 2 and batch
normalisation (a "projection") that halves the image and changes the channel count. With ``shortcut=False`` the
same block is a plain one, ``y = relu(F(x))``: :class:`PlainNet` is :class:`ResNet` without shortcuts.

CIFAR-style layout (He et al., 2016, section 4.2), ``depth = 6n + 2`` weighted layers (8, 14, 20, …):

    stem     conv3x3 (1 -> w) · BN · ReLU                     (B, w, 28, 28)
    stage 1  n blocks at width w                              (B, w, 28, 28)
    stage 2  n blocks at width 2w, the first with stride 2    (B, 2w, 14, 14)
    stage 3  n blocks at width 4w, the first with stride 2    (B, 4w, 7, 7)
    head     global average pool · Linear(4w -> 10)           (B, 10) logits

The depth counts the stem, the 6n convolutions of the blocks and the linear layer; the 1x1 projections are not
counted (as in the paper). Convolutions before batch normalisation have no bias (BN's beta plays that role).
"""
from __future__ import annotations

import torch
from torch import nn

from .cnn import _check_grey_28
from .mlp import _check_size, count_parameters  # noqa: F401  (count_parameters: notebook 10 counts with it)


def batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, running_mean: torch.Tensor,
               running_var: torch.Tensor, training: bool, momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """Batch normalisation of ``x (B, C, H, W)`` per channel; equal to ``F.batch_norm`` (outputs, gradients, and the
    running statistics it updates).

    Training: each channel is normalised with the mean and variance of *this batch* over ``B, H, W``,

        x_hat = (x - mu_B) / sqrt(var_B + eps),   y = gamma * x_hat + beta,

    and the running statistics move towards the batch's: ``running = (1 - momentum) * running + momentum * batch``
    (the running variance takes the unbiased batch variance, as PyTorch does). Evaluation: the running statistics
    replace the batch's, so each image's output no longer depends on the other images in its batch.
    Shapes: ``gamma, beta, running_mean, running_var (C,)``.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (B, C, H, W), got {shape}")
    C = x.shape[1]
    for name, t in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)):
        if not isinstance(t, torch.Tensor) or t.shape != (C,):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must have shape ({C},), one value per channel of x, got {shape}")
    if training and x.numel() // C < 2:
        raise ValueError(f"batch normalisation in training mode needs more than one value per channel to estimate a "
                         f"variance, got x of shape {tuple(x.shape)}: use a larger batch, or eval mode")
    view = (1, C, 1, 1)
    if training:
        mean = x.mean(dim=(0, 2, 3))  # (C,) this batch's statistics
        var = x.var(dim=(0, 2, 3), unbiased=False)  # (C,) normalisation uses the biased variance
        with torch.no_grad():
            n = x.numel() // C
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))  # ... the running one the unbiased
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.view(view)) / torch.sqrt(var.view(view) + eps)
    return gamma.view(view) * x_hat + beta.view(view)


def _conv_bn(c_in: int, c_out: int, kernel_size: int, stride: int, norm: bool = True) -> nn.Sequential:
    """A convolution and its batch normalisation; ``norm=False`` (for the with/without experiment): the convolution
    gets its bias back and the normalisation is an identity."""
    conv = nn.Conv2d(c_in, c_out, kernel_size, stride, padding=kernel_size // 2, bias=not norm)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out) if norm else nn.Identity())


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch normalisation, and (``shortcut=True``) the input added back."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, shortcut: bool = True, norm: bool = True):
        super().__init__()
        c_in, c_out = _check_size("c_in", c_in), _check_size("c_out", c_out)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        _check_flag("norm", norm)
        self.conv1 = _conv_bn(c_in, c_out, 3, stride, norm)
        self.conv2 = _conv_bn(c_out, c_out, 3, 1, norm)
        self.shortcut = None
        if shortcut:  # identity when the shapes agree, else a 1x1 projection
            self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out
                             else _conv_bn(c_in, c_out, 1, stride, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(torch.relu(self.conv1(x)))  # F(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # the residual connection
        return torch.relu(out)


def _check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r:.40}")


def _blocks_per_stage(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 weighted layers with n >= 1 (8, 14, 20, 26, …), got {depth!r}")
    return (depth - 2) // 6


class ResNet(nn.Module):
    """The CIFAR-style residual network above: ``(B, 1, 28, 28)`` -> ``(B, 10)`` logits.

    ``norm=False`` removes every batch normalisation (the convolutions get biases instead): notebook 10's experiment.
    """

    shortcuts = True

    def __init__(self, depth: int = 8, width: int = 16, norm: bool = True):
        super().__init__()
        n, w = _blocks_per_stage(depth), _check_size("width", width)
        _check_flag("norm", norm)
        self.depth, self.width = depth, w
        self.stem = nn.Sequential(_conv_bn(1, w, 3, 1, norm), nn.ReLU())
        layers, c_in = [], w
        for stage, c_out in enumerate((w, 2 * w, 4 * w)):
            for k in range(n):
                stride = 2 if stage > 0 and k == 0 else 1
                layers.append(BasicBlock(c_in, c_out, stride, shortcut=self.shortcuts, norm=norm))
                c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_grey_28(x)
        return self.head(self.blocks(self.stem(x)))


class PlainNet(ResNet):
    """:class:`ResNet`'s twin with the same convolutions and no shortcuts (so no 1x1 projections either)."""

    shortcuts = False


class InceptionBlock(nn.Module):
    """Four parallel branches on the same input, their outputs stacked along the channels (Szegedy et al., 2015):

    1x1 conv (c1)  |  1x1 conv (r3) -> 3x3 conv (c3)  |  1x1 conv (r5) -> 5x5 conv (c5)  |  3x3 max-pool -> 1x1 (cp)

    Each convolution is followed by a ReLU; every branch keeps the image size, so the output is
    ``(B, c1 + c3 + c5 + cp, H, W)``. The 1x1 "reduce" convolutions shrink the channels before the expensive 3x3 and
    5x5 ones: that is where the block saves its parameters and multiplications.
    """

    def __init__(self, c_in: int, c1: int, r3: int, c3: int, r5: int, c5: int, cp: int):
        super().__init__()
        for name, value in (("c_in", c_in), ("c1", c1), ("r3", r3), ("c3", c3), ("r5", r5), ("c5", c5), ("cp", cp)):
            _check_size(name, value)

        def conv(a, b, k):
            return nn.Sequential(nn.Conv2d(a, b, k, padding=k // 2), nn.ReLU())

        self.branch1 = conv(c_in, c1, 1)
        self.branch3 = nn.Sequential(conv(c_in, r3, 1), conv(r3, c3, 3))
        self.branch5 = nn.Sequential(conv(c_in, r5, 1), conv(r5, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(c_in, cp, 1))
        self.c_in = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.c_in:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (B, {self.c_in}, H, W), got {shape}")
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)  # parallel, then stacked
