"""Auto-checked exercises. Each ``check_*`` prints whether an answer is right, with a hint when it is not.

An exercise a learner has not attempted yet (answer left as ``None``) prints "not attempted yet" and never raises, so a
notebook still runs top to bottom. The return value is ``True`` / ``False``, or ``None`` when not attempted.
"""
from __future__ import annotations

import math
import random
from typing import Callable

import numpy as np
import torch


def _not_attempted(name: str) -> None:
    print(f"{name}: not attempted yet (replace None with your answer and run the cell again)")
    return None


def _report(name: str, ok: bool, hint: str) -> bool:
    print(f"{name}: correct ✔" if ok else f"{name}: not yet ✘ hint: {hint}")
    return ok


def _number(value) -> float | None:
    """A finite real number from a float, int, numpy or one-element tensor; ``None`` for anything else (and ``True``)."""
    if isinstance(value, bool):  # True is not the number 1
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def _close(value, target: float, tol: float) -> bool:
    number = _number(value)
    return number is not None and abs(number - target) <= tol


# notebook 00 ----------------------------------------------------------------------------------------------------------
# From here on, each check tries an answer on fresh random inputs (an answer that fits one example does not pass), says
# what is wrong in a hint that points rather than solves, and never raises, whatever the learner's function does.

def _attempt(name: str, fn: Callable, *args):
    """``(True, fn(*args))``, or ``(False, report)`` when the learner's function raised (the report says how)."""
    try:
        return True, fn(*args)
    except Exception as exc:  # a learner's function may fail in any way; say how
        return False, _report(name, False, f"your function raised {type(exc).__name__}: {exc}")


def _returned_none(name: str, fn: Callable):
    """The template returns None and uses no names: not attempted. A function that computes something (it uses names
    such as ``torch``) and still returns None has most likely lost its ``return``."""
    code = getattr(fn, "__code__", None)
    if code is None or not code.co_names:
        return _not_attempted(name)
    return _report(name, False, "your function returned None: did you forget `return`?")


def check_tanh_slope_at_zero(value) -> bool | None:
    """Exercise 00.1: the slope of tanh at x = 0."""
    if value is None:
        return _not_attempted("Exercise 1")
    return _report("Exercise 1", _close(value, 1.0, 1e-3),
                   "pick tanh in the widget, move the x0 slider to 0 and read f'(x0).")


_SLOPE_CASES = (("sin", math.sin, math.cos), ("exp", math.exp, math.exp),
                ("tanh", math.tanh, lambda x: 1 - math.tanh(x) ** 2), ("x³", lambda x: x**3, lambda x: 3 * x**2))


def check_central_slope(fn: Callable | None) -> bool | None:
    """Exercise 00.2: ``fn(f, x, h)`` estimates f'(x) from values of f alone, to 1e-6 (relative) with h = 1e-4."""
    if fn is None:
        return _not_attempted("Exercise 2")
    rng = random.Random(random.SystemRandom().randrange(1 << 30))
    for name, f, slope in _SLOPE_CASES:
        x = rng.uniform(-2, 2)
        ran, got = _attempt("Exercise 2", fn, f, x, 1e-4)
        if not ran:
            return got
        if got is None:
            return _returned_none("Exercise 2", fn)
        got = _number(got)
        if got is None:
            return _report("Exercise 2", False, "return one number, the slope (a float)")
        error = abs(got - slope(x)) / max(1.0, abs(slope(x)))
        if error > 1e-6:
            hint = (f"for f = {name} at x = {x:.3f} you return {got:.8g}, the slope is {slope(x):.8g}. ")
            hint += ("Close, but not close enough: f(x+h) - f(x) over h leans towards one side of x; can you use "
                     "points on both sides?" if error < 1e-2 else
                     "Think of the straight line through two points of the curve, very close to x: what is its slope?")
            return _report("Exercise 2", False, hint)
    return _report("Exercise 2", True, "")


# notebook 01 ----------------------------------------------------------------------------------------------------------

def check_relu_backward(fn: Callable | None) -> bool | None:
    """Exercise 01.1: ``fn(grad_out, a)`` returns dL/da for ``h = relu(a)`` given ``grad_out = dL/dh``.

    A function that still returns ``None`` (the template) counts as not attempted.
    """
    if fn is None:
        return _not_attempted("Exercise 1")
    hint = "what is the slope of relu where a > 0, and where a < 0? The chain rule multiplies grad_out by it."
    g = _fresh_generator()
    for shape in ((5, 7), tuple(int(n) for n in torch.randint(1, 9, (2,), generator=g)), (4,)):
        a = torch.randn(*shape, dtype=torch.float64, generator=g)
        grad_out = torch.randn(*shape, dtype=torch.float64, generator=g)
        a_leaf = a.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(torch.relu(a_leaf), a_leaf, grad_out)
        ran, got = _attempt("Exercise 1", fn, grad_out.clone(), a.clone())
        if not ran:
            return got
        if got is None:
            return _returned_none("Exercise 1", fn)
        got = _as_float64(got)  # a float32 or numpy answer is judged on its values
        if got is None or got.shape != a.shape:
            return _report("Exercise 1", False, f"return a tensor shaped like a, {tuple(a.shape)}, got "
                                                f"{None if got is None else tuple(got.shape)}")
        if not torch.allclose(got, expected, atol=1e-6):
            return _report("Exercise 1", False, hint)
    return _report("Exercise 1", True, hint)


def check_tilted_bowl_learning_rate(value) -> bool | None:
    """Exercise 01.2: the largest stable learning rate of gradient descent on f(w) = ½ wᵀAw, A = [[3, 1], [1, 3]]."""
    if value is None:
        return _not_attempted("Exercise 2")
    number = _number(value)
    hint = ("the bowl is tilted, so the steep direction is not an axis: find the directions that gradient descent "
            "treats separately (torch.linalg.eigh(A)), then use section 2's rule in each.")
    if number is not None and abs(number - 2 / 3) < 1e-3:
        hint = "2/3 reads the curvature off the diagonal, A[i, i] = 3; the tilt (the off-diagonal 1) changes it. " + hint
    elif number is not None and abs(number - 1.0) < 1e-3:
        hint = "at that rate the flat direction is fine, but what happens along the steep one?"
    return _report("Exercise 2", number is not None and abs(number - 0.5) <= 1e-3, hint)


def check_small_mlp(model, X_test, y_test) -> bool | None:
    """Exercise 01.3 (experiment): a model with at most 50,000 parameters and at least 86% test accuracy.

    The check counts the parameters and measures the accuracy on the 10,000 test images itself.
    """
    if model is None:
        return _not_attempted("Exercise 3")
    if not isinstance(model, torch.nn.Module):
        return _report("Exercise 3", False, f"give the check your trained model (an nn.Module), not a "
                                            f"{type(model).__name__}")
    if not (isinstance(X_test, torch.Tensor) and isinstance(y_test, torch.Tensor) and len(y_test) == 10_000
            and len(X_test) == 10_000):
        return _report("Exercise 3", False, "pass section 3's whole test set, X_test and y_test (10,000 images)")
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_params > 50_000:
        return _report("Exercise 3", False, f"your model has {n_params:,} parameters, more than 50,000: how many "
                                            "does a 784 -> h -> 10 network have, as a function of h?")
    device = next(model.parameters()).device if n_params else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            predicted = torch.cat([model(X_test[k : k + 1000].to(device)).argmax(-1).cpu()
                                   for k in range(0, 10_000, 1000)])
    except Exception as exc:
        return _report("Exercise 3", False, f"the model raised {type(exc).__name__} on X_test: {exc}")
    finally:
        model.train(was_training)
    if predicted.shape != y_test.shape:
        return _report("Exercise 3", False, "the model must output one row of 10 class scores per image")
    accuracy = (predicted == y_test).double().mean().item()
    section_3 = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10  # 784 -> 256 -> 128 -> 10
    print(f"Exercise 3: {n_params:,} parameters, test accuracy {accuracy:.1%} (section 3's model has {section_3:,} "
          "parameters)")
    from .runtime import is_fast

    hint = ("below 86%: train it the way section 3 trained its model (same optimizer, schedule and number of passes), "
            "and use every parameter you are allowed.")
    if is_fast():
        hint = ("fast mode (COURSE_FAST=1) trains section 3's recipe for a few hundred steps only, too few for 86%: "
                "do this exercise in full mode.")
    return _report("Exercise 3", accuracy >= 0.86, hint)


# notebooks 02-04: recurrent networks ------------------------------------------------------------------------------------

