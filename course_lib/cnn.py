"""Convolution and max pooling from scratch (notebook 09), equal to ``F.conv2d`` and ``F.max_pool2d``.

A convolution layer slides ``O`` small kernels over an image with ``C`` channels. With the input padded by ``p`` zeros
on every side, output channel ``o`` at position ``(i, j)`` is

    y[b, o, i, j] = bias[o] + sum_c sum_u sum_v  x_pad[b, c, i*s + u, j*s + v] * w[o, c, u, v]

(strictly a cross-correlation: the kernel is not flipped; every deep-learning library calls it convolution). Each
output side has ``floor((n + 2p - k) / s) + 1`` positions (:func:`output_size`).

Shapes: ``x (B, C, H, W)``, ``weight (O, C, kH, kW)``, ``bias (O,)``, output ``(B, O, H_out, W_out)``.

How we compute it, once: ``Tensor.unfold`` cuts every ``kH x kW`` window out of the padded image *as a view* (no
copy), giving ``(B, C, H_out, W_out, kH, kW)``; one ``einsum`` then multiplies each window by each kernel and sums
over ``c, u, v``. This is "im2col": turn the windows into rows, and the convolution becomes one matrix product.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .mlp import _check_size, count_parameters  # noqa: F401  (count_parameters: notebook 09 counts with it)


def output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Positions along one side: ``floor((n + 2 * padding - kernel_size) / stride) + 1``."""
    n, kernel_size = _check_size("n", n), _check_size("kernel_size", kernel_size)
    stride, padding = _check_size("stride", stride), _check_size("padding", padding, 0)
    if kernel_size > n + 2 * padding:
        raise ValueError(f"the kernel ({kernel_size}) is larger than the padded input ({n} + 2 x {padding} = "
                         f"{n + 2 * padding}): use a smaller kernel or more padding")
    return (n + 2 * padding - kernel_size) // stride + 1


def _check_image(x) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a float tensor of shape (B, C, H, W) (one grey image: x[None, None]), got {shape}")


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
           padding: int = 0) -> torch.Tensor:
    """The convolution above; equal to ``F.conv2d(x, weight, bias, stride, padding)`` (outputs and gradients)."""
    _check_image(x)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise ValueError("weight must be a tensor of shape (O, C, kH, kW), got "
                         f"{tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__}")
    B, C, H, W = x.shape
    O, C_w, kH, kW = weight.shape
    if C_w != C:
        raise ValueError(f"the image has {C} channel(s) but the kernels expect {C_w}: weight must be (O, {C}, kH, kW)")
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (O,)):
        raise ValueError(f"bias must have shape ({O},), one per output channel, or be None")
    H_out = output_size(H, kH, stride, padding)
    W_out = output_size(W, kW, stride, padding)
    x_pad = F.pad(x, (padding, padding, padding, padding))  # zeros on every side
    windows = x_pad.unfold(2, kH, stride).unfold(3, kW, stride)  # (B, C, H_out, W_out, kH, kW), a view
    y = torch.einsum("bchwuv,ocuv->bohw", windows, weight)  # (B, O, H_out, W_out)
    assert y.shape == (B, O, H_out, W_out)
    return y if bias is None else y + bias.view(1, O, 1, 1)


def max_pool2d(x: torch.Tensor, kernel_size: int, stride: int | None = None) -> torch.Tensor:
    """The largest value in each ``kernel_size x kernel_size`` window, per channel; ``stride`` defaults to the kernel
    size (windows that do not overlap). Equal to ``F.max_pool2d(x, kernel_size, stride)``. Nothing is learned."""
    _check_image(x)
    kernel_size = _check_size("kernel_size", kernel_size)
    stride = kernel_size if stride is None else _check_size("stride", stride)
    output_size(x.shape[2], kernel_size, stride)  # a clear error when the window does not fit
    output_size(x.shape[3], kernel_size, stride)
    windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)  # (B, C, H_out, W_out, k, k)
    return windows.amax(dim=(-2, -1))


class Conv2d(nn.Module):
    """A convolution layer on :func:`conv2d`, with ``nn.Conv2d``'s parameters and initialisation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        reference = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.weight = reference.weight  # (O, C, k, k)
        self.bias = reference.bias  # (O,) or None
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)


class SmallCNN(nn.Module):
    """Two convolution blocks and a classifier, for ``(B, 1, 28, 28)`` grey images -> ``(B, 10)`` logits.

    conv 3x3 (1 -> c) · ReLU · max-pool 2  ->  (B, c, 14, 14)
    conv 3x3 (c -> 2c) · ReLU · max-pool 2 ->  (B, 2c, 7, 7)
    flatten · Linear(2c * 49 -> hidden) · ReLU · Linear(hidden -> 10)

    ``reference=True`` (the default) uses ``nn.Conv2d`` (fast); ``False`` our :class:`Conv2d` (the same numbers).
    """

    def __init__(self, channels: int = 32, hidden: int = 128, reference: bool = True):
        super().__init__()
        channels, hidden = _check_size("channels", channels), _check_size("hidden", hidden)
        conv = nn.Conv2d if reference else Conv2d
        self.features = nn.Sequential(
            conv(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            conv(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * channels * 7 * 7, hidden), nn.ReLU(),
                                        nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_grey_28(x)
        return self.classifier(self.features(x))


def _check_grey_28(x) -> None:
    if isinstance(x, torch.Tensor) and x.dim() == 3 and tuple(x.shape[1:]) == (28, 28):
        raise ValueError(f"this network reads grey 28 x 28 images, shape (B, 1, 28, 28); got {tuple(x.shape)}: add the "
                         "channel axis with x[:, None]")
    _check_image(x)
    if tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"this network reads grey 28 x 28 images, shape (B, 1, 28, 28); got {tuple(x.shape)} "
                         "(a batch of (B, 28, 28) images needs x[:, None])")
