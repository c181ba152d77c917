"""Neural-network basics (notebook 01): a two-layer network by hand, its gradients by the chain rule, an MLP.

Forward propagation, for a batch ``X (B, D)`` with labels ``y (B,)``:

    A1 = X W1ᵀ + b1            (B, H)    pre-activation of the hidden layer
    H1 = tanh(A1)              (B, H)    hidden activation
    Z  = H1 W2ᵀ + b2           (B, C)    logits
    P  = softmax(Z)            (B, C)
    L  = -mean_b log P[b, y_b]           cross-entropy

Back-propagation applies the chain rule from the loss backwards:

    dZ  = (P - onehot(y)) / B           dW2 = dZᵀ H1     db2 = sum_b dZ
    dH1 = dZ W2                         dA1 = dH1 * (1 - H1²)     (tanh' = 1 - tanh²)
    dW1 = dA1ᵀ X                        db1 = sum_b dA1
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def init_params(d_in: int, hidden: int, classes: int, seed: int = 0, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """Weights ``W1 (H, D)``, ``b1 (H,)``, ``W2 (C, H)``, ``b2 (C,)``: PyTorch's ``nn.Linear`` orientation and init."""
    g = torch.Generator().manual_seed(seed)

    def uniform(shape, fan_in):
        bound = 1.0 / fan_in ** 0.5
        return (torch.rand(shape, generator=g, dtype=dtype) * 2 - 1) * bound

    return {"W1": uniform((hidden, d_in), d_in), "b1": uniform((hidden,), d_in),
            "W2": uniform((classes, hidden), hidden), "b2": uniform((classes,), hidden)}


def _check_batch(params: dict[str, torch.Tensor], X: torch.Tensor) -> None:
    if X.ndim != 2:
        raise ValueError(f"X must have shape (B, D), got {tuple(X.shape)}")
    if X.shape[1] != params["W1"].shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, W1 expects {params['W1'].shape[1]}")


def forward(params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Forward propagation. Returns the loss and a cache of the intermediate values back-propagation needs."""
    _check_batch(params, X)
    A1 = X @ params["W1"].T + params["b1"]  # (B, H)
    H1 = torch.tanh(A1)  # (B, H)
    Z = H1 @ params["W2"].T + params["b2"]  # (B, C)
    P = torch.softmax(Z, dim=1)  # (B, C)
    loss = -torch.log(P[torch.arange(len(y)), y]).mean()
    return loss, {"X": X, "H1": H1, "P": P, "y": y}


def backward(params: dict[str, torch.Tensor], cache: dict) -> dict[str, torch.Tensor]:
    """Back-propagation by hand (the chain rule, equations in the module docstring). Returns ``dL/dparam`` for each."""
    X, H1, P, y = cache["X"], cache["H1"], cache["P"], cache["y"]
    B = X.shape[0]
    dZ = P.clone()
    dZ[torch.arange(B), y] -= 1
    dZ /= B  # (B, C)
    dW2 = dZ.T @ H1  # (C, H)
    db2 = dZ.sum(0)  # (C,)
    dH1 = dZ @ params["W2"]  # (B, H)
    dA1 = dH1 * (1 - H1 ** 2)  # (B, H)
    dW1 = dA1.T @ X  # (H, D)
    db1 = dA1.sum(0)  # (H,)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def numerical_gradient(f: Callable[[], torch.Tensor], param: torch.Tensor, eps: float = 1e-6,
                       max_entries: int | None = None) -> torch.Tensor:
    """Central differences ``(f(p + eps) - f(p - eps)) / 2 eps`` for each entry of ``param`` (changed in place, restored).

    ``max_entries`` limits the work to the first entries (the rest stay 0). Use float64: in float32 the rounding error
    of ``f`` divided by ``2 eps`` swamps the gradient.
    """
    grad = torch.zeros_like(param)
    flat, gflat = param.view(-1), grad.view(-1)
    n = flat.numel() if max_entries is None else min(max_entries, flat.numel())
    with torch.no_grad():
        for i in range(n):
            old = float(flat[i])
            flat[i] = old + eps
            up = float(f())
            flat[i] = old - eps
            down = float(f())
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
    return grad


def sgd_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], lr: float) -> None:
    """Gradient descent: ``θ ← θ - lr · dL/dθ`` for every parameter (in place)."""
    for name in params:
        params[name] -= lr * grads[name]


class MLP(nn.Module):
    """A multi-layer perceptron for images: flatten -> [Linear -> activation] * len(hidden) -> Linear (logits)."""

    def __init__(self, d_in: int = 784, hidden: tuple[int, ...] = (256, 128), classes: int = 10,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = d_in
        for h in hidden:
            layers += [nn.Linear(width, h), activation()]
            width = h
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2:
            raise ValueError(f"x must be a batch (B, ...), got shape {tuple(x.shape)}")
        return self.net(x)  # (B, classes)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in the model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