def _int_answer(value) -> int | None:
    """A count given as an int (or a float, numpy or one-element tensor with a whole value); ``None`` for anything else:
    a fraction such as 235146.9, ``True``, infinity, a list or a string."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
        return int(number) if math.isfinite(number) and number == int(number) else None
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return None


def check_clip_by_global_norm(fn: Callable | None) -> bool | None:
    """Exercise 02.1: ``fn(grads, max_norm)`` returns the list of gradients rescaled as ``clip_grad_norm_`` does."""
    if fn is None:
        return _not_attempted("Exercise 1")
    gen = _fresh_generator()
    # clipped, left alone (the norm is below), clipped, and a step where every gradient is 0 (so is the norm)
    for max_norm, scale in ((1.0, 3.0), (50.0, 3.0), (0.3, 3.0), (1.0, 0.0)):
        shapes = [(3, 4), (4,)] + [tuple(int(n) for n in torch.randint(1, 6, (2,), generator=gen))]
        grads = [torch.randn(*s, dtype=torch.float64, generator=gen) * scale for s in shapes]
        expected = [g.clone() for g in grads]
        params = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(params, expected):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        ran, got = _attempt("Exercise 1", fn, [g.clone() for g in grads], max_norm)
        if not ran:
            return got
        if got is None:
            return _returned_none("Exercise 1", fn)
        got = [_as_float64(g) for g in got] if isinstance(got, (list, tuple)) else None
        if got is None or len(got) != len(grads) or any(g is None or g.shape != e.shape for g, e in zip(got, expected)):
            return _report("Exercise 1", False, "return a list with one tensor per gradient, each of its shape")
        if all(torch.allclose(g, e, atol=1e-9) for g, e in zip(got, expected)):
            continue
        total = torch.sqrt(sum((g**2).sum() for g in grads)).item()
        if total == 0:
            hint = "when every gradient is 0, return zeros (and never divide by a zero norm)"
        elif total <= max_norm:
            hint = (f"here the gradients' norm is {total:.3g}, below max_norm = {max_norm}: clipping must leave them "
                    "as they are")
        elif all(torch.allclose(g, e_g * min(1.0, max_norm / e_g.norm().item()), atol=1e-9)
                 for g, e_g in zip(got, grads)):
            hint = ("you clipped each tensor on its own; the norm is of ALL the gradients together, as one long "
                    "vector, and every tensor gets the same factor")
        else:
            hint = "the norm of all gradients together is sqrt(sum of all squares); scale everything by max_norm / norm"
        return _report("Exercise 1", False, hint)
    return _report("Exercise 1", True, "")


def _bigram_reference(ids: torch.Tensor, V: int) -> torch.Tensor:
    counts = torch.zeros(V, V, dtype=torch.float64)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1, dtype=torch.float64), accumulate=True)
    return torch.log((counts + 1) / (counts + 1).sum(1, keepdim=True))


def check_bigram(fn: Callable | None, train_ids=None, val_ids=None, vocab_size: int | None = None,
                 rnn_loss: float | None = None) -> bool | None:
    """Exercise 02.2: ``fn(ids, V)`` -> (V, V) log P(next = b | previous = a), add-one smoothed, rows = previous.

    With the notebook's ``train_ids``, ``val_ids`` and vocabulary size, also prints the bigram's held-out loss (next to
    ``rnn_loss``, the RNN's, in the same unit).
    """
    if fn is None:
        return _not_attempted("Exercise 2")
    gen = _fresh_generator()
    for V, n in ((3, 12), (int(torch.randint(4, 9, (1,), generator=gen)), 200)):
        ids = torch.randint(V, (n,), generator=gen)
        ids[:3] = torch.tensor([0, 1, 0])  # one pair seen twice... and (V-1, 0) never seen
        expected = _bigram_reference(ids, V)
        ran, got = _attempt("Exercise 2", fn, ids.clone(), V)
        if not ran:
            return got
        if got is None:
            return _returned_none("Exercise 2", fn)
        got = _as_float64(got)
        if got is None or got.shape != (V, V):
            return _report("Exercise 2", False, f"return a ({V}, {V}) tensor: row a, column b holds "
                                                "log P(next = b | previous = a)")
        if torch.allclose(got, expected, atol=1e-6):
            continue
        if torch.isinf(got).any():
            hint = "some pairs never occur, and log 0 = -inf: add one to every count before you normalise"
        elif torch.allclose(got, expected.exp(), atol=1e-6):
            hint = "those are the probabilities; return their logarithms"
        elif torch.allclose(got.exp().sum(0), torch.ones(V, dtype=torch.float64), atol=1e-6):
            hint = "each ROW (one previous character) must sum to one over the next characters; yours sum by column"
        else:
            hint = ("count each pair (previous, next) of neighbours, add one to every count, and divide each row by "
                    "its sum")
        return _report("Exercise 2", False, hint)
    if train_ids is not None and val_ids is not None and vocab_size is not None:
        ran, log_p = _attempt("Exercise 2", fn, train_ids, int(vocab_size))
        if not ran:
            return log_p
        log_p = _as_float64(log_p)
        loss = -log_p[val_ids[:-1], val_ids[1:]].mean().item()
        rnn = _number(rnn_loss)
        print(f"Exercise 2: the bigram model's held-out loss is {loss:.3f} nats/char"
              + (f"; the RNN's is {rnn:.3f} nats/char" if rnn is not None else ""))
    return _report("Exercise 2", True, "")


def check_gradient_decay_rate(value) -> bool | None:
    """Exercise 02.3: the a in W_hh = a·Q (Q orthogonal, linear RNN) that shrinks the gradient 1000x over 20 steps."""
    if value is None:
        return _not_attempted("Exercise 3")
    number = _number(value)
    target = 10 ** (-3 / 20)
    hint = ("how much does ONE step back multiply the gradient's norm by, with W_hh = a·Q? Then twenty steps; then "
            "solve for a.")
    if number is not None and abs(number - 1 / target) < 5e-3:
        hint = "that makes the gradient 1000 times LARGER: a ** 20 must equal 1/1000."
    return _report("Exercise 3", number is not None and abs(number - target) <= 5e-3, hint)


def _lstm_count(D: int, H: int, layers: int, bidirectional: bool) -> int:
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        d_in = D if layer == 0 else H * directions
        total += directions * 4 * (H * d_in + H * H + 2 * H)
    return total


def check_lstm_parameter_count(fn: Callable | None) -> bool | None:
    """Exercise 03.1: ``fn(input_size, hidden_size, num_layers, bidirectional)`` = parameters of that ``nn.LSTM``."""
    if fn is None:
        return _not_attempted("Exercise 1")
    gen = _fresh_generator()
    cases = [(64, 512, 1, False), (3, 5, 2, False), (4, 6, 2, True), (7, 3, 3, True)]
    cases += [(int(d), int(h), int(n), bool(b)) for d, h, n, b in torch.randint(1, 9, (3, 4), generator=gen)
              .tolist() for b in [b % 2]]
    for D, H, layers, bidirectional in cases:
        ran, got = _attempt("Exercise 1", fn, D, H, layers, bidirectional)
        if not ran:
            return got
        if got is None:
            return _returned_none("Exercise 1", fn)
        target = _lstm_count(D, H, layers, bidirectional)
        if _int_answer(got) == target:
            continue
        where = f"nn.LSTM({D}, {H}, num_layers={layers}, bidirectional={bidirectional}) has {target:,}; you say {got}."
        if layers == 1 and not bidirectional:
            hint = "how many weight matrices and bias vectors does each of the four gates have?"
        elif _int_answer(got) == (2 if bidirectional else 1) * layers * 4 * (H * D + H * H + 2 * H):
            hint = "what does the second layer read? Not the input x."
        elif bidirectional and _int_answer(got) == sum(2 * 4 * (H * (D if k == 0 else H) + H * H + 2 * H)
                                                       for k in range(layers)):
            hint = "a bidirectional layer outputs both directions' states, side by side: what size is that?"
        else:
            hint = "count one direction of one layer first, then ask what changes for the next layer and the other direction."
        return _report("Exercise 1", False, where + " Hint: " + hint)
    return _report("Exercise 1", True, "")


def check_forget_bias_for_reach(value) -> bool | None:
    """Exercise 03.2: the forget bias b with sigma(b) ** 100 = 0.1."""
    if value is None:
        return _not_attempted("Exercise 2")
    number = _number(value)
    target = math.log(0.1 ** 0.01 / (1 - 0.1 ** 0.01))
    hint = ("first find the forget gate f with f ** 100 = 0.1, then the b with sigmoid(b) = f (the inverse of the "
            "sigmoid is log(f / (1 - f)), the logit).")
    if number is not None and 0 < number < 1:
        hint = "that looks like the gate value f itself; the exercise asks for the bias b with sigmoid(b) = f."
    return _report("Exercise 2", number is not None and abs(number - target) <= 0.02, hint)


def _cifg_reference(x, h, c, W_ih, W_hh, b_ih, b_hh):
    f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(3, dim=-1)
    f, g, o = torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_t = f * c + (1 - f) * g
    return o * torch.tanh(c_t), c_t


def check_cifg_step(fn: Callable | None) -> bool | None:
    """Exercise 03.3: one step of an LSTM with coupled input and forget gates (i = 1 - f): ``fn(x, h, c, W_ih, W_hh,
    b_ih, b_hh)`` -> ``(h_t, c_t)``; W_ih (3H, D) and W_hh (3H, H) stack the blocks f, g, o in that order."""
    if fn is None:
        return _not_attempted("Exercise 3")
    gen = _fresh_generator()
    for B, D, H in [(2, 3, 4)] + [tuple(int(n) for n in torch.randint(1, 7, (3,), generator=gen)) for _ in range(2)]:
        args = [torch.randn(*s, dtype=torch.float64, generator=gen)
                for s in ((B, D), (B, H), (B, H), (3 * H, D), (3 * H, H), (3 * H,), (3 * H,))]
        h_t, c_t = _cifg_reference(*args)  # computed before the learner's function sees (copies of) the inputs
        ran, got = _attempt("Exercise 3", fn, *(a.clone() for a in args))
        if not ran:
            return got
        if got is None:
            return _returned_none("Exercise 3", fn)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return _report("Exercise 3", False, "return the pair (h_t, c_t)")
        h_got, c_got = _as_float64(got[0]), _as_float64(got[1])
        if h_got is None or c_got is None or h_got.shape != (B, H) or c_got.shape != (B, H):
            return _report("Exercise 3", False, f"h_t and c_t must both have shape (B, H) = ({B}, {H})")
        if torch.allclose(h_got, h_t, atol=1e-6) and torch.allclose(c_got, c_t, atol=1e-6):
            continue
        if torch.allclose(c_got, h_t, atol=1e-6) and torch.allclose(h_got, c_t, atol=1e-6):
            return _report("Exercise 3", False, "you return (c_t, h_t); the order is (h_t, c_t), as nn.LSTM's")
        if torch.allclose(c_got, c_t, atol=1e-6):
            return _report("Exercise 3", False, "c_t is right; h_t is not: which gate reads the cell out, and is "
                                                "the cell squashed first?")
        return _report("Exercise 3", False, "c_t is wrong: the blocks are f, g, o in that order (one chunk each), "
                                            "and the input gate is no longer learned: what is it, given f?")
    return _report("Exercise 3", True, "")


def _gru_weights(gen, B, D, H):
    return [torch.randn(*s, dtype=torch.float64, generator=gen) * 0.7
            for s in ((B, D), (B, H), (3 * H, D), (3 * H, H), (3 * H,), (3 * H,))]


def _gru_step(x, h, W_ih, W_hh, b_ih, b_hh, cho: bool):
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
    W_hr, W_hz, W_hn = W_hh.chunk(3, dim=0)
    b_hr, b_hz, b_hn = b_hh.chunk(3)
    r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
    n = torch.tanh(x_n + ((r * h) @ W_hn.T + b_hn if cho else r * (h @ W_hn.T + b_hn)))
    return (1 - z) * n + z * h


def check_cho_gru_step(fn: Callable | None) -> bool | None:
    """Exercise 04.1: Cho et al.'s GRU candidate (r applied to h BEFORE the product with W_hn), in nn.GRU's layout:
    ``fn(x, h, W_ih, W_hh, b_ih, b_hh)`` -> h_t, blocks r, z, n."""
    if fn is None:
        return _not_attempted("Exercise 1")
    gen = _fresh_generator()
    largest = 0.0
    for B, D, H in [(2, 3, 4)] + [tuple(int(n) for n in torch.randint(1, 7, (3,), generator=gen)) for _ in range(2)]:
        args = _gru_weights(gen, B, D, H)
        cho, pytorch = _gru_step(*args, cho=True), _gru_step(*args, cho=False)
        ran, got = _attempt("Exercise 1", fn, *(a.clone() for a in args))
        if not ran:
            return got
        if got is None:
            return _returned_none("Exercise 1", fn)
        got = _as_float64(got)
        if got is None or got.shape != (B, H):
            return _report("Exercise 1", False, f"return h_t, shape (B, H) = ({B}, {H})")
        if torch.allclose(got, cho, atol=1e-6):
            largest = max(largest, (cho - pytorch).abs().max().item())
            continue
        if torch.allclose(got, pytorch, atol=1e-6):
            hint = "that is nn.GRU's own step: there r multiplies W_hn h + b_hn. Where does Cho put r?"
        else:
            hint = ("compute r and z exactly as nn.GRU does (blocks r, z, n of W_ih, W_hh and the biases); only the "
                    "candidate n changes, and PyTorch's h_t = (1 - z)·n + z·h stays")
        return _report("Exercise 1", False, hint)
    print(f"Exercise 1: on the same weights your Cho GRU and nn.GRU's step differ by up to {largest:.3f}")
    return _report("Exercise 1", True, "")


def check_adding_experiment(model, history=None, length: int = 200, threshold: float = 0.01,
                            max_steps: int = 400) -> bool | None:
    """Exercise 04.2 (experiment): held-out MSE at most ``threshold`` on adding-problem sequences of ``length`` that no
    training uses (the check draws them), after at most ``max_steps`` training steps at that length (``history``: the
    :class:`train.History` of the training at ``length``; steps at shorter lengths are free)."""
    if model is None:
        return _not_attempted("Exercise 2")
    if not isinstance(model, torch.nn.Module):
        return _report("Exercise 2", False, f"give the check your trained model (an nn.Module), not a "
                                            f"{type(model).__name__}")
    from . import adding
    from .train import History

    try:
        with torch.no_grad():
            model(adding.heldout(length, n=2)[0])
    except Exception as exc:
        return _report("Exercise 2", False, f"the model raised {type(exc).__name__} on x of shape (2, {length}, 2): "
                                            f"{exc}")
    try:
        mse = adding.heldout_mse(model, length)
    except ValueError as exc:  # the output's shape
        return _report("Exercise 2", False, str(exc))
    print(f"Exercise 2: held-out MSE at T = {length}: {mse:.4f} (the levels: 1/6 = 0.167 learned nothing, 1/12 = "
          f"0.083 only the second number)")
    if not isinstance(history, History):
        return _report("Exercise 2", False, f"also give the check the History of your training at T = {length} "
                                            "(train.fit returns it), so that it can count the steps")
    steps = len(history.steps)
    if steps > max_steps:
        return _report("Exercise 2", False, f"you trained {steps} steps at T = {length}; the budget is {max_steps}. "
                                            "Spend your steps where learning is cheap.")
    print(f"Exercise 2: {steps} training steps at T = {length} (budget {max_steps})")
    return _report("Exercise 2", mse <= threshold, f"not yet below {threshold}: see the hints above the cell.")


def check_adding_levels(value) -> bool | None:
    """Exercise 04.3: (MSE of predicting the mean, MSE knowing only the second number) for values uniform in [-1, 1)."""
    if value is None:
        return _not_attempted("Exercise 3")
    try:  # a tuple, a list, a numpy array or a tensor of two numbers
        items = list(value.tolist() if hasattr(value, "tolist") else value) if not isinstance(value, str) else None
    except TypeError:
        items = None
    pair = [_number(v) for v in items] if items is not None and len(items) == 2 else None
    if pair is None or None in pair:
        return _report("Exercise 3", False, "answer with a pair of numbers, (mean_only, one_number)")
    hint = ("both levels are variances: of a + b for the first, of the number you do not know for the second. What is "
            "the variance of a number uniform on an interval of length L?")
    if abs(pair[0] - 1 / 6) < 1e-3:
        hint = "those are the levels for numbers in [0, 1); here the interval is twice as long. " + hint
    ok = abs(pair[0] - 2 / 3) <= 2e-3 and abs(pair[1] - 1 / 3) <= 2e-3
    return _report("Exercise 3", ok, hint)


# notebook 05: attention ------------------------------------------------------------------------------------------------
# These checks diagnose what is wrong with an answer (the graded hints and the solution are folded in the notebook).
# Each one tries the answer on several fresh random inputs, so an answer that only fits one example does not pass.

def _as_float64(value):
    """A learner's tensor or array as a float64 tensor, or None when it is not numeric."""
    try:
        return torch.as_tensor(value).detach().to(torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _fresh_generator() -> torch.Generator:
    """New random inputs on every call, without touching the notebook's seeded global generator."""
    return torch.Generator().manual_seed(random.SystemRandom().randrange(1 << 30))


def check_additive_scores(fn: Callable | None) -> bool | None:
    """Exercise 05.1: ``fn(q, K, W_q, W_k, v)`` returns the additive scores ``e_j = v^T tanh(W_q q + W_k k_j)`` of
    one query ``q (d_q,)`` against every key (the rows of ``K (T, d_k)``), as a ``(T,)`` tensor, without a loop."""
    name = "Exercise 1"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    for T, d_q, d_k, h in ((5, 4, 3, 6), (1, 2, 2, 1), (9, 3, 7, 5)):
        q, K = torch.randn(d_q, dtype=torch.float64, generator=g), torch.randn(T, d_k, dtype=torch.float64, generator=g)
        W_q, W_k = (torch.randn(h, d, dtype=torch.float64, generator=g) for d in (d_q, d_k))
        v = torch.randn(h, dtype=torch.float64, generator=g)
        expected = torch.stack([v @ torch.tanh(W_q @ q + W_k @ k) for k in K])  # the definition, one key at a time
        try:
            got = fn(q.clone(), K.clone(), W_q.clone(), W_k.clone(), v.clone())
        except Exception as exc:  # a learner's function may fail in any way; say how
            return _report(name, False, f"your function raised {type(exc).__name__}: {exc} (T={T} keys of size {d_k}, "
                                        f"a query of size {d_q}, hidden size {h})")
        if got is None:
            return _not_attempted(name)
        got = _as_float64(got)
        if got is None:
            return _report(name, False, "return a tensor of scores, one per key")
        if got.shape != (T,):
            return _report(name, False, f"for T={T} keys the scores must have shape ({T},), got {tuple(got.shape)}; "
                                        "with keys as rows, K @ W_k.T has one row per key")
        if torch.allclose(got, torch.softmax(expected, 0), atol=1e-6):
            return _report(name, False, "these are the weights (after a softmax); return the scores e_j before it")
        if not torch.allclose(got, expected, atol=1e-6):
            return _report(name, False, f"wrong scores for T={T}, d_q={d_q}, d_k={d_k}, hidden {h}: compare with the "
                                        "loop of section 3 on the same inputs")
    return _report(name, True, "")


def check_causal_mask(fn: Callable | None) -> bool | None:
    """Exercise 05.2: ``fn(T)`` -> the ``(T, T)`` boolean mask (True = may not attend) that lets query ``i`` see only
    keys ``0..i``: a decoder reading its own outputs may not look at the future."""
    name = "Exercise 2"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    for T in (int(torch.randint(5, 30, (1,), generator=g)), 4, 1):  # the largest first: its hint says most
        expected = torch.ones(T, T, dtype=torch.bool).triu(1)
        try:
            got = fn(T)
        except Exception as exc:  # a learner's function may fail in any way; say how
            return _report(name, False, f"your function raised {type(exc).__name__}: {exc} (T={T})")
        if got is None:
            return _not_attempted(name)
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
            kind = got.dtype if isinstance(got, torch.Tensor) else type(got).__name__
            return _report(name, False, f"return a torch.bool tensor, got {kind}")
        if got.shape != (T, T):
            return _report(name, False, f"expected shape ({T}, {T}) (queries × keys), got {tuple(got.shape)}")
        if T > 1 and torch.equal(got, ~expected):
            return _report(name, False, "the mask is inverted: True means may NOT attend, as in nn.MultiheadAttention")
        if T > 1 and torch.equal(got, expected.T):
            return _report(name, False, "rows are queries and columns keys: query i may see keys 0..i, not i..T-1")
        if T > 1 and torch.equal(got, torch.ones(T, T, dtype=torch.bool).triu(0)):
            return _report(name, False, "a query may look at its own position: only keys after it are hidden")
        if not torch.equal(got, expected):
            return _report(name, False, f"wrong positions for T={T}: entry (i, j) is True exactly when key j comes "
                                        "after query i")
    return _report(name, True, "")


def check_dot_score_experiment(model, src_vocab, tgt_vocab) -> bool | None:
    """Exercise 05.3: a date model trained with ``attention="dot"``; the check measures its exact match on 500
    held-out dates itself and accepts 90% or more."""
    name = "Exercise 3"
    if model is None:
        return _not_attempted(name)
    from . import data, seq2seq

    attention = getattr(getattr(model, "config", None), "attention", "not a Seq2Seq")
    if attention != "dot":
        return _report(name, False, f"the model must be a seq2seq.Seq2Seq with attention='dot', got {attention!r}")
    try:
        src, tgt = seq2seq.encode_pairs(data.date_task(500, seed=2026, split="test"), src_vocab, tgt_vocab)
        exact = seq2seq.decode_accuracy(model, src.to(next(model.parameters()).device),
                                        tgt.to(next(model.parameters()).device))["exact"]
    except Exception as exc:  # a wrong vocabulary or a broken model: say what happened
        return _report(name, False, f"evaluating your model raised {type(exc).__name__}: {exc}")
    print(f"{name}: your dot-score model gets {exact:.1%} exact match on 500 held-out dates")
    return _report(name, exact >= 0.9, "train it for as many steps as the additive model had, with the same learning "
                                       "rate; compare the two loss curves")


# notebook 06: the Transformer ----------------------------------------------------------------------------------------
# As for 05: fresh random sizes on every call, so an answer that fits one example does not pass.

def _mha_reference(x, W_q, W_k, W_v, W_o, h, *, scale: str = "d_k", use_W_o: bool = True, split: str = "heads",
                   softmax_dim: int = -1) -> torch.Tensor:
    """Multi-head self-attention without biases, and the mistakes a learner can make in it (for the hints)."""
    B, T, d = x.shape
    d_k = d // h

    def heads(t):  # (B, T, d) -> (B, h, T, d_k)
        if split == "heads":
            return t.view(B, T, h, d_k).transpose(1, 2)  # head i: columns i*d_k .. (i+1)*d_k - 1
        return t.reshape(B, h, T, d_k)  # the mistake: a reshape that mixes positions into heads

    q, k, v = heads(x @ W_q.T), heads(x @ W_k.T), heads(x @ W_v.T)
    divide = {"d_k": math.sqrt(d_k), "d_model": math.sqrt(d), "none": 1.0}[scale]
    weights = torch.softmax(q @ k.transpose(-2, -1) / divide, dim=softmax_dim)  # (B, h, T, T)
    out = (weights @ v).transpose(1, 2).reshape(B, T, d)  # concatenate the heads: (B, T, d)
    return out @ W_o.T if use_W_o else out


def check_multi_head_attention(fn: Callable | None) -> bool | None:
    """Exercise 06.1: ``fn(x, W_q, W_k, W_v, W_o, h)`` -> multi-head self-attention of ``x (B, T, d_model)`` with
    ``h`` heads and no biases, ``(B, T, d_model)``; weights ``(d_model, d_model)`` as ``nn.Linear`` stores them
    (``x @ W_q.T``). Compared with ``nn.MultiheadAttention`` holding the same weights."""
    name = "Exercise 1"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    sizes = [(2, int(torch.randint(4, 9, (1,), generator=g)), 12, 3), (1, 6, 8, 2), (3, 5, 16, 4), (2, 3, 6, 1)]
    for B, T, d, h in sizes:
        x = torch.randn(B, T, d, dtype=torch.float64, generator=g)
        W = [torch.randn(d, d, dtype=torch.float64, generator=g) / math.sqrt(d) for _ in range(4)]
        torch_mha = torch.nn.MultiheadAttention(d, h, bias=False, batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            torch_mha.in_proj_weight.copy_(torch.cat(W[:3]))
            torch_mha.out_proj.weight.copy_(W[3])
            expected, _ = torch_mha(x, x, x, need_weights=False)
        where = f"(B={B}, T={T}, d_model={d}, h={h})"
        try:
            got = fn(x.clone(), *(w.clone() for w in W), h)
        except Exception as exc:  # a learner's function may fail in any way; say how
            return _report(name, False, f"your function raised {type(exc).__name__}: {exc} {where}")
        if got is None:
            return _not_attempted(name)
        if isinstance(got, (tuple, list)):
            return _report(name, False, "return the output as one tensor of shape (B, T, d_model), not a tuple or a "
                                        "list")
        got = _as_float64(got)
        if got is None:
            return _report(name, False, "return a tensor of shape (B, T, d_model)")
        if got.shape != (B, T, d):
            return _report(name, False, f"for x of shape {(B, T, d)} the output must have the same shape, got "
                                        f"{tuple(got.shape)}: the heads are concatenated back to d_model columns")
        if torch.allclose(got, expected, atol=1e-6):
            continue
        mistakes = [
            ({"scale": "none"}, "the scores are not scaled: divide Q K^T by sqrt(d_k) before the softmax"),
            ({"scale": "d_model"}, "divide by sqrt(d_k), the width of ONE head (d_model / h), not by sqrt(d_model)"),
            ({"use_W_o": False}, "after concatenating the heads, apply the output projection W_o"),
            ({"split": "reshape"}, "the heads are split wrongly: head i owns columns i*d_k .. (i+1)*d_k - 1 of every "
                                   "position; view (B, T, h, d_k), then move the heads axis before T"),
            ({"softmax_dim": -2}, "the softmax runs over the wrong axis: each query's weights over the KEYS sum to 1 "
                                  "(the last axis of the scores)"),
        ]
        for options, hint in mistakes:
            if torch.allclose(got, _mha_reference(x, *W, h, **options), atol=1e-6):
                return _report(name, False, f"{hint} {where}")
        if h > 1 and torch.allclose(got, _mha_reference(x, *W, 1), atol=1e-6):
            return _report(name, False, f"this is ONE attention over all d_model columns; split Q, K and V into h "
                                        f"heads of d_model / h columns each {where}")
        return _report(name, False, f"wrong output {where}: compare each head with scaled_dot_product_attention on "
                                    "its own columns of x @ W_q.T, x @ W_k.T and x @ W_v.T")
    return _report(name, True, "")


def check_encoder_layer_parameters(fn: Callable | None) -> bool | None:
    """Exercise 06.2: ``fn(d_model, dim_feedforward)`` -> the number of parameters of
    ``nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward)`` (biases included), for any sizes."""
    name = "Exercise 2"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    sizes = [(8 * int(torch.randint(2, 17, (1,), generator=g)), int(torch.randint(10, 300, (1,), generator=g))),
             (64, 256), (512, 2048), (4, 1)]
    for d, ff in sizes:
        layer = torch.nn.TransformerEncoderLayer(d, 1, ff, device="meta")  # sizes only: no memory is filled
        expected = sum(p.numel() for p in layer.parameters())
        try:
            got = fn(d, ff)
        except Exception as exc:  # a learner's function may fail in any way; say how
            return _report(name, False, f"your function raised {type(exc).__name__}: {exc} (d_model={d}, "
                                        f"dim_feedforward={ff})")
        if got is None:
            return _not_attempted(name)
        if isinstance(got, bool) or _int_answer(got) is None:
            return _report(name, False, f"return a whole number of parameters, got {got!r}")
        got = _int_answer(got)
        if got == expected:
            continue
        where = f"(d_model={d}, dim_feedforward={ff}: expected {expected:,}, got {got:,})"
        wrong = {expected - 4 * d: "the two LayerNorms have parameters too: a scale gamma and a shift beta each",
                 expected - d * d - d: "self-attention has FOUR d_model x d_model maps: W_q, W_k, W_v and the output "
                                       "projection W_o (each with a bias)",
                 expected - (4 * d + ff + d): "every nn.Linear has a bias: the four attention maps and the two "
                                              "feed-forward layers",
                 expected - (4 * d + ff + d) - 2 * d: "every nn.Linear and every LayerNorm has a bias (beta)"}
        if got in wrong:
            return _report(name, False, f"{wrong[got]} {where}")
        if expected - got in (d * ff, d * ff + ff, d * ff + d):  # one feed-forward layer counted
            return _report(name, False, f"the feed-forward network is two layers: W_1 (dim_feedforward, d_model) and "
                                        f"W_2 (d_model, dim_feedforward), plus their biases {where}")
        return _report(name, False, f"not the right count {where}: add attention (W_q, W_k, W_v, W_o and biases), "
                                    "feed-forward (W_1, b_1, W_2, b_2) and two LayerNorms (gamma, beta)")
    return _report(name, True, "")


def check_learned_positions_experiment(model, history=None, steps: int | None = None) -> bool | None:
    """Exercise 06.3: a ``transformer.Seq2SeqTransformer`` with ``positional="learned"`` trained on reversal (lengths
    1-20, notebook 05's data); the check measures its exact match on 500 fresh held-out sequences of length 1-20 itself
    and accepts 90% or more.

    ``history`` (the ``train.History`` that ``seq2seq.fit_model`` returned) lets the check print how many steps the
    model trained; with ``steps`` (section 5's budget) as well, a model trained for another number of steps is
    refused, since the comparison with section 5's models only means something at the same budget."""
    name = "Exercise 3"
    if model is None:
        return _not_attempted(name)
    from . import seq2seq
    from .transformer import Seq2SeqTransformer

    if not isinstance(model, Seq2SeqTransformer):
        return _report(name, False, f"give the check a transformer.Seq2SeqTransformer, got {type(model).__name__}")
    if model.config.positional != "learned":
        return _report(name, False, f"the model must use learned positions (TransformerConfig(..., "
                                    f"positional='learned')), got positional={model.config.positional!r}")
    vocab_size = len(seq2seq.reversal_vocab())
    if (model.config.src_vocab_size, model.config.tgt_vocab_size) != (vocab_size, vocab_size):
        return _report(name, False, f"this model's vocabularies have {model.config.src_vocab_size} and "
                                    f"{model.config.tgt_vocab_size} symbols; the reversal task's has {vocab_size} "
                                    "(seq2seq.reversal_vocab())")
    if history is not None:
        trained = getattr(history, "steps", None)
        if not isinstance(trained, list):
            return _report(name, False, f"history must be the train.History that s2s.fit_model returned, got "
                                        f"{type(history).__name__}")
        budget = f" (section 5's models: {steps})" if steps is not None else ""
        print(f"{name}: your model trained {len(trained)} steps{budget}")
        if steps is not None and len(trained) != steps:
            return _report(name, False, f"train for exactly {steps} steps at section 5's learning rate, as its models "
                                        "did: the comparison only means something at the same budget")
    try:
        src, tgt = seq2seq.reversal_data(500, 1, 20, seed=2026)
        device = next(model.parameters()).device
        exact = seq2seq.decode_accuracy(model, src.to(device), tgt.to(device))["exact"]
    except Exception as exc:  # a model too short for length 20, or broken: say what happened
        return _report(name, False, f"evaluating your model raised {type(exc).__name__}: {exc}")
    print(f"{name}: your model gets {exact:.1%} exact match on 500 held-out reversals of length 1-20")
    return _report(name, exact >= 0.9, "train it on the same data, steps and learning rate as the model with "
                                       "sinusoidal positions in section 5; only the positional encoding changes")


# notebook 07 ----------------------------------------------------------------------------------------------------------

def check_nucleus(fn: Callable | None) -> bool | None:
    """Exercise 07.1: ``fn(probs, p)`` -> top-p (nucleus) filtering of one distribution ``probs (V,)``: keep the most
    likely characters, in order of probability, until their probabilities sum to at least ``p``; give the others 0 and
    renormalise. Compared with :func:`course_lib.charlm.next_distribution` (``top_p=p``) on random distributions."""
    from .charlm import next_distribution

    name = "Exercise 1"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    cases = [(65, 0.9), (10, 0.5), (5, 1.0), (30, 0.05), (65, 0.75)]
    for V, p in cases:
        probs = torch.softmax(2 * torch.randn(V, dtype=torch.float64, generator=g), 0)  # (V,), no ties
        expected = next_distribution(probs.log(), 1.0, top_p=p)  # the library's nucleus
        try:
            got = fn(probs.clone(), p)
        except Exception as exc:  # a learner's function may fail in any way; say how
            return _report(name, False, f"your function raised {type(exc).__name__}: {exc} (V={V}, p={p})")
        if got is None:
            return _not_attempted(name)
        got = _as_float64(got)
        if got is None or got.shape != (V,):
            shape = None if got is None else tuple(got.shape)
            return _report(name, False, f"return one probability per character, shape ({V},), got {shape}")
        kept, expected_kept = int((got > 0).sum()), int((expected > 0).sum())
        if torch.allclose(got, expected, atol=1e-9):
            continue
        if abs(float(got.sum()) - 1) > 1e-6 and torch.equal(got > 0, expected > 0):
            return _report(name, False, f"the right characters are kept, but the result sums to {float(got.sum()):.3f}:"
                                        " renormalise what you keep so that it sums to 1")
        if kept == expected_kept - 1:
            return _report(name, False, f"one character too few (V={V}, p={p}): keep adding characters until the sum "
                                        "*reaches* p, so the character that crosses p is kept too")
        if kept == expected_kept and not torch.equal(got > 0, expected > 0):
            return _report(name, False, "the right number of characters, but not the most likely ones: sort the "
                                        "probabilities first (torch.sort(..., descending=True)) and map back")
        return _report(name, False, f"wrong distribution for V={V}, p={p}: you keep {kept} characters, the nucleus "
                                    f"has {expected_kept}. Sort, take the cumulative sum, keep a prefix, renormalise")
    return _report(name, True, "")


def _count_positions(prompt_len: int, n: int, block_size: int, use_cache: bool) -> int:
    """The positions ``GPT.generate`` feeds through the model, measured: a tiny GPT with a counter on its forward."""
    from .data import CharVocab
    from .gpt import GPT

    vocab = CharVocab.from_text("ab")
    torch.manual_seed(0)
    model = GPT(vocab_size=len(vocab), block_size=block_size, n_layer=1, n_head=1, n_embd=4)
    read = []
    hook = model.register_forward_pre_hook(lambda module, args: read.append(args[0].shape[1]))
    try:
        model.generate(vocab, "a" * prompt_len, n, temperature=0.0, use_cache=use_cache)
    finally:
        hook.remove()
    return sum(read)


def check_positions_read(fn: Callable | None) -> bool | None:
    """Exercise 07.2: ``fn(prompt_len, n, block_size, use_cache)`` -> how many positions (summed over its forward
    passes) ``GPT.generate`` feeds through the model to write ``n >= 1`` characters after a prompt of ``prompt_len``
    characters. The truth is measured: a tiny GPT's ``generate`` with a counter on ``forward``."""
    name = "Exercise 2"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    rand = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))  # noqa: E731
    cases = [(1, 7, 8), (3, 2, 8), (5, 20, 8), (8, 4, 8), (rand(1, 6), rand(10, 30), rand(6, 12))]
    for prompt_len, n, block in cases:
        for use_cache in (False, True):
            expected = _count_positions(prompt_len, n, block, use_cache)
            try:
                got = fn(prompt_len, n, block, use_cache)
            except Exception as exc:  # a learner's function may fail in any way; say how
                return _report(name, False, f"your function raised {type(exc).__name__}: {exc}")
            if got is None:
                return _not_attempted(name)
            got = _int_answer(got)
            if got == expected:
                continue
            case = f"prompt_len={prompt_len}, n={n}, block_size={block}, use_cache={use_cache}"
            fills = prompt_len + n - 1 > block
            if got is not None and abs(got - expected) == (1 if use_cache else min(prompt_len + n, block)):
                hint = "Look at the last character: once it is drawn, does generate run the model again?"
            elif use_cache and fills:
                hint = ("The window fills up here: read the docstring of GPT.generate on what happens to the cache "
                        "when the oldest character has to leave the window")
            elif not use_cache and fills:
                hint = "Without the cache each step re-reads the text, but never more than block_size characters"
            else:
                hint = ("Count the first forward pass (the whole prompt), then one pass per new character that is "
                        "fed back in")
            return _report(name, False, f"{got} positions for {case}; the model reads {expected}. {hint}")
    return _report(name, True, "")


def check_loss_by_position(fn: Callable | None, model, ids: torch.Tensor) -> bool | None:
    """Exercise 07.3: ``fn(model, ids, block_size)`` -> ``(block_size,)``: the mean held-out loss (nats) at each
    position ``t`` of the consecutive, non-overlapping blocks ``x = ids[i B : i B + B]``, ``y = ids[i B + 1 : i B + B
    + 1]`` (``B = block_size``; every whole block of ``ids``). Compared with the check's own measurement on the model
    it is given."""
    from torch.nn import functional as F

    from .data import lm_eval_batches
    from .train import eval_mode

    name = "Exercise 3"
    if fn is None:
        return _not_attempted(name)
    block = model.config.block_size
    try:
        got = fn(model, ids, block)
    except Exception as exc:  # a learner's function may fail in any way; say how
        return _report(name, False, f"your function raised {type(exc).__name__}: {exc}")
    if got is None:
        return _not_attempted(name)
    got = _as_float64(got)
    if got is None or got.shape != (block,):
        return _report(name, False, f"return one mean loss per position, shape ({block},), got "
                                    f"{None if got is None else tuple(got.shape)}")
    total = torch.zeros(block, dtype=torch.float64)
    count = 0
    device = next(model.parameters()).device
    with torch.no_grad(), eval_mode(model):
        for x, y in lm_eval_batches(ids, 64, block):
            logits = model(x.to(device))  # (b, T, V)
            losses = F.cross_entropy(logits.transpose(1, 2), y.to(device), reduction="none").cpu()  # (b, T)
            total += losses.double().sum(0)
            count += len(x)
    expected = total / count  # (T,)
    if torch.allclose(got, expected, atol=1e-4):
        print(f"{name}: loss at position 0: {float(expected[0]):.2f} nats, at position {block - 1}: "
              f"{float(expected[-1]):.2f} nats")
        return _report(name, True, "")
    if torch.allclose(got, expected.flip(0), atol=1e-4):
        return _report(name, False, "the order is reversed: entry t is the loss of the prediction made at position t")
    if torch.allclose(got, torch.full_like(expected, float(expected.mean())), atol=1e-4):
        return _report(name, False, "that is the mean over all positions: average over the blocks only, one value "
                                    "per position (reduction='none' keeps them apart)")
    if torch.allclose(got / math.log(2), expected, atol=1e-3) or torch.allclose(got * math.log(2), expected, atol=1e-3):
        return _report(name, False, "the check wants nats (natural logarithm), as F.cross_entropy gives")
    return _report(name, False, "wrong values: use every whole block of ids, side by side and not overlapping "
                                "(block i starts at i × block_size), and the loss of each prediction on its own")


# notebook 09: convolutions --------------------------------------------------------------------------------------------

def _receptive_field(layers) -> int:
    size, jump = 1, 1  # jump: input pixels between neighbouring positions of the current layer
    for k, s in layers:
        size += (k - 1) * jump
        jump *= s
    return size


def check_receptive_field(fn: Callable | None) -> bool | None:
    """Exercise 09.1: ``fn(layers)`` -> how many input pixels wide the patch is that one output pixel of the stack sees.
    ``layers``: a list of ``(kernel_size, stride)`` pairs, first layer first (convolutions and poolings alike).
    Tried on random stacks, and compared with a measurement: which input pixels move a centre output's gradient."""
    name = "Exercise 1"
    if fn is None:
        return _not_attempted(name)
    rng = random.Random(random.SystemRandom().randrange(1 << 30))
    cases = [[(3, 1)], [(3, 1), (3, 1)], [(3, 1), (2, 2), (3, 1), (2, 2)]]
    cases += [[(rng.choice([1, 2, 3, 5, 7]), rng.choice([1, 1, 2, 3])) for _ in range(rng.randint(2, 5))]
              for _ in range(6)]
    for layers in cases:
        ok, got = _attempt(name, fn, [tuple(layer) for layer in layers])
        if not ok:
            return got
        if got is None:
            return _returned_none(name, fn)
        expected = _receptive_field(layers)
        if _int_answer(got) == expected:
            continue
        strides_ignored = 1 + sum(k - 1 for k, _ in layers)
        if _int_answer(got) == strides_ignored and strides_ignored != expected:
            return _report(name, False, f"{layers}: {got} is right only when every stride is 1. After a layer with "
                                        "stride s, one step of the next layer moves s input pixels further")
        return _report(name, False, f"{layers}: the patch is {expected} pixels wide, you said {got!r}. Start from "
                                    "one output pixel and walk back to the input, one layer at a time")
    print(f"{name}: section 3's network, (3, 1), (2, 2), (3, 1), (2, 2): one pixel of its last feature map sees a "
          f"{_receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)])} x {_receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)])}"
          " patch of the image")
    return _report(name, True, "")


def check_avg_pool2d(fn: Callable | None) -> bool | None:
    """Exercise 09.2: ``fn(x, kernel_size)`` -> average pooling of ``x (B, C, H, W)`` over non-overlapping
    ``kernel_size x kernel_size`` windows (stride = kernel size; leftover rows and columns dropped), compared with
    ``F.avg_pool2d`` on random shapes, gradients included."""
    import torch.nn.functional as F

    name = "Exercise 2"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    for shape, k in [((2, 3, 8, 8), 2), ((1, 1, 9, 7), 3), ((2, 2, 5, 6), 2), ((1, 4, 6, 6), 1), ((3, 1, 4, 4), 4)]:
        x = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
        ok, got = _attempt(name, fn, x, k)
        if not ok:
            return got
        if got is None:
            return _returned_none(name, fn)
        expected = F.avg_pool2d(x, k)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            shape_got = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return _report(name, False, f"x of shape {shape}, kernel {k}: the output must have shape "
                                        f"{tuple(expected.shape)}, got {shape_got}. Leftover rows/columns are dropped")
        if torch.allclose(got.detach().double(), F.max_pool2d(x, k).detach(), atol=1e-9) and k > 1:
            return _report(name, False, "that is max pooling: average the window instead")
        if not torch.allclose(got.detach().double(), expected.detach(), atol=1e-9):
            return _report(name, False, f"wrong values for x of shape {shape}, kernel {k}: each output is the mean "
                                        "of its own k x k window, windows side by side, not overlapping")
        if not got.requires_grad:
            return _report(name, False, "the values are right, but no gradient flows back to x: compute with torch "
                                        "operations on x (no .detach(), .numpy() or .item())")
        (grad,) = torch.autograd.grad(got.double().sum(), x)
        (expected_grad,) = torch.autograd.grad(expected.sum(), x)
        if not torch.allclose(grad, expected_grad, atol=1e-9):
            return _report(name, False, "the values are right but the gradient is not")
    return _report(name, True, "")


_MYSTERY_KERNEL = torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])  # "emboss"


