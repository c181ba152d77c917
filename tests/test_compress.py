"""Quantization, pruning and distillation (course_lib.compress)."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import compress, rnn


def test_int8_round_trip_is_within_half_a_step():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 48, generator=g) * 0.1
    q, s = compress.quantize_int8(w)
    assert q.dtype == torch.int8 and q.shape == w.shape
    assert int(q.abs().max()) == 127  # the largest weight uses the full range
    assert s == pytest.approx(w.abs().max().item() / 127)
    assert (compress.dequantize(q, s) - w).abs().max() <= s / 2 + 1e-7
    zeros, _ = compress.quantize_int8(torch.zeros(3, 3))
    assert torch.equal(zeros, torch.zeros(3, 3, dtype=torch.int8))


def _tiny_lm():
    torch.manual_seed(0)
    return rnn.CharLM(vocab_size=20, hidden=32, emb=16, reference=True).eval()


def test_dynamic_quantization_of_lstm_and_linear_stays_close_and_leaves_the_original():
    model = _tiny_lm()
    assert any(isinstance(m, nn.LSTM) for m in model.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the deprecation notice is silenced inside quantize_dynamic
        quantized = compress.quantize_dynamic(model)
    assert all(".quantized.dynamic." in type(m).__module__ for m in (quantized.rnn, quantized.head))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the original is unchanged
    ids = torch.randint(0, 20, (4, 30), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        exact, _ = model(ids)
        approx, _ = quantized(ids)
    # stated tolerance: int8 weights and activations move the logits by at most 2% of their range here
    assert (exact - approx).abs().max() <= 0.02 * exact.abs().max()
    assert (exact - approx).abs().max() > 0  # it really runs in int8
    assert compress.model_bytes(quantized) < 0.5 * compress.model_bytes(model)


def test_dynamic_quantization_replaces_linear_layers():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    quantized = compress.quantize_dynamic(model)
    assert all(".quantized.dynamic." in type(quantized[i]).__module__ for i in (0, 2))
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (model(x) - quantized(x)).abs().max() <= 0.02 * model(x).abs().max()


def test_global_magnitude_pruning_removes_the_smallest_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    pruned = compress.prune_magnitude(model, 0.6)
    assert compress.sparsity(model) == 0  # the original is unchanged
    assert compress.sparsity(pruned) == pytest.approx(0.6, abs=1 / 676)
    weights = torch.cat([model[0].weight.flatten(), model[2].weight.flatten()]).abs()
    kept = torch.cat([pruned[0].weight.flatten(), pruned[2].weight.flatten()]) != 0
    assert weights[kept].min() >= weights[~kept].max()  # global: one threshold for both layers
    assert not any(name.endswith("_orig") for name, _ in pruned.named_parameters())  # the pruning is permanent
    assert torch.equal(pruned[0].bias, model[0].bias)  # biases are not pruned
    assert compress.sparsity(compress.prune_magnitude(model, 0.0)) == 0
    assert compress.sparsity(compress.prune_magnitude(model, 1.0)) == 1


def _reference_distillation(s, t, y, T, alpha):  # PyTorch's own KL divergence
    soft = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), reduction="batchmean", log_target=True)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(s, y)


def test_distillation_loss_equals_pytorch_kl_div_with_gradients():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.randn(6, 5, dtype=torch.float64, generator=g)
    y = torch.randint(0, 5, (6,), generator=g)
    for T, alpha in [(1.0, 0.5), (4.0, 0.9), (2.5, 1.0), (3.0, 0.0)]:
        ours = compress.distillation_loss(s, t, y, T, alpha)
        theirs = _reference_distillation(s, t, y, T, alpha)
        assert abs(ours.item() - theirs.item()) <= 1e-12
        (g_ours,) = torch.autograd.grad(ours, s)
        (g_theirs,) = torch.autograd.grad(theirs, s)
        assert (g_ours - g_theirs).abs().max() <= 1e-12
    assert torch.autograd.gradcheck(lambda z: compress.distillation_loss(z, t, y, 3.0, 0.7), (s,))
    assert compress.distillation_loss(s, t, y, 4.0, 0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    # the teacher gets no gradient
    t_leaf = t.clone().requires_grad_(True)
    compress.distillation_loss(s, t_leaf, y).backward()
    assert t_leaf.grad is None


def _plain_conv(m):
    c = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size)
    with torch.no_grad():
        c.weight.copy_(m.weight.contiguous())
        c.bias.copy_(m.bias)
    return c


def test_pruning_keeps_a_channels_last_layout():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 4, 3)).to(memory_format=torch.channels_last)
    pruned = compress.prune_magnitude(model, 0.5)
    assert compress.sparsity(pruned) == pytest.approx(0.5, abs=1 / 500)
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in pruned)
    x = torch.randn(2, 3, 9, 9).to(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = nn.Sequential(*[_plain_conv(m) for m in pruned])(x.contiguous())
        assert torch.allclose(pruned(x), reference, atol=1e-5)
