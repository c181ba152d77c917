"""Notebook 01's two-layer network: hand-written back-propagation against autograd and numerical gradients."""
import pytest
import torch
from torch import nn

from course_lib import mlp


def _batch(seed=0, B=16, D=5, C=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, D, dtype=torch.float64, generator=g), torch.randint(C, (B,), generator=g)


def test_forward_matches_torch_modules():
    params = mlp.init_params(5, 7, 3)
    X, y = _batch()
    loss, _ = mlp.forward(params, X, y)
    l1, l2 = nn.Linear(5, 7).double(), nn.Linear(7, 3).double()
    with torch.no_grad():
        l1.weight.copy_(params["W1"]), l1.bias.copy_(params["b1"])
        l2.weight.copy_(params["W2"]), l2.bias.copy_(params["b2"])
    expected = nn.functional.cross_entropy(l2(torch.tanh(l1(X))), y)
    assert (loss - expected).abs().item() <= 1e-12


def test_backward_by_hand_equals_autograd():
    params = mlp.init_params(5, 7, 3, seed=1)
    X, y = _batch(1)
    loss, cache = mlp.forward(params, X, y)
    grads = mlp.backward(params, cache)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    auto_loss, _ = mlp.forward(leaves, X, y)
    auto = torch.autograd.grad(auto_loss, list(leaves.values()))
    for (name, g_auto) in zip(leaves, auto):
        assert grads[name].shape == params[name].shape
        assert (grads[name] - g_auto).abs().max().item() <= 1e-6, name


def test_numerical_gradient_agrees_and_gradcheck():
    params = mlp.init_params(4, 6, 3, seed=2)
    X, y = _batch(2, B=8, D=4)
    _, cache = mlp.forward(params, X, y)
    grads = mlp.backward(params, cache)
    for name in params:
        numeric = mlp.numerical_gradient(lambda: mlp.forward(params, X, y)[0], params[name])
        assert (numeric - grads[name]).abs().max().item() <= 1e-6, name
    leaves = tuple(v.clone().requires_grad_(True) for v in params.values())
    assert torch.autograd.gradcheck(
        lambda *p: mlp.forward(dict(zip(params, p)), X, y)[0], leaves)


def test_sgd_step_lowers_loss():
    params = mlp.init_params(5, 7, 3, seed=3)
    X, y = _batch(3)
    first, cache = mlp.forward(params, X, y)
    for _ in range(20):
        loss, cache = mlp.forward(params, X, y)
        mlp.sgd_step(params, mlp.backward(params, cache), lr=0.5)
    assert mlp.forward(params, X, y)[0] < first


def test_mlp_shapes_counts_and_errors():
    model = mlp.MLP()
    assert model(torch.zeros(2, 28, 28)).shape == (2, 10)
    assert mlp.count_parameters(model) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    with pytest.raises(ValueError, match="batch"):
        model(torch.zeros(5))
    with pytest.raises(ValueError, match="features"):
        mlp.forward(mlp.init_params(5, 7, 3), torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, dtype=torch.long))