def mystery_convolution(image: torch.Tensor) -> torch.Tensor:
    """Exercise 09.3: ``image (H, W)`` convolved (padding 1) with a hidden 3 x 3 kernel; returns ``(H, W)``."""
    from .cnn import conv2d

    if not isinstance(image, torch.Tensor) or image.dim() != 2 or not image.is_floating_point():
        raise ValueError("image must be a 2-D float tensor (H, W), e.g. a crop of data.photo('camera')")
    with torch.no_grad():
        return conv2d(image[None, None], _MYSTERY_KERNEL.to(image.dtype)[None, None], padding=1)[0, 0]


def check_recovered_kernel(kernel) -> bool | None:
    """Exercise 09.3 (experiment): the hidden kernel of :func:`mystery_convolution`, recovered from an image and its
    output by gradient descent (or least squares); right to within 0.05 in every weight."""
    name = "Exercise 3"
    if kernel is None:
        return _not_attempted(name)
    got = _as_float64(kernel)
    if got is None or got.numel() != 9:
        return _report(name, False, "give the 3 x 3 kernel you learned, a tensor of 9 weights (e.g. shape (3, 3) "
                                    "or (1, 1, 3, 3))")
    got = got.reshape(3, 3)
    error = (got - _MYSTERY_KERNEL.double()).abs().max().item()
    if error <= 0.05:
        print(f"{name}: every weight within {error:.4f} of the hidden kernel. Look at it: what does it do to an "
              "edge? (It is called 'emboss'.)")
        return _report(name, True, "")
    if (got.flip(0, 1) - _MYSTERY_KERNEL.double()).abs().max().item() <= 0.05:
        return _report(name, False, "your kernel is the hidden one turned by 180°: conv2d does not flip the kernel, "
                                    "so learn it with conv2d itself (cross-correlation)")
    return _report(name, False, f"some weight is {error:.2f} away from the hidden kernel. Did the loss reach ~0? "
                                "If not, train longer or with a larger learning rate (the loss is a bowl with one "
                                "bottom). If it did, learn from the noise image: on a smooth photo very different "
                                "kernels give almost the same output")


