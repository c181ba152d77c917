"""course_lib.cnn: convolution and max pooling from scratch equal PyTorch's, outputs and gradients."""
import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_lib import cnn

CONV_GRID = list(itertools.product(
    [(1, 1, 5, 5), (2, 3, 7, 6)],  # x: (B, C, H, W)
    [1, 4],  # output channels
    [1, 3],  # kernel size
    [1, 2],  # stride
    [0, 1, 2],  # padding
    [True, False],  # bias
))


@pytest.mark.parametrize("x_shape, O, k, stride, padding, use_bias", CONV_GRID)
def test_conv2d_equals_pytorch_outputs_and_gradients(x_shape, O, k, stride, padding, use_bias):
    g = torch.Generator().manual_seed(hash((x_shape, O, k, stride, padding, use_bias)) % 2**31)
    x = torch.randn(*x_shape, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(O, x_shape[1], k, k, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(O, dtype=torch.float64, generator=g, requires_grad=True) if use_bias else None
    ours = cnn.conv2d(x, w, b, stride, padding)
    theirs = F.conv2d(x, w, b, stride, padding)
    assert ours.shape == theirs.shape
    assert ours.shape[2:] == (cnn.output_size(x_shape[2], k, stride, padding),
                              cnn.output_size(x_shape[3], k, stride, padding))
    assert (ours - theirs).abs().max() <= 1e-6
    grad_out = torch.randn(theirs.shape, dtype=torch.float64, generator=g)
    leaves = [x, w] + ([b] if use_bias else [])
    for a, c in zip(torch.autograd.grad(ours, leaves, grad_out), torch.autograd.grad(theirs, leaves, grad_out)):
        assert (a - c).abs().max() <= 1e-6


def test_conv2d_gradcheck():
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: cnn.conv2d(x, w, b, stride=2, padding=1), (x, w, b))


@pytest.mark.parametrize("shape, k, stride", list(itertools.product([(1, 1, 6, 6), (2, 3, 7, 9)], [2, 3],
                                                                      [None, 1, 2])))
def test_max_pool2d_equals_pytorch_outputs_and_gradients(shape, k, stride):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)  # random floats: no ties
    ours, theirs = cnn.max_pool2d(x, k, stride), F.max_pool2d(x, k, stride)
    assert ours.shape == theirs.shape and (ours - theirs).abs().max() <= 1e-6
    grad_out = torch.randn(theirs.shape, dtype=torch.float64)
    (a,), (c,) = torch.autograd.grad(ours, x, grad_out), torch.autograd.grad(theirs, x, grad_out)
    assert (a - c).abs().max() <= 1e-6


def test_output_size_is_the_formula():
    assert cnn.output_size(28, 3, 1, 1) == 28  # "same" padding
    assert cnn.output_size(28, 5) == 24
    assert cnn.output_size(28, 3, stride=2, padding=1) == 14
    assert cnn.output_size(7, 2, stride=2) == 3  # floor: the last row is dropped


def test_bad_shapes_give_clear_errors():
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="3 channel"):
        cnn.conv2d(x, torch.randn(4, 1, 3, 3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        cnn.conv2d(x, torch.randn(4, 3, 11, 11), padding=1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cnn.conv2d(torch.randn(8, 8), torch.randn(4, 1, 3, 3))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cnn.conv2d(torch.ones(1, 1, 8, 8, dtype=torch.long), torch.randn(4, 1, 3, 3))
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        cnn.conv2d(x, torch.randn(4, 3, 3, 3), stride=0)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        cnn.conv2d(x, torch.randn(4, 3, 3, 3), padding=-1)
    with pytest.raises(ValueError, match="bias must have shape"):
        cnn.conv2d(x, torch.randn(4, 3, 3, 3), torch.randn(3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        cnn.max_pool2d(torch.randn(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        cnn.SmallCNN()(torch.randn(2, 28, 28))


def test_conv2d_module_and_small_cnn_equal_their_reference():
    torch.manual_seed(0)
    ours = cnn.Conv2d(3, 5, 3, stride=2, padding=1)
    theirs = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 9, 9)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    fast, scratch = cnn.SmallCNN(channels=4, hidden=16), cnn.SmallCNN(channels=4, hidden=16, reference=False)
    scratch.load_state_dict(fast.state_dict())
    images = torch.randn(3, 1, 28, 28)
    assert fast(images).shape == (3, 10) and torch.allclose(fast(images), scratch(images), atol=1e-5)
    # 1*4*9+4 + 4*8*9+8 + 8*49*16+16 + 16*10+10
    assert cnn.count_parameters(fast) == 40 + 296 + 6288 + 170
