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


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_equals_torch_outputs_gradients_and_running_statistics(training):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 4, 5, 3, dtype=torch.float64, generator=g, requires_grad=True)
    gamma = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True)
    beta = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True)
    ours_stats = [torch.randn(4, dtype=torch.float64, generator=g), torch.rand(4, dtype=torch.float64, generator=g) + .5]
    ref_stats = [t.clone() for t in ours_stats]
    ours = resnet.batch_norm(x, gamma, beta, *ours_stats, training=training, momentum=0.3)
    ref = torch.nn.functional.batch_norm(x, *ref_stats, gamma, beta, training=training, momentum=0.3)
    assert (ours - ref).abs().max() <= 1e-6
    upstream = torch.randn(ref.shape, dtype=torch.float64, generator=g)
    for a, b in zip(torch.autograd.grad((ours * upstream).sum(), (x, gamma, beta)),
                    torch.autograd.grad((ref * upstream).sum(), (x, gamma, beta))):
        assert (a - b).abs().max() <= 1e-6
    for a, b in zip(ours_stats, ref_stats):
        assert (a - b).abs().max() <= 1e-12
    if not training:  # eval mode leaves the running statistics alone
        assert torch.equal(ours_stats[0], ref_stats[0])


def test_batch_norm_gradcheck_in_training_mode():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    gamma = torch.randn(2, dtype=torch.float64, generator=g, requires_grad=True)
    beta = torch.randn(2, dtype=torch.float64, generator=g, requires_grad=True)
    stats = [torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)]
    assert torch.autograd.gradcheck(lambda a, b, c: resnet.batch_norm(a, b, c, *stats, training=True), (x, gamma, beta))


def test_batch_norm_matches_the_module_inside_a_resnet():
    net = resnet.ResNet(8, 4).double()
    bn = net.stem[0][1]
    x = torch.randn(5, 4, 6, 6, dtype=torch.float64)
    stats = [bn.running_mean.clone(), bn.running_var.clone()]
    ours = resnet.batch_norm(x, bn.weight, bn.bias, *stats, training=True, momentum=bn.momentum, eps=bn.eps)
    assert torch.allclose(ours, bn(x), atol=1e-12)
    assert torch.allclose(stats[0], bn.running_mean) and torch.allclose(stats[1], bn.running_var)


def test_norm_false_removes_every_batch_norm_and_gives_convolutions_biases():
    net = resnet.ResNet(8, 16, norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert all(m.bias is not None for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    bns = 2 * 16 + 2 * (2 * 16) + 2 * (2 * 32) + 2 * (2 * 64) + 2 * 32 + 2 * 64  # every BN's gamma and beta
    biases = 16 + 2 * 16 + 2 * 32 + 2 * 64 + 32 + 64  # one bias per output channel of every convolution
    assert resnet.count_parameters(net) == 77_754 - bns + biases
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert resnet.count_parameters(resnet.PlainNet(8, 16, norm=False)) == 75_002 - (bns - 2 * 32 - 2 * 64) + (biases - 32 - 64)


def test_the_shipped_checkpoint_loads_and_a_damaged_copy_is_refused(tmp_path):
    import json
    import shutil

    from course_lib import checkpoint, data

    path = data.DATA_DIR / "pretrained" / "resnet8-fashion-mnist.safetensors"
    assert path.stat().st_size <= 20 * 2**20  # the limit for a shipped checkpoint
    log = json.loads(path.with_name("resnet8-fashion-mnist.log.json").read_text())
    model = checkpoint.load(resnet.ResNet(log["depth"], log["width"]), path)
    assert resnet.count_parameters(model) == log["parameters"]
    damaged = tmp_path / path.name
    shutil.copy(path, damaged)
    shutil.copy(str(path) + ".sha256", str(damaged) + ".sha256")
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    damaged.write_bytes(bytes(raw))
    with pytest.raises(checkpoint.CheckpointError, match="damaged"):
        checkpoint.load(resnet.ResNet(8, 32), damaged)