# notebook 10: ResNet and batch normalisation -------------------------------------------------------------------------

def check_bottleneck_parameters(value) -> bool | None:
    """Exercise 10.1: parameters of ResNet-50's bottleneck block at 256 channels: 1x1 256->64, 3x3 64->64,
    1x1 64->256, convolutions without bias, each followed by batch norm (gamma and beta per channel)."""
    name = "Exercise 1"
    if value is None:
        return _not_attempted(name)
    weights = 256 * 64 + 64 * 64 * 9 + 64 * 256
    norms = 2 * (64 + 64 + 256)
    got = _int_answer(value)
    if got == weights + norms:
        two_3x3 = 2 * (256 * 256 * 9 + 2 * 256)
        print(f"{name}: the bottleneck has {got:,} parameters; two 3x3 convolutions at 256 channels (a basic block) "
              f"would have {two_3x3:,}, {two_3x3 / got:.0f}x more")
        return _report(name, True, "")
    if got == weights:
        return _report(name, False, "the convolutions are right; each batch normalisation adds two learned numbers per "
                                    "channel (the running mean and variance are statistics, not parameters)")
    if got == weights + 2 * norms:
        return _report(name, False, "the running mean and variance are buffers (statistics), not learned parameters")
    if got == weights + norms + 64 + 64 + 256:
        return _report(name, False, "these convolutions have no bias: batch normalisation's beta does that job")
    return _report(name, False, "count each layer: a k x k convolution from C_in to C_out channels has "
                                "C_in x C_out x k x k weights; then add the normalisations")


