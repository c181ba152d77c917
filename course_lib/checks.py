"""Auto-checked exercises. Each ``check_*`` prints whether an answer is right, with a hint when it is not.

An exercise a learner has not attempted yet (answer left as ``None``) prints "not attempted yet" and never raises, so a
notebook still runs top to bottom. The return value is ``True`` / ``False``, or ``None`` when not attempted.
"""
from __future__ import annotations

import math
from typing import Callable

import torch


def _not_attempted(name: str) -> None:
    print(f"{name}: not attempted yet (replace None with your answer and run the cell again)")
    return None


def _report(name: str, ok: bool, hint: str) -> bool:
    print(f"{name}: correct ✔" if ok else f"{name}: not yet ✘ hint: {hint}")
    return ok


def _close(value, target: float, tol: float) -> bool:
    try:
        return math.isfinite(float(value)) and abs(float(value) - target) <= tol
    except (TypeError, ValueError):
        return False


# notebook 00 ----------------------------------------------------------------------------------------------------------

def check_tanh_slope_at_zero(value) -> bool | None:
    """Exercise 00.1: the slope of tanh at x = 0."""
    if value is None:
        return _not_attempted("Exercise 1")
    return _report("Exercise 1", _close(value, 1.0, 1e-3),
                   "move the x0 slider to 0 with tanh selected and read f'(x0); or use tanh'(x) = 1 - tanh(x)².")


# notebook 01 ----------------------------------------------------------------------------------------------------------

def check_sigmoid_max_slope(value) -> bool | None:
    """Exercise 01.1: the largest value of the sigmoid's derivative."""
    if value is None:
        return _not_attempted("Exercise 1")
    return _report("Exercise 1", _close(value, 0.25, 1e-3),
                   "σ'(x) = σ(x)(1 - σ(x)) is largest where σ(x) = 1/2, that is at x = 0.")


def check_mlp_parameter_count(value) -> bool | None:
    """Exercise 01.2: trainable parameters of an MLP 784 -> 256 -> 128 -> 10 (weights and biases)."""
    if value is None:
        return _not_attempted("Exercise 2")
    target = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    try:
        ok = int(value) == target
    except (TypeError, ValueError):
        ok = False
    hint = "a Linear(n_in, n_out) layer has n_in·n_out weights and n_out biases; add the three layers."
    if not ok and isinstance(value, int) and value == target - 256 - 128 - 10:
        hint = "you counted the weights; the biases are parameters too."
    return _report("Exercise 2", ok, hint)


def check_relu_backward(fn: Callable | None) -> bool | None:
    """Exercise 01.3: ``fn(grad_out, a)`` returns dL/da for ``h = relu(a)`` given ``grad_out = dL/dh``.

    A function that still returns ``None`` (the template) counts as not attempted.
    """
    if fn is None or (callable(fn) and _returns_none(fn)):
        return _not_attempted("Exercise 3")
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5, 7, dtype=torch.float64, generator=g)
    grad_out = torch.randn(5, 7, dtype=torch.float64, generator=g)
    a_leaf = a.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.relu(a_leaf), a_leaf, grad_out)
    try:
        got = fn(grad_out.clone(), a.clone())
        ok = isinstance(got, torch.Tensor) and got.shape == a.shape and torch.allclose(got, expected)
    except Exception as exc:  # a learner's function may fail in any way; say how
        return _report("Exercise 3", False, f"your function raised {type(exc).__name__}: {exc}")
    return _report("Exercise 3", ok, "ReLU passes the gradient where a > 0 and blocks it (0) elsewhere: "
                                     "grad_out * (a > 0).")


def _returns_none(fn: Callable) -> bool:
    try:
        return fn(torch.ones(1), torch.ones(1)) is None
    except Exception:  # a failing function is an attempt; check_relu_backward reports the error
        return False


def check_max_learning_rate(value) -> bool | None:
    """Exercise 01.4: the largest learning rate for which gradient descent on f(w) = ½·10·w² does not diverge."""
    if value is None:
        return _not_attempted("Exercise 4")
    return _report("Exercise 4", _close(value, 0.2, 1e-3),
                   "one step maps w to (1 - lr·10)·w; it shrinks while |1 - lr·10| < 1.")
