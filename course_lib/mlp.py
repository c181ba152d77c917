"""Neural-network basics (notebook 01): a two-layer network by hand, its gradients by the chain rule, an MLP.

Forward propagation, for a batch ``X (B, D)`` with labels ``y (B,)``:

    A1 = X W1ᵀ + b1            (B, H)    pre-activation of the hidden layer
    H1 = tanh(A1)              (B, H)    hidden activation
    Z  = H1 W2ᵀ + b2           (B, C)    logits
    P  = softmax(Z)            (B, C)
    L  = -mean_b log P[b, y_b]           cross-entropy

``log P`` is computed as ``Z - logsumexp(Z)`` (``log_softmax``), never as ``log(softmax(Z))``: for large logits the
softmax rounds a probability to exactly 0 and its log to -inf, while ``Z - logsumexp(Z)`` stays finite and exact.

Back-propagation applies the chain rule from the loss backwards:

    dZ  = (P - onehot(y)) / B           dW2 = dZᵀ H1     db2 = sum_b dZ
    dH1 = dZ W2                         dA1 = dH1 * (1 - H1²)     (tanh' = 1 - tanh²)
    dW1 = dA1ᵀ X                        db1 = sum_b dA1

Every public function checks its inputs and raises a ``ValueError``/``TypeError`` that names the argument, what was
expected, what it got and, where there is one, the fix.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import torch
from torch import nn

#: The largest network :func:`init_params` and :class:`MLP` build — and the recurrent models of ``rnn``, which use this
#: same limit: 250 million parameters, 1 GB in float32 (and about four times that while training with Adam). Anything
#: larger cannot be trained in a notebook on a laptop.
MAX_PARAMETERS = 250_000_000

#: :func:`numerical_gradient` without ``max_entries`` checks at most this many entries (two calls of ``f`` each);
#: for a larger parameter, say how many to check.
MAX_NUMERICAL_ENTRIES = 10_000

PARAM_SHAPES = {"W1": "(H, D)", "b1": "(H,)", "W2": "(C, H)", "b2": "(C,)"}


# ----------------------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------------------

def _check_size(name: str, value, minimum: int = 1) -> int:
    """``value`` must be an integer (Python or NumPy, not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_budget(count: int, what: str) -> None:
    if count > MAX_PARAMETERS:
        raise ValueError(f"{what} would have {count:,} parameters ({count * 4 / 1e9:.1f} GB in float32), more than "
                         f"the limit of {MAX_PARAMETERS:,} ({MAX_PARAMETERS * 4 / 1e9:.0f} GB): choose smaller sizes")


def _check_params(params) -> None:
    if not isinstance(params, dict):
        raise TypeError(f"params must be the dict that init_params returns ({{'W1', 'b1', 'W2', 'b2'}}), "
                        f"got {type(params).__name__}")
    missing = [k for k in PARAM_SHAPES if k not in params]
    if missing:
        raise ValueError(f"params lacks {missing}: it must hold W1, b1, W2, b2 (as init_params returns), "
                         f"got keys {sorted(params)}")
    for name in PARAM_SHAPES:
        if not isinstance(params[name], torch.Tensor):
            raise TypeError(f"params[{name!r}] must be a tensor {PARAM_SHAPES[name]}, "
                            f"got {type(params[name]).__name__}")
    W1, b1, W2, b2 = (params[k] for k in PARAM_SHAPES)
    H = W1.shape[0] if W1.ndim == 2 else None
    ok = (W1.ndim == 2 and W2.ndim == 2 and tuple(b1.shape) == (H,) and W2.shape[1] == H
          and tuple(b2.shape) == (W2.shape[0],))
    if not ok:
        got = ", ".join(f"{k} {tuple(params[k].shape)}" for k in PARAM_SHAPES)
        raise ValueError(f"params must have shapes W1 (H, D), b1 (H,), W2 (C, H), b2 (C,) with the same H and C, "
                         f"got {got}")


def _check_batch(params: dict[str, torch.Tensor], X, name: str = "X") -> None:
    """``X`` must be a floating-point ``(B, D)`` batch on the parameters' device and dtype."""
    W1 = params["W1"]
    D = W1.shape[1]
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, D={D}), got {type(X).__name__}: "
                        f"convert it with torch.as_tensor({name}, dtype={W1.dtype})")
    if not X.is_floating_point():
        flatten = f".reshape(len({name}), -1)" if X.ndim > 2 and math.prod(X.shape[1:]) == D else ""
        raise TypeError(f"{name} has dtype {X.dtype}, the network needs floating-point inputs like its weights "
                        f"({W1.dtype}). Raw pixel values 0..255? Scale them: {name}{flatten}.to({W1.dtype}) / 255")
    if X.ndim != 2 or X.shape[1] != D:
        if X.numel() == D and X.ndim >= 2:
            hint = f" That is one example: make it a batch of one with {name}.reshape(1, -1)."
        elif X.ndim > 2 and math.prod(X.shape[1:]) == D:
            hint = f" Flatten each example into a row: {name}.reshape(len({name}), -1)."
        else:
            hint = ""
        raise ValueError(f"{name} must have shape (B, D) with D={D} features (W1 is {tuple(W1.shape)}), "
                         f"got {tuple(X.shape)}.{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows (shape {tuple(X.shape)}): a batch needs at least one example")
    if X.dtype != W1.dtype:
        raise TypeError(f"{name} has dtype {X.dtype} but the parameters are {W1.dtype}: convert {name} with "
                        f"{name}.to({W1.dtype}) (or build the parameters with init_params(..., dtype={X.dtype}))")
    if X.device != W1.device:
        raise ValueError(f"{name} is on {X.device} but the parameters are on {W1.device}: move it with "
                         f"{name}.to({str(W1.device)!r})")
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values: check how it was made (a division by a zero "
                         "standard deviation?)")