def check_fold_batch_norm(fn: Callable | None) -> bool | None:
    """Exercise 10.2: ``fn(conv, bn)`` -> one ``nn.Conv2d`` computing ``bn(conv(x))`` with ``bn`` in eval mode
    (running statistics), leaving ``conv`` and ``bn`` unchanged. Tried on random layers in float64."""
    from torch import nn

    name = "Exercise 2"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    for bias, stride, padding in [(False, 1, 1), (True, 2, 0), (False, 1, 0)]:
        conv = nn.Conv2d(3, 5, 3, stride, padding, bias=bias).double()
        bn = nn.BatchNorm2d(5).double()
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, dtype=torch.float64, generator=g))
            if bias:
                conv.bias.copy_(torch.randn(5, dtype=torch.float64, generator=g))
            bn.weight.copy_(torch.randn(5, dtype=torch.float64, generator=g))
            bn.bias.copy_(torch.randn(5, dtype=torch.float64, generator=g))
            bn.running_mean.copy_(torch.randn(5, dtype=torch.float64, generator=g))
            bn.running_var.copy_(torch.rand(5, dtype=torch.float64, generator=g) + 0.5)
        bn.eval()
        x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=g)
        with torch.no_grad():
            expected = bn(conv(x))
        before = [t.detach().clone() for t in (*conv.parameters(), *bn.parameters(), *bn.buffers())]
        ok, folded = _attempt(name, fn, conv, bn)
        if not ok:
            return folded
        if folded is None:
            return _returned_none(name, fn)
        after = [t.detach() for t in (*conv.parameters(), *bn.parameters(), *bn.buffers())]
        if any(not torch.equal(a, b) for a, b in zip(before, after)):
            return _report(name, False, "you changed conv or bn: build a new nn.Conv2d (with a bias) and fill it")
        if not isinstance(folded, nn.Conv2d):
            return _report(name, False, f"return one nn.Conv2d, got {type(folded).__name__}")
        try:
            with torch.no_grad():
                got = folded.double()(x)
        except Exception as exc:  # a learner's layer may fail in any way; say how
            return _report(name, False, f"your convolution raised {type(exc).__name__}: {exc}")
        if got.shape != expected.shape:
            return _report(name, False, f"output shape {tuple(got.shape)}, expected {tuple(expected.shape)}: keep the "
                                        "stride and padding of conv")
        if not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):  # a layer folded in float32 passes too
            if folded.bias is None:
                return _report(name, False, "the folded convolution needs a bias (bias=True): beta and the shift by the "
                                            "running mean end up there")
            return _report(name, False, "wrong values: in eval mode bn(u) = gamma * (u - mean) / sqrt(var + eps) + "
                                        "beta, one scale and one shift per output channel; scale that channel's "
                                        "weights, and fold the shift (and conv's own bias, if any) into the bias")
    return _report(name, True, "")


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def check_batch_norm_recalibration(fn: Callable | None, model, X_train, X_val, y_val) -> bool | None:
    """Exercise 10.3 (experiment): ``fn(model, batches)`` re-estimates every batch-norm layer's running statistics
    from ``batches`` (a list of image tensors) without changing a weight. The check breaks the statistics of a copy of
    ``model``, hands it to ``fn`` with 40 batches of 250 training images, and measures the held-out accuracy."""
    import copy

    name = "Exercise 3"
    if fn is None:
        return _not_attempted(name)
    if not callable(fn):
        return _report(name, False, f"give the check your function recalibrate(model, batches), not a "
                                    f"{type(fn).__name__}")
    if not isinstance(model, torch.nn.Module) or not _bn_layers(model):
        return _report(name, False, "pass the trained ResNet (a model with batch-norm layers) to the check")
    from .train import eval_mode

    def accuracy(m):
        with torch.no_grad(), eval_mode(m):
            return float(torch.cat([m(X_val[k : k + 1000]).argmax(1) for k in range(0, len(X_val), 1000)])
                         .eq(y_val).double().mean())

    code = getattr(fn, "__code__", None)
    if code is not None and not code.co_names:  # the template's body uses no names: nothing done yet
        return _not_attempted(name)
    reference = accuracy(model)
    broken = copy.deepcopy(model)
    for layer in _bn_layers(broken):  # statistics from some other data: mean 1, variance 4 everywhere
        layer.running_mean.fill_(1.0)
        layer.running_var.fill_(4.0)
    broken_accuracy = accuracy(broken)
    weights = [p.detach().clone() for p in broken.parameters()]
    g = _fresh_generator()
    order = torch.randperm(len(X_train), generator=g)[: 40 * 250]
    batches = [X_train[order[k : k + 250]] for k in range(0, len(order), 250)]
    ok, result = _attempt(name, fn, broken, batches)  # it changes the model in place; what it returns is not used
    if not ok:
        return result
    if any(not torch.equal(a, b.detach()) for a, b in zip(weights, broken.parameters())):
        return _report(name, False, "a weight changed: no optimizer and no backward pass, only forward passes "
                                    "(under torch.no_grad()) that let batch norm update its statistics")
    fixed = accuracy(broken)
    print(f"{name}: held-out accuracy with the trained statistics {reference:.2%}, with broken ones "
          f"{broken_accuracy:.2%}, after your recalibration {fixed:.2%}")
    if fixed >= reference - 0.01:
        return _report(name, True, "")
    if all(torch.equal(layer.running_mean, torch.ones_like(layer.running_mean)) for layer in _bn_layers(broken)):
        return _report(name, False, "the running statistics did not move: batch norm updates them only in train "
                                    "mode (model.train()), during a forward pass")
    return _report(name, False, "the statistics moved but not far enough: with momentum 0.1 the old (broken) values "
                                "linger. Reset them first (reset_running_stats()), and consider momentum=None, which "
                                "makes the running values plain averages over all batches")


