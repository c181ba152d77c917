"""course_lib.resnet: shapes and parameter counts against hand-computed values; residual vs plain."""
import pytest
import torch

from course_lib import resnet


def test_resnet_and_plainnet_shapes_and_parameters():
    x = torch.randn(2, 1, 28, 28)
    net, plain = resnet.ResNet(8, 16), resnet.PlainNet(8, 16)
    assert net(x).shape == plain(x).shape == (2, 10)
    stem = 1 * 16 * 9 + 2 * 16  # conv (no bias) + BN (gamma, beta)
    stage1 = 2 * (16 * 16 * 9 + 2 * 16)  # two convs + BNs; identity shortcut: nothing
    stage2 = 16 * 32 * 9 + 2 * 32 + 32 * 32 * 9 + 2 * 32
    stage3 = 32 * 64 * 9 + 2 * 64 + 64 * 64 * 9 + 2 * 64
    projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # 1x1 conv + BN where the shape changes
    head = 64 * 10 + 10
    assert resnet.count_parameters(plain) == stem + stage1 + stage2 + stage3 + head == 75_002
    assert resnet.count_parameters(net) == 75_002 + projections == 77_754
    assert len(resnet.ResNet(20, 8).blocks) == 9  # depth 20 = 6 * 3 + 2: three blocks per stage


def test_shortcuts_are_there_or_not():
    blocks = resnet.ResNet(14, 8).blocks
    assert isinstance(blocks[0].shortcut, torch.nn.Identity)  # same shape: identity
    assert blocks[2].shortcut is not None and not isinstance(blocks[2].shortcut, torch.nn.Identity)  # projection
    assert all(block.shortcut is None for block in resnet.PlainNet(14, 8).blocks)
    block = resnet.BasicBlock(4, 4).eval()
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():  # with F(x) made zero, a residual block passes relu(x): the identity path is real
        block.conv2[1].weight.zero_()
        block.conv2[1].bias.zero_()
        assert torch.equal(block(x), torch.relu(x))


def test_inception_block_shape_and_parameters():
    block = resnet.InceptionBlock(192, 64, 96, 128, 16, 32, 32)  # GoogLeNet's 3a
    assert block(torch.randn(1, 192, 28, 28)).shape == (1, 64 + 128 + 32 + 32, 28, 28)
    expected = (192 * 64 + 64) + (192 * 96 + 96) + (96 * 128 * 9 + 128) + (192 * 16 + 16) + (16 * 32 * 25 + 32) \
        + (192 * 32 + 32)
    assert resnet.count_parameters(block) == expected == 163_696


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet.ResNet(10, 16)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet.PlainNet(2, 16)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        resnet.ResNet(8, 4)(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, 192, H, W\)"):
        resnet.InceptionBlock(192, 64, 96, 128, 16, 32, 32)(torch.randn(1, 3, 28, 28))
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        resnet.BasicBlock(4, 8, stride=3)