def _check_labels(y, B: int, C: int, device: torch.device) -> None:
    """``y`` must be ``B`` integer class ids in ``0..C-1``."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a tensor of {B} class ids, got {type(y).__name__}: "
                        f"convert it with torch.as_tensor(y, dtype=torch.long)")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        hint = ("one-hot rows? Use y.argmax(dim=1)" if y.ndim == 2 and y.shape[1] == C
                else "convert with y.long()")
        raise TypeError(f"y must hold integer class ids (torch.long), got dtype {y.dtype}: {hint}")
    if y.ndim != 1:
        hint = " Use y.view(-1) to make it (B,)." if y.numel() == B else ""
        raise ValueError(f"y must have shape (B,) = ({B},), one class id per row of X; got {tuple(y.shape)}.{hint}")
    if len(y) != B:
        raise ValueError(f"y has {len(y)} labels but X has {B} rows: give one label per row")
    if y.device != device:
        raise ValueError(f"y is on {y.device} but X is on {device}: move it with y.to({str(device)!r})")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= C:
        raise ValueError(f"y must hold class ids in 0..{C - 1} (C={C} classes), got values in {lo}..{hi}")


# ----------------------------------------------------------------------------------------------------------------------
# The two-layer network by hand
# ----------------------------------------------------------------------------------------------------------------------

def init_params(d_in: int, hidden: int, classes: int, seed: int = 0, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """Weights ``W1 (H, D)``, ``b1 (H,)``, ``W2 (C, H)``, ``b2 (C,)``: PyTorch's ``nn.Linear`` orientation and init.

    ``dtype`` must be a floating-point type (float64 by default: exact enough for numerical gradients). At most
    :data:`MAX_PARAMETERS` parameters.
    """
    d_in, hidden, classes = _check_size("d_in", d_in), _check_size("hidden", hidden), _check_size("classes", classes)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype such as torch.float64, got {dtype!r}")
    _check_budget(hidden * d_in + hidden + classes * hidden + classes, "this network")
    g = torch.Generator().manual_seed(int(seed))

    def uniform(shape, fan_in):
        bound = 1.0 / fan_in ** 0.5
        return (torch.rand(shape, generator=g, dtype=dtype) * 2 - 1) * bound

    return {"W1": uniform((hidden, d_in), d_in), "b1": uniform((hidden,), d_in),
            "W2": uniform((classes, hidden), hidden), "b2": uniform((classes,), hidden)}


def forward(params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Forward propagation. Returns the loss and a cache of the intermediate values back-propagation needs.

    ``X (B, D)`` floating point, same dtype as the parameters (scale raw ``uint8`` pixels first: ``X.double() / 255``);
    ``y (B,)`` integer class ids in ``0..C-1``, exactly one per row. ``(B, 1)`` and one-hot labels are refused with
    the fix (``y.view(-1)``, ``y.argmax(dim=1)``) rather than guessed at. The loss uses ``log_softmax``, so it is
    finite and exact even for huge logits.
    """
    _check_params(params)
    _check_batch(params, X)
    _check_labels(y, X.shape[0], params["W2"].shape[0], X.device)
    A1 = X @ params["W1"].T + params["b1"]  # (B, H)
    H1 = torch.tanh(A1)  # (B, H)
    Z = H1 @ params["W2"].T + params["b2"]  # (B, C)
    P = torch.softmax(Z, dim=1)  # (B, C)
    log_P = torch.log_softmax(Z, dim=1)  # (B, C): Z - logsumexp(Z), finite where log(P) would be -inf
    loss = -log_P[torch.arange(len(y)), y].mean()
    return loss, {"X": X, "H1": H1, "P": P, "y": y}