# notebook 08 ----------------------------------------------------------------------------------------------------------

def _segment_reference(ids: list[int]) -> list[int]:
    from .bert import PAD_ID, SEP_ID

    segment, out = 0, []
    for token in ids:
        out.append(0 if token == PAD_ID else segment)
        if token == SEP_ID:
            segment = 1  # after the first [SEP]: segment B (the second [SEP] still belongs to B)
    return out


def check_segment_ids(fn: Callable | None) -> bool | None:
    """Exercise 08.1: ``fn(ids)`` gives the segment (token type) ids of ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``,
    possibly followed by ``[PAD]``: 0 up to and including the first ``[SEP]``, 1 after it, 0 for padding. Tried on
    fresh random inputs of every kind."""
    from .bert import CLS_ID, PAD_ID, SEP_ID

    name = "Exercise 1"
    if fn is None:
        return _not_attempted(name)
    if not callable(fn):
        return _report(name, False, f"give the check your function segment_ids(ids), not a {type(fn).__name__}")
    g = _fresh_generator()
    cases = []
    for pair in (False, True):
        for padding in (0, 3):
            a = torch.randint(5, 100, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g).tolist()
            b = torch.randint(5, 100, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g).tolist()
            ids = [CLS_ID, *a, SEP_ID] + ([*b, SEP_ID] if pair else []) + [PAD_ID] * padding
            cases.append((ids, "a pair" if pair else "one segment", padding))
    for ids, kind, padding in cases:
        ok, result = _attempt(name, fn, list(ids))
        if not ok:
            return result
        if result is None:
            return _returned_none(name, fn)
        try:
            got = [int(v) for v in (result.tolist() if hasattr(result, "tolist") else result)]
        except (TypeError, ValueError):
            return _report(name, False, f"return a list of integers (0 or 1), one per id; got {type(result).__name__}")
        expected = _segment_reference(ids)
        if len(got) != len(ids):
            return _report(name, False, f"return one segment id per token: {len(ids)} ids gave {len(got)} values")
        if got != expected:
            where = "the [PAD] positions" if got[: len(ids) - padding] == expected[: len(ids) - padding] else kind
            hint = {"the [PAD] positions": "padding belongs to no segment: BERT gives it type 0 (and the attention "
                                           "mask hides it anyway)",
                    "one segment": "with a single segment every real token is in segment A",
                    "a pair": "which segment does the [SEP] that closes A belong to? And the one that closes B?"}[where]
            return _report(name, False, f"{hint} (tried {kind}{' with padding' if padding else ''}: ids {ids})")
    return _report(name, True, "")


