"""Bad and edge-case inputs of ``course_lib.cnn`` and ``course_lib.resnet`` (notebooks 09 and 10), one table row per
call a learner might make: a clear error that names the argument (and the fix), or the right answer."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from badinput import Case, ids, run_case
from course_lib import cnn, resnet

X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
W = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(1))

CASES = [
    # conv2d: the image
    Case("conv2d: numpy image", lambda: cnn.conv2d(X.numpy(), W), raises=ValueError, match=r"float tensor.*\(B, C, H, W\)"),
    Case("conv2d: one (H, W) image", lambda: cnn.conv2d(X[0, 0], W[:, :1]), raises=ValueError,
         match=r"\(B, C, H, W\).*x\[None, None\].*\(8, 8\)"),
    Case("conv2d: integer pixels", lambda: cnn.conv2d((X * 100).long(), W), raises=ValueError, match=r"float tensor"),
    Case("conv2d: an empty batch", lambda: cnn.conv2d(X[:0], W, padding=1),
         returns=lambda y: y.shape == (0, 4, 8, 8)),
    Case("conv2d: a 1x1 kernel is a per-pixel linear map", lambda: cnn.conv2d(X, W[:, :, :1, :1]),
         returns=lambda y: torch.allclose(y, torch.einsum("bchw,oc->bohw", X, W[:, :, 0, 0]), atol=1e-5)),
    # conv2d: the kernels
    Case("conv2d: channel mismatch", lambda: cnn.conv2d(X, torch.randn(4, 1, 3, 3)), raises=ValueError,
         match=r"3 channel\(s\) but the kernels expect 1.*\(O, 3, kH, kW\)"),
    Case("conv2d: a 3-D weight", lambda: cnn.conv2d(X, W[0]), raises=ValueError, match=r"weight.*\(O, C, kH, kW\)"),
    Case("conv2d: kernel larger than the padded input", lambda: cnn.conv2d(X, torch.randn(4, 3, 11, 11), padding=1),
         raises=ValueError, match=r"kernel \(11\) is larger than the padded input \(8 \+ 2 x 1 = 10\)"),
    Case("conv2d: kernel as large as the padded input", lambda: cnn.conv2d(X, torch.randn(4, 3, 10, 10), padding=1),
         returns=lambda y: y.shape == (2, 4, 1, 1)),
    Case("conv2d: bias of the wrong size", lambda: cnn.conv2d(X, W, torch.zeros(3)), raises=ValueError,
         match=r"bias must have shape \(4,\)"),
    # conv2d: stride and padding
    Case("conv2d: stride 0", lambda: cnn.conv2d(X, W, stride=0), raises=ValueError, match=r"stride must be an integer >= 1"),
    Case("conv2d: stride 1.5", lambda: cnn.conv2d(X, W, stride=1.5), raises=ValueError, match=r"stride.*1\.5"),
    Case("conv2d: stride True", lambda: cnn.conv2d(X, W, stride=True), raises=ValueError, match=r"stride.*True"),
    Case("conv2d: padding -1", lambda: cnn.conv2d(X, W, padding=-1), raises=ValueError,
         match=r"padding must be an integer >= 0"),
    Case("conv2d: a numpy stride", lambda: cnn.conv2d(X, W, stride=np.int64(2)),
         returns=lambda y: torch.allclose(y, F.conv2d(X, W, stride=2), atol=1e-5)),
    # max pooling and the formula
    Case("max_pool2d: kernel 0", lambda: cnn.max_pool2d(X, 0), raises=ValueError, match=r"kernel_size must be an integer >= 1"),
    Case("max_pool2d: window larger than the image", lambda: cnn.max_pool2d(X, 9), raises=ValueError,
         match=r"kernel \(9\) is larger than the padded input \(8"),
    Case("max_pool2d: odd size drops the last row", lambda: cnn.max_pool2d(torch.randn(1, 1, 7, 7), 2),
         returns=lambda y: y.shape == (1, 1, 3, 3)),
    Case("output_size: n as a float", lambda: cnn.output_size(28.0, 3), raises=ValueError, match=r"n must be an integer"),
    # the networks
    Case("SmallCNN: a (B, 28, 28) batch", lambda: cnn.SmallCNN(channels=2, hidden=4)(torch.rand(3, 28, 28)),
         raises=ValueError, match=r"\(B, 1, 28, 28\).*x\[:, None\]"),
    Case("SmallCNN: a 32 x 32 colour image", lambda: cnn.SmallCNN(channels=2, hidden=4)(torch.rand(1, 3, 32, 32)),
         raises=ValueError, match=r"\(B, 1, 28, 28\).*\(1, 3, 32, 32\)"),
    Case("SmallCNN: channels 0", lambda: cnn.SmallCNN(channels=0), raises=ValueError, match=r"channels must be an integer >= 1"),
    Case("ResNet: depth 10 (not 6n + 2)", lambda: resnet.ResNet(10, 8), raises=ValueError, match=r"6n \+ 2.*10"),
    Case("ResNet: depth '8'", lambda: resnet.ResNet("8", 8), raises=ValueError, match=r"6n \+ 2.*'8'"),
    Case("ResNet: depth True", lambda: resnet.ResNet(True, 8), raises=ValueError, match=r"6n \+ 2"),
    Case("PlainNet: width 0", lambda: resnet.PlainNet(8, 0), raises=ValueError, match=r"width must be an integer >= 1"),
    Case("ResNet: a (B, 28, 28) batch", lambda: resnet.ResNet(8, 4)(torch.rand(2, 28, 28)), raises=ValueError,
         match=r"x\[:, None\]"),
    Case("ResNet: one image (batch of 1) in eval mode", lambda: resnet.ResNet(8, 4).eval()(torch.rand(1, 1, 28, 28)),
         returns=lambda y: y.shape == (1, 10)),
    Case("BasicBlock: stride 3", lambda: resnet.BasicBlock(4, 8, stride=3), raises=ValueError, match=r"stride must be 1 or 2"),
    Case("InceptionBlock: wrong input channels",
         lambda: resnet.InceptionBlock(16, 4, 4, 8, 2, 4, 4)(torch.rand(1, 8, 10, 10)), raises=ValueError,
         match=r"\(B, 16, H, W\).*\(1, 8, 10, 10\)"),
    Case("InceptionBlock: a branch of 0 channels", lambda: resnet.InceptionBlock(16, 0, 4, 8, 2, 4, 4), raises=ValueError,
         match=r"c1 must be an integer >= 1"),
    # batch_norm and the norm flag
    Case("batch_norm: one (C, H, W) image", lambda: resnet.batch_norm(X[0], *[torch.ones(3)] * 4, training=True),
         raises=ValueError, match=r"x must have shape \(B, C, H, W\), got \(3, 8, 8\)"),
    Case("batch_norm: gamma for the wrong number of channels",
         lambda: resnet.batch_norm(X, torch.ones(4), *[torch.ones(3)] * 3, training=False), raises=ValueError,
         match=r"gamma must have shape \(3,\).*got \(4,\)"),
    Case("batch_norm: running_var missing", lambda: resnet.batch_norm(X, *[torch.ones(3)] * 3, None, training=False),
         raises=ValueError, match=r"running_var must have shape \(3,\).*NoneType"),
    Case("batch_norm: one value per channel in training mode",
         lambda: resnet.batch_norm(X[:1, :, :1, :1], *[torch.ones(3)] * 4, training=True), raises=ValueError,
         match=r"more than one value per channel.*larger batch, or eval mode"),
    Case("batch_norm: one 1x1 image in eval mode",
         lambda: resnet.batch_norm(X[:1, :, :1, :1], torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3),
                                   training=False),
         returns=lambda y: torch.allclose(y, X[:1, :, :1, :1] / (1 + 1e-5) ** 0.5)),
    Case("ResNet: norm='no'", lambda: resnet.ResNet(8, 4, norm="no"), raises=TypeError,
         match=r"norm must be True or False, got str"),
    Case("BasicBlock: norm=0", lambda: resnet.BasicBlock(4, 4, norm=0), raises=TypeError, match=r"norm must be True or False"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