def backward(params: dict[str, torch.Tensor], cache: dict) -> dict[str, torch.Tensor]:
    """Back-propagation by hand (the chain rule, equations in the module docstring). Returns ``dL/dparam`` for each.

    ``cache`` is the second value :func:`forward` returned for these ``params``.
    """
    _check_params(params)
    if not isinstance(cache, dict) or not {"X", "H1", "P", "y"} <= set(cache):
        got = f"dict with keys {sorted(cache)}" if isinstance(cache, dict) else type(cache).__name__
        raise TypeError(f"cache must be the second value forward returns (loss, cache = mlp.forward(params, X, y)), "
                        f"got {got}")
    X, H1, P, y = cache["X"], cache["H1"], cache["P"], cache["y"]
    if (P.shape[1], H1.shape[1], X.shape[1]) != (params["W2"].shape[0], params["W1"].shape[0], params["W1"].shape[1]):
        raise ValueError(f"cache does not belong to these params (cache: X {tuple(X.shape)}, H1 {tuple(H1.shape)}, "
                         f"P {tuple(P.shape)}; W1 {tuple(params['W1'].shape)}, W2 {tuple(params['W2'].shape)}): "
                         "run forward with the same params first")
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

    ``f`` takes no argument and returns a scalar (a 0-d tensor or a number) computed from ``param``. ``max_entries``
    limits the work to the first entries (the rest stay 0); without it, a parameter of more than
    :data:`MAX_NUMERICAL_ENTRIES` entries is refused (two calls of ``f`` per entry could run for many minutes).

    Use float64: in float32 the rounding error of ``f`` divided by ``2 eps`` swamps the gradient; integer tensors are
    refused (``p + eps`` would round back to ``p``). ``param`` is restored even when ``f`` raises; a NaN or infinite
    ``f`` raises a ``ValueError``.
    """
    if not callable(f):
        raise TypeError(f"f must be a function of no arguments returning the loss, e.g. "
                        f"lambda: mlp.forward(params, X, y)[0]; got {type(f).__name__}")
    if not isinstance(param, torch.Tensor):
        raise TypeError(f"param must be the tensor f reads (changed in place), got {type(param).__name__}")
    if not param.is_floating_point():
        raise TypeError(f"param has dtype {param.dtype}: a finite difference needs a floating-point tensor "
                        f"(p + eps rounds back to p in an integer tensor); use param = param.double()")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a small positive number such as 1e-6, got {eps!r}")
    if max_entries is not None:
        max_entries = _check_size("max_entries", max_entries)
    elif param.numel() > MAX_NUMERICAL_ENTRIES:
        raise ValueError(f"param has {param.numel():,} entries: checking all of them calls f {2 * param.numel():,} "
                         f"times (more than {MAX_NUMERICAL_ENTRIES:,} entries is refused unless you ask for it). "
                         f"Check a sample with max_entries=100, or all with max_entries=param.numel()")
    grad = torch.zeros_like(param)
    n = param.numel() if max_entries is None else min(max_entries, param.numel())
    contiguous = param.is_contiguous()
    flat, gflat = (param.view(-1), grad.view(-1)) if contiguous else (None, None)

    def index(i):  # the i-th entry in row-major order, also for a transposed (non-contiguous) view
        if contiguous:
            return i
        position = []
        for size in reversed(param.shape):
            i, k = divmod(i, size)
            position.append(k)
        return tuple(reversed(position))

    def value() -> float:
        out = f()
        if isinstance(out, torch.Tensor):
            if out.numel() != 1:
                raise ValueError(f"f must return a scalar (the loss), got a tensor of shape {tuple(out.shape)}: "
                                 "reduce it, e.g. with .sum() or .mean()")
            return float(out)
        if isinstance(out, bool) or not isinstance(out, numbers.Real):
            raise TypeError(f"f must return a scalar (the loss), got {type(out).__name__}: did it forget to return?")
        return float(out)

    target, gtarget = (flat, gflat) if contiguous else (param, grad)
    with torch.no_grad():
        for i in range(n):
            k = index(i)
            old = float(target[k])
            try:
                target[k] = old + eps
                up = value()
                target[k] = old - eps
                down = value()
            finally:
                target[k] = old  # restored even when f raises
            if not (math.isfinite(up) and math.isfinite(down)):
                raise ValueError(f"f returned a non-finite value ({up} / {down}) when entry {i} of param was moved "
                                 f"by ±eps={eps}: the loss is not differentiable there")
            gtarget[k] = (up - down) / (2 * eps)
    return grad


def sgd_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], lr: float) -> None:
    """Gradient descent: ``θ ← θ - lr · dL/dθ`` for every parameter (in place).

    ``grads`` must have exactly the keys of ``params``, each of the same shape (no broadcasting), finite; ``lr`` a
    positive number. Everything is checked before anything changes, so a refused call leaves ``params`` as it was.
    Works on parameters that require grad too (the update runs under ``torch.no_grad()``).
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of tensors (as init_params returns), got {type(params).__name__}")
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict of tensors with the keys of params (as backward returns), "
                        f"got {type(grads).__name__}")
    if set(grads) != set(params):
        raise ValueError(f"grads must have the same keys as params {sorted(params)}, got {sorted(grads)}")
    if isinstance(lr, torch.Tensor) and lr.numel() == 1 and lr.is_floating_point():
        lr = float(lr)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr (the learning rate) must be a positive number such as 0.1, got {lr!r}")
    for name, p in params.items():
        g = grads[name]
        if not isinstance(p, torch.Tensor) or not isinstance(g, torch.Tensor):
            bad, value = ("params", p) if not isinstance(p, torch.Tensor) else ("grads", g)
            raise TypeError(f"{bad}[{name!r}] must be a tensor, got {type(value).__name__}")
        if g.shape != p.shape:
            raise ValueError(f"grads[{name!r}] has shape {tuple(g.shape)} but params[{name!r}] has "
                             f"{tuple(p.shape)}: a gradient has the shape of its parameter")
        if g.device != p.device:
            raise ValueError(f"grads[{name!r}] is on {g.device} but params[{name!r}] is on {p.device}")
        if not torch.isfinite(g).all():
            raise ValueError(f"grads[{name!r}] contains NaN or infinite values: the loss diverged (lower the "
                             f"learning rate) or the input holds NaN")
    with torch.no_grad():
        for name in params:
            params[name] -= lr * grads[name]