def _next_token_scores(encoder, tokenizer, texts) -> np.ndarray:
    """(layers, heads): the mean weight query t puts on key t + 1, averaged over t, then over the texts (a text is a
    string, or a pair of strings ``(a, b)`` encoded as ``[CLS] a [SEP] b [SEP]`` with its segment ids)."""
    scores = []
    for text in texts:
        encoding = tokenizer.encode(*text) if isinstance(text, tuple) else tokenizer.encode(text)
        with torch.no_grad():
            _, weights = encoder(torch.tensor([encoding.ids]), token_type_ids=torch.tensor([encoding.type_ids]))
        w = torch.stack(weights)[:, 0].double().numpy()  # (layers, heads, T, T)
        t = np.arange(w.shape[-1] - 1)
        scores.append(w[:, :, t, t + 1].mean(-1))
    return np.mean(scores, 0)


def check_next_token_head(answer, encoder, tokenizer, texts) -> bool | None:
    """Exercise 08.2: ``answer = (layer, head)`` of the MiniLM head that puts the most weight on the *next* token
    (query t on key t + 1), averaged over ``texts`` (strings, or pairs ``(a, b)``)."""
    name = "Exercise 2"
    if answer is None:
        return _not_attempted(name)
    try:
        layer, head = (int(v) for v in answer)
    except (TypeError, ValueError):
        return _report(name, False, f"give (layer, head), two integers, e.g. (2, 7); got {answer!r:.60}")
    scores = _next_token_scores(encoder, tokenizer, texts)
    L, H = scores.shape
    if not (0 <= layer < L and 0 <= head < H):
        return _report(name, False, f"the model has layers 0..{L - 1} and heads 0..{H - 1}; got ({layer}, {head})")
    best = scores.max()
    if scores[layer, head] >= best - 0.01:
        print(f"{name}: layer {layer}, head {head} puts {scores[layer, head]:.0%} of a query's weight on the next "
              f"token, on average")
        return _report(name, True, "")
    return _report(name, False, f"layer {layer}, head {head} puts {scores[layer, head]:.0%} on the next token; one "
                                "head puts much more. Score every head: the weight of query t on key t + 1, averaged "
                                "over t and over the sentences (the diagonal just above the main one)")


BLANK_RATES = (0.15, 0.3, 0.5, 0.8)


def check_blank_density(answer, model, windows: torch.Tensor, vocab_size: int) -> bool | None:
    """Exercise 08.3 (experiment): ``answer = {rate: accuracy}`` for every rate of ``BLANK_RATES``: the checkpoint's
    held-out accuracy when ``rate`` of the tokens are blanks (``bert.heldout_blanks(windows, V, rate)``). The check
    measures the same and accepts each value within 0.02."""
    from .bert import heldout_blanks, masked_accuracy

    name = "Exercise 3"
    if answer is None:
        return _not_attempted(name)
    if not isinstance(answer, dict):
        return _report(name, False, f"return a dict {{rate: accuracy}}, e.g. {{0.15: 0.3, ...}}; got "
                                    f"{type(answer).__name__}")
    missing = [r for r in BLANK_RATES if r not in answer]
    if missing:
        return _report(name, False, f"measure every rate of {BLANK_RATES}; missing {missing}")
    values = {r: _number(answer[r]) for r in BLANK_RATES}
    if any(v is None for v in values.values()):
        return _report(name, False, "each accuracy must be a number (a fraction between 0 and 1)")
    if any(v > 1 for v in values.values()):
        return _report(name, False, "give accuracies as fractions (0.25), not percentages (25)")
    measured = {r: masked_accuracy(model, *heldout_blanks(windows, vocab_size, rate=r)) for r in BLANK_RATES}
    wrong = [r for r in BLANK_RATES if abs(values[r] - measured[r]) > 0.02]
    if wrong:
        return _report(name, False, f"at rate {wrong[0]} the check measures a different accuracy: score the blanks "
                                    "only (labels != -100), with every blank shown as [MASK] (bert.heldout_blanks), on "
                                    "all the held-out windows")
    print(f"{name}: " + ", ".join(f"{r:.0%} blanks -> {measured[r]:.1%}" for r in BLANK_RATES))
    return _report(name, True, "")


# notebook 11 ----------------------------------------------------------------------------------------------------------

def _conv_flops_reference(batch, c_in, c_out, k, stride, padding, size) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    conv = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        conv(torch.zeros(batch, c_in, size, size))
    return counter.get_total_flops()


def check_conv_flops(fn: Callable | None) -> bool | None:
    """Exercise 11.1: ``fn(batch, c_in, c_out, k, stride, padding, size)`` returns the forward FLOPs of a ``k x k``
    ``nn.Conv2d`` on ``(batch, c_in, size, size)`` inputs, counted as ``FlopCounterMode`` does (a multiply-add = 2,
    no bias). Tried on random layers against ``FlopCounterMode`` itself."""
    name = "Exercise 1"
    if fn is None:
        return _not_attempted(name)
    rng = random.Random(random.SystemRandom().randrange(1 << 30))
    cases = [(2, 3, 8, 3, 1, 1, 10), (1, 4, 6, 5, 2, 0, 13)]
    cases += [(rng.randint(1, 4), rng.randint(1, 6), rng.randint(1, 6), rng.choice([1, 3, 5]), rng.choice([1, 2, 3]),
               rng.randint(0, 2), rng.randint(7, 16)) for _ in range(4)]
    for batch, c_in, c_out, k, stride, padding, size in cases:
        ran, got = _attempt(name, fn, batch, c_in, c_out, k, stride, padding, size)
        if not ran:
            return got
        if got is None:
            return _returned_none(name, fn)
        expected = _conv_flops_reference(batch, c_in, c_out, k, stride, padding, size)
        number = _number(got)
        if number != expected:
            out = (size + 2 * padding - k) // stride + 1
            layer = f"batch {batch}, {c_in} -> {c_out} channels, {k}x{k}, stride {stride}, padding {padding}, {size}x{size}"
            if number is not None and number * 2 == expected:
                hint = "a multiply-add counts as 2 FLOPs"
            elif number is not None and number == 2 * batch * c_out * size * size * c_in * k * k:
                hint = ("that is the count for an output as large as the input: how large is the output map with this "
                        "stride and padding? (notebook 09)")
            elif number is not None and out > 0 and number % (2 * batch * c_out * out * out) == 0:
                hint = "the output map's size is right; how many multiply-adds make one output number?"
            else:
                hint = ("one output number is a sum over C_in channels and k x k positions; how many output numbers "
                        "are there?")
            return _report(name, False, f"for {layer} you return {got!r}, FlopCounterMode counts {expected:,}: {hint}")
    return _report(name, True, "")


def check_per_row_quantization(fn: Callable | None) -> bool | None:
    """Exercise 11.2: ``fn(w)`` quantizes a ``(rows, cols)`` float matrix to int8 with one scale per row (symmetric):
    returns ``(q, s)``, ``q`` int8 of ``w``'s shape in [-127, 127], ``s`` of shape ``(rows,)``, with ``w ≈ s[:, None] *
    q`` to within half a step of each row, and each row's scale as small as its range allows (``max |row| / 127``)."""
    name = "Exercise 2"
    if fn is None:
        return _not_attempted(name)
    g = _fresh_generator()
    for rows, cols in [(6, 40), (int(torch.randint(2, 9, (1,), generator=g)), 17)]:
        scales = 10 ** torch.empty(rows, 1).uniform_(-3, 0, generator=g)  # rows of very different sizes
        w = torch.randn(rows, cols, generator=g) * scales
        ran, got = _attempt(name, fn, w.clone())
        if not ran:
            return got
        if got is None:
            return _returned_none(name, fn)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return _report(name, False, "return two things: (q, s)")
        q, s = got
        if not isinstance(q, torch.Tensor) or q.dtype != torch.int8 or q.shape != w.shape:
            return _report(name, False, f"q must be an int8 tensor of w's shape {tuple(w.shape)} (use .to(torch.int8) "
                                        f"after rounding), got "
                                        f"{q.dtype if isinstance(q, torch.Tensor) else type(q).__name__}")
        if not isinstance(s, torch.Tensor) or s.shape != (rows,):
            return _report(name, False, f"s must be a tensor with one scale per row, shape ({rows},), got "
                                        f"{tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__}")
        if q.min() < -127 or q.max() > 127:
            return _report(name, False, "q must stay in [-127, 127]")
        s = s.to(torch.float64)
        tight = w.abs().amax(1).double() / 127
        if not torch.allclose(s, tight, rtol=1e-4):
            return _report(name, False, "each row's scale should be the largest |w| of that row over 127: the row's "
                                        "largest weight then uses the full range of int8")
        error = (w.double() - s[:, None] * q.double()).abs()
        if (error > s[:, None] / 2 * (1 + 1e-4) + 1e-12).any():
            return _report(name, False, "some weights are off by more than half a step: round w / s to the nearest "
                                        "integer (torch.round) rather than truncating")
    return _report(name, True, "")


def check_pruning_sparsity(answer, model, X_val, y_val, grid_step: float = 0.05) -> bool | None:
    """Exercise 11.3 (experiment): the largest sparsity on the grid 0, 0.05, ..., 0.95 at which global magnitude
    pruning (``compress.prune_magnitude``) keeps ``model``'s accuracy on the validation images within 1 point of the
    unpruned model's. The check prunes at the answer and at every grid point above it."""
    from .compress import prune_magnitude
    from .train import eval_mode

    name = "Exercise 3"
    if answer is None:
        return _not_attempted(name)
    value = _number(answer)
    if value is None or not 0 <= value < 1:
        return _report(name, False, "answer with a sparsity: a fraction between 0 and 0.95, e.g. 0.35")
    if abs(value / grid_step - round(value / grid_step)) > 1e-6:
        return _report(name, False, f"pick the sparsity from the grid 0, {grid_step:g}, {2 * grid_step:g}, ..., 0.95")

    def correct(m) -> int:  # counted in images, so "within 1 point" has no rounding at the boundary
        with torch.no_grad(), eval_mode(m):
            return int(torch.cat([m(X_val[k : k + 1000]).argmax(1) for k in range(0, len(X_val), 1000)])
                       .eq(y_val).sum())

    n = len(y_val)
    full = correct(model)

    def within(c: int) -> bool:  # at most 1 point (1% of the images) below the unpruned model
        return 100 * (full - c) <= n

    at_answer = correct(prune_magnitude(model, value))
    if not within(at_answer):
        return _report(name, False, f"at sparsity {value:g} the validation accuracy is {at_answer / n:.2%}, more than 1 "
                                    f"point below the unpruned {full / n:.2%}: go lower")
    steps = round(value / grid_step)
    for k in range(steps + 1, round(0.95 / grid_step) + 1):
        if within(correct(prune_magnitude(model, k * grid_step))):
            return _report(name, False, f"{value:g} keeps the accuracy, but so does a larger sparsity on the grid: "
                                        "try higher")
    print(f"{name}: {value:.0%} of the weights removed, validation accuracy {at_answer / n:.2%} "
          f"(unpruned {full / n:.2%})")
    return _report(name, True, "")