# ----------------------------------------------------------------------------------------------------------------------
# The same network with nn.Module
# ----------------------------------------------------------------------------------------------------------------------

def _check_activation(activation) -> None:
    """``activation`` must build a layer when called with no argument: a module class like ``nn.ReLU``, or a factory
    such as ``functools.partial(nn.LeakyReLU, 0.1)``."""
    if isinstance(activation, nn.Module):
        name = type(activation).__name__
        raise TypeError(f"activation must be a class such as nn.{name}, not an instance ({name}()): "
                        f"pass activation=nn.{name} without the parentheses (each layer builds its own)")
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return  # built in MLP.__init__ (not here: building one could draw from the random generator)
    if isinstance(activation, str):
        raise TypeError(f"activation must be a module class such as nn.ReLU or nn.Tanh, got the string "
                        f"{activation!r}")
    if not callable(activation):
        raise TypeError(f"activation must be a module class such as nn.ReLU, got {type(activation).__name__}")
    name = getattr(activation, "__name__", type(activation).__name__)
    try:
        made = activation()
    except TypeError:  # a function of the input, such as torch.relu
        made = None
    if not isinstance(made, nn.Module):
        raise TypeError(f"activation must be a module class such as nn.ReLU (called with no argument it builds a "
                        f"layer), got {name}, which is not one: use the module version, e.g. nn.ReLU for "
                        f"torch.relu or F.relu")


def _build_activation(activation) -> nn.Module:
    try:
        return activation()
    except TypeError as exc:  # a class whose constructor needs arguments, e.g. nn.Threshold
        name = getattr(activation, "__name__", repr(activation))
        raise TypeError(f"activation {name} cannot be built without arguments ({exc}): pass a factory such as "
                        f"functools.partial({name}, ...)") from exc


class MLP(nn.Module):
    """A multi-layer perceptron for images: flatten -> [Linear -> activation] * len(hidden) -> Linear (logits).

    ``hidden`` is a tuple of widths (``(256,)`` for one hidden layer; a bare int is refused with that fix);
    ``activation`` a module class such as ``nn.ReLU`` (not an instance ``nn.ReLU()``: each layer builds its own).
    Input: a batch ``(B, ...)`` of floating-point examples with ``d_in`` numbers each, e.g. ``(B, 28, 28)``.
    """

    def __init__(self, d_in: int = 784, hidden: tuple[int, ...] = (256, 128), classes: int = 10,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        d_in, classes = _check_size("d_in", d_in), _check_size("classes", classes)
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
            raise TypeError(f"hidden must be a tuple of layer widths, got the int {hidden!r}: "
                            f"for one hidden layer write hidden=({hidden},)")
        if not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden must be a tuple of layer widths such as (256, 128), got {type(hidden).__name__}")
        hidden = tuple(_check_size(f"hidden[{i}]", h) for i, h in enumerate(hidden))
        _check_activation(activation)
        widths = (d_in, *hidden, classes)
        _check_budget(sum(a * b + b for a, b in zip(widths, widths[1:])), "this MLP")
        layers: list[nn.Module] = [nn.Flatten()]
        width = d_in
        for h in hidden:
            layers += [nn.Linear(width, h), _build_activation(activation)]
            width = h
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor batch (B, ...), got {type(x).__name__}: "
                            "convert it with torch.as_tensor(x, dtype=torch.float32)")
        first = self.net[1].weight  # (width, d_in)
        d_in = first.shape[1]
        if x.ndim < 2:
            raise ValueError(f"x must be a batch (B, ...), got shape {tuple(x.shape)}: for one example use "
                             "x.unsqueeze(0)")
        features = math.prod(x.shape[1:])
        if features != d_in:
            one = f"(1, {', '.join(map(str, x.shape))})"
            hint = (f" That is one example: make it a batch of one with x.unsqueeze(0) (shape {one})."
                    if x.numel() == d_in else "")
            raise ValueError(f"x must be a batch (B, ...) of examples with d_in={d_in} numbers each, got shape "
                             f"{tuple(x.shape)} ({features} numbers per example).{hint}")
        if not x.is_floating_point():
            raise TypeError(f"x has dtype {x.dtype}, the model needs floating-point inputs ({first.dtype}). "
                            f"Raw pixel values 0..255? Scale them: x.float() / 255")
        if x.dtype != first.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the model's weights are {first.dtype}: convert x with "
                            f"x.to({first.dtype}) or the model with model.to({x.dtype})")
        if x.device != first.device:
            raise ValueError(f"x is on {x.device} but the model is on {first.device}: move it with "
                             f"x.to({str(first.device)!r})")
        return self.net(x)  # (B, classes)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in the model."""
    if not isinstance(model, nn.Module):
        hint = (" For the dict of init_params: sum(p.numel() for p in params.values())"
                if isinstance(model, dict) else "")
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}.{hint}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
