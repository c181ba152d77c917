"""The course's one training loop, used by every notebook.

    for step in 1..steps:
        x, y = next batch
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(); loss.backward()
        clip the gradient norm (optional); optimizer.step(); scheduler.step() (optional)
        every eval_every steps: loss (and metric) on held-out batches

A ``tqdm`` progress bar shows the running loss; in a notebook a live loss/metric curve is redrawn at each evaluation,
outside one a plain text line is printed instead. ``fit`` returns a :class:`History` with the numbers and the time.

A learner's mistakes get a message, not a hang or a silent wrong answer: every argument is checked before anything is
trained or changed, and each error names the argument, what was expected, what was received and, where there is one,
the fix.
"""
from __future__ import annotations

import io
import itertools
import math
import numbers
import operator
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from .data import _check_int  # one integer check for the library: a bool is not an integer

Batch = tuple[torch.Tensor, torch.Tensor]

# More steps than any notebook needs by far (even at 1 ms a step this is almost 3 hours); a larger number is a typo.
MAX_STEPS = 10_000_000


@dataclass
class History:
    """What happened during :func:`fit`. ``eval_*`` lists line up with ``eval_steps``."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_metric: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_eval_loss(self) -> float:
        return self.eval_loss[-1] if self.eval_loss else math.nan

    @property
    def final_eval_metric(self) -> float:
        return self.eval_metric[-1] if self.eval_metric else math.nan


# ----------------------------------------------------------------------------------------------------------------------
# Checks shared by the public functions
# ----------------------------------------------------------------------------------------------------------------------

def _describe(value) -> str:
    """A short description of what a learner passed: ``a Tensor of shape (3, 4)``, ``a list of 2 items``, ``None``."""
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return f"a Tensor of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} item{'s' if len(value) != 1 else ''}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a NumPy array, a pandas object
        return f"a {type(value).__module__.split('.')[0]} {type(value).__name__} of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {' '.join(repr(value).split())!s:.60}"


def _check_module(model) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (e.g. nn.Linear(3, 1) or an mlp.MLP), got {_describe(model)}")


def _check_callable(name: str, value, example: str) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be a function {example}, got {_describe(value)}")


def _is_endless(batches) -> bool:
    """An iterator that never ends: ``data.lm_stream_batches``, ``itertools.cycle``, ``count``, endless ``repeat``."""
    if getattr(batches, "endless", False) is True:
        return True
    if isinstance(batches, (itertools.cycle, itertools.count)):
        return True
    return isinstance(batches, itertools.repeat) and operator.length_hint(batches, -1) == -1


_STREAM_HINT = ("data.lm_stream_batches is an endless stream for training; for held-out batches use "
                "data.lm_eval_batches(val_ids, batch_size, block_size, max_batches=8), a list")


def _check_pair(batch, name: str, index: int | None) -> Batch:
    """``batch`` must be an ``(x, y)`` pair of tensors with the same number of rows (at least one)."""
    where = f"{name}[{index}]" if index is not None else f"a batch of {name}"
    if isinstance(batch, torch.Tensor):
        raise TypeError(f"{where} must be a pair (x, y), got a single Tensor of shape {tuple(batch.shape)}: did you "
                        f"pass one (x, y) pair where a list of batches belongs? Wrap it: [(x, y)]")
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"{where} must be a pair (x, y) of tensors, got {_describe(batch)}")
    x, y = batch
    if isinstance(x, list):
        x = tuple(x)
    inputs = x if isinstance(x, tuple) and x else (x,)  # x may be a tuple of tensors, passed as model(*x)
    for part, value in [*((("x" if len(inputs) == 1 else f"x[{k}]"), t) for k, t in enumerate(inputs)), ("y", y)]:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{part} of {where} must be a torch.Tensor, got {_describe(value)}: "
                            f"convert it with torch.as_tensor({part})")
    for t in inputs:
        if t.ndim == 0 or t.shape[0] == 0:
            raise ValueError(f"{where} is empty: x has shape {tuple(t.shape)}, a batch needs at least one row "
                             "(check the slicing of your data)")
        if t.shape[0] != inputs[0].shape[0] or (y.ndim >= 1 and y.shape[0] != t.shape[0]):
            raise ValueError(f"x and y of {where} must have the same number of rows, got x {tuple(t.shape)} and "
                             f"y {tuple(y.shape)}")
    return x, y


def _rows(x) -> int:
    """The batch size of ``x``, a tensor or a tuple of tensors."""
    return (x[0] if isinstance(x, tuple) else x).shape[0]


def _call(model: torch.nn.Module, x):
    """``model(x)``, or ``model(*x)`` when ``x`` is a tuple of inputs (a seq2seq model reads the source and target)."""
    return model(*x) if isinstance(x, tuple) else model(x)


def _is_single_pair(batches) -> bool:
    return (isinstance(batches, (tuple, list)) and len(batches) == 2
            and all(isinstance(t, torch.Tensor) for t in batches))


def _check_batches(name: str, batches, *, reusable: bool, allow_callable: bool) -> None:
    """The checks that can be made before anything runs: the kind of object, and every batch of a list.

    ``reusable``: the batches are read more than once (``fit``'s held-out batches), so a one-shot iterator is refused.
    """
    how = "a list of (x, y) pairs, a DataLoader"
    if allow_callable:
        how += ", or a function returning one (x, y) batch"
    if batches is None or isinstance(batches, (str, bytes, dict, numbers.Number)):
        raise TypeError(f"{name} must be {how}, got {_describe(batches)}")
    if isinstance(batches, torch.Tensor):
        raise TypeError(f"{name} must be {how}, got a single Tensor of shape {tuple(batches.shape)}: "
                        "pair the inputs with their targets, e.g. [(x, y)]")
    if _is_single_pair(batches):
        fix = "[(x, y)]" + (" or a function: lambda: (x, y)" if allow_callable else "")
        raise TypeError(f"{name} looks like one (x, y) pair ({_describe(batches[0])} and {_describe(batches[1])}), "
                        f"not a list of batches: wrap it in a list, {fix}")
    if isinstance(batches, torch.utils.data.Dataset) and not isinstance(batches, torch.utils.data.IterableDataset):
        raise TypeError(f"{name} is a Dataset of single examples ({type(batches).__name__}), not of batches: wrap it, "
                        f"torch.utils.data.DataLoader({name}, batch_size=128, shuffle=True)")
    if _is_endless(batches):
        if reusable or not allow_callable:
            raise ValueError(f"{name} never ends ({type(batches).__name__}), so evaluating on it would hang: "
                             f"{_STREAM_HINT}")
        return
    if allow_callable and callable(batches):
        return
    if not hasattr(batches, "__iter__") and not hasattr(batches, "__getitem__"):
        raise TypeError(f"{name} must be {how}, got {_describe(batches)}")
    if reusable and isinstance(batches, Iterator):
        raise TypeError(f"{name} is a one-shot iterator ({type(batches).__name__}): fit evaluates several times and "
                        f"would find it empty the second time. Pass a list, e.g. list({name}), or "
                        f"data.lm_eval_batches(...)")
    try:
        empty = len(batches) == 0  # a list, a DataLoader over an empty data set
    except TypeError:  # no length (a generator, an iterable data set): found out when it is read
        empty = False
    if empty:
        raise ValueError(f"{name} is empty (no batch): it needs at least one (x, y) batch")
    if isinstance(batches, (list, tuple)):
        for i, batch in enumerate(batches):
            _check_pair(batch, name, i)


def _device(device, model: torch.nn.Module) -> torch.device:
    """``device`` as a ``torch.device``, or the device of the model's first parameter (or buffer; else the CPU)."""
    if device is None:
        first = next(itertools.chain(model.parameters(), model.buffers()), None)
        return first.device if first is not None else torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be 'cpu', 'cuda' or a torch.device (info.device from course_lib.setup()), "
                         f"got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but no CUDA GPU is available here: use info.device from "
                         "course_lib.setup() (or 'cpu')")
    on = {p.device for p in itertools.chain(model.parameters(), model.buffers())}
    if on and on != {device}:
        where = ", ".join(sorted(str(d) for d in on))
        raise ValueError(f"device={str(device)!r} but the model's parameters are on {where}: move the model first, "
                         f"model.to({str(device)!r}), or leave device=None to use the model's device")
    return device


def _modes(model: torch.nn.Module) -> list[tuple[torch.nn.Module, bool]]:
    return [(m, m.training) for m in model.modules()]


def _restore(modes: list[tuple[torch.nn.Module, bool]]) -> None:
    for module, training in modes:
        module.training = training


@contextmanager
def eval_mode(model: torch.nn.Module):
    """Eval mode inside the block; afterwards every submodule gets back its own mode, also when the block raises.

    (``model.train(was_training)`` would not do: it gives every submodule the top module's mode.)
    """
    modes = _modes(model)
    model.eval()
    try:
        yield model
    finally:
        _restore(modes)


def _scalar(name: str, value, what: str) -> torch.Tensor:
    """The value a loss or metric function returned, checked to be one number."""
    if not isinstance(value, (torch.Tensor, numbers.Real)) or isinstance(value, bool):
        raise TypeError(f"{name} must return a number (a one-element tensor), got {_describe(value)}")
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise ValueError(f"{name} must return one number {what}, got a tensor of shape {tuple(value.shape)}: "
                         "average it (reduction='mean', or .mean())")
    return value


_BROADCAST = "target size"  # torch's warning when a loss broadcasts output and target of different shapes


def _loss(loss_fn: Callable, out, y: torch.Tensor, check_shapes: bool) -> torch.Tensor:
    """``loss_fn(out, y)``, turning the usual raw errors into messages that say what to do.

    With ``check_shapes`` a loss that silently broadcasts the output against ``y`` (``mse_loss`` of ``(N, 1)`` and
    ``(N,)`` averages an ``(N, N)`` table: a wrong loss that still trains) is refused.
    """
    caught: list = []
    try:
        if check_shapes:  # only then: catching every step would repeat warnings that are meant to show once
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loss = loss_fn(out, y)
        else:
            loss = loss_fn(out, y)
    except (TypeError, AttributeError) as exc:
        if isinstance(out, (tuple, list)):
            raise TypeError(f"the model returned a {type(out).__name__} of {len(out)} (e.g. (logits, state)), which "
                            f"loss_fn cannot take ({exc}): use a loss that accepts it (rnn.lm_loss does), or a model "
                            "that returns the logits only (rnn.TruncatedBPTT)") from exc
        raise
    for w in caught:
        if _BROADCAST in str(w.message) and isinstance(out, torch.Tensor):
            raise ValueError(f"the model's output has shape {tuple(out.shape)} but y has shape {tuple(y.shape)}: "
                             "loss_fn broadcast them into a wrong loss. Make them match, e.g. output.squeeze(-1) "
                             "in the model, or y.view(-1, 1)")
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return _scalar("loss_fn", loss, "for the batch")


def _nonfinite_part(x, y: torch.Tensor) -> str | None:
    inputs = x if isinstance(x, tuple) else (x,)
    for name, t in [*(("x", t) for t in inputs), ("y", y)]:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Metric, evaluation, training
# ----------------------------------------------------------------------------------------------------------------------

def accuracy(output, y: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose highest logit is the true class, as a 0-d float tensor.

    ``output``: logits ``(N, C)`` (``(B, T, C)`` for sequences), or the ``(logits, state)`` pair a recurrent model
    returns, whose logits are used (as ``rnn.lm_loss`` does).
    ``y``: integer class ids of shape ``logits.shape[:-1]``, e.g. ``(N,)``; or one-hot / class-probability rows of the
    logits' own shape ``(N, C)``, compared by their highest entry.
    Refused with a message that says the fix, never broadcast into a wrong number: ``(N, 1)`` labels (use
    ``y.squeeze(-1)``), one logit per row (``C = 1``), ids outside ``0..C-1``, float ids, sizes that differ, no rows.
    """
    logits = output[0] if isinstance(output, (tuple, list)) and output else output
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"output must be logits, a tensor (N, C), or a (logits, state) pair; got {_describe(output)}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a tensor of class ids (N,), got {_describe(y)}: convert it with torch.as_tensor(y)")
    if logits.ndim < 2:
        raise ValueError(f"logits must be (N, C), one score per class, got shape {tuple(logits.shape)}: if they are "
                         "predicted classes already, use (predicted == y).float().mean()")
    classes = logits.shape[-1]
    if classes < 2:
        raise ValueError(f"logits must have one score per class (C >= 2), got shape {tuple(logits.shape)}: with a "
                         "single logit per row, use ((logits.squeeze(-1) > 0).long() == y).float().mean()")
    if y.shape == logits.shape:  # one-hot or class-probability rows
        rows = y.double()
        sums = rows.sum(-1)
        if bool((rows < 0).any()) or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
            raise ValueError(f"y has the logits' shape {tuple(y.shape)} but its rows are not one-hot (or class "
                             "probabilities summing to 1): pass class ids of shape "
                             f"{tuple(logits.shape[:-1])} instead")
        target = rows.argmax(dim=-1)
    elif y.shape == logits.shape[:-1]:
        if y.is_floating_point() or y.is_complex():
            raise TypeError(f"y must hold integer class ids, got dtype {y.dtype}: convert it with y.long()")
        target = y.long()
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= classes):
            raise ValueError(f"y holds class ids from {int(target.min())} to {int(target.max())}, but the logits have "
                             f"{classes} classes (ids 0..{classes - 1})")
    else:
        if y.shape[:-1] == logits.shape[:-1] and y.shape[-1:] == (1,):
            hint = "labels with an extra dimension of size 1: use y.squeeze(-1)"
        else:
            hint = "one class id per row of logits"
        raise ValueError(f"y must have shape {tuple(logits.shape[:-1])} (class ids) or {tuple(logits.shape)} "
                         f"(one-hot), got {tuple(y.shape)}: {hint}")
    if target.numel() == 0:
        raise ValueError(f"logits and y have no rows (shape {tuple(logits.shape)}): the accuracy of nothing is "
                         "undefined; check the slicing of your data")
    return (logits.argmax(dim=-1) == target).float().mean()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _batches_forever(train_batches, steps: int) -> Iterable[Batch]:
    """Yield batches without end from a callable (called each step) or an iterable (re-iterated: one pass = one epoch).

    A one-shot iterator (a generator) cannot be re-iterated: when it runs out before ``steps`` the error says so.
    """
    if callable(train_batches) and not isinstance(train_batches, torch.utils.data.DataLoader):
        while True:
            yield train_batches()
    one_shot = isinstance(train_batches, Iterator)
    total = 0
    while True:
        count = 0
        for batch in train_batches:
            count += 1
            total += 1
            yield batch
        if count == 0 and total == 0:
            raise ValueError("train_batches yielded no batch: it needs at least one (x, y) batch"
                             + (" (a generator that was already read once is empty)" if one_shot else ""))
        if count == 0 and one_shot:
            raise ValueError(f"train_batches ran out after {total} batches, at step {total + 1} of {steps}: it is a "
                             f"one-shot iterator ({type(train_batches).__name__}), which cannot start a second epoch. "
                             "Pass a list of (x, y) batches or a DataLoader (both are re-read every epoch), a function "
                             "returning one batch, or fewer steps")
        if count == 0:
            raise ValueError(f"train_batches yielded no batch in a new epoch after {total} batches: an iterable must "
                             "give the same batches every time it is read")


def _to(batch, device: torch.device, name: str, index: int | None = None) -> Batch:
    x, y = _check_pair(batch, name, index)
    x = tuple(t.to(device) for t in x) if isinstance(x, tuple) else x.to(device)
    return x, y.to(device)


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable[Batch], loss_fn: Callable,
             metric: Callable | None = None, device: torch.device | str | None = None) -> tuple[float, float]:
    """Mean loss (and metric) over held-out batches, each batch weighted by its size; ``nan`` for a missing metric.

    The model runs in eval mode; the mode of every submodule is restored afterwards, also when an error occurs.
    ``batches``: a list of ``(x, y)`` pairs, a ``DataLoader`` or a finite generator, read once. An endless stream
    (``data.lm_stream_batches``) is refused: it would never finish.
    """
    _check_module(model)
    _check_batches("batches", batches, reusable=False, allow_callable=False)
    _check_callable("loss_fn", loss_fn, "(output, y) -> loss, e.g. nn.functional.cross_entropy")
    if metric is not None:
        _check_callable("metric", metric, "(output, y) -> number, e.g. train.accuracy")
    device = _device(device, model)
    total_loss = total_metric = 0.0
    count = 0
    with eval_mode(model):
        for i, batch in enumerate(batches):
            x, y = _to(batch, device, "batches", i)
            out = _call(model, x)
            n = _rows(x)
            total_loss += float(_loss(loss_fn, out, y, check_shapes=i == 0)) * n
            if metric is not None:
                total_metric += float(_scalar("metric", metric(out, y), "for the batch")) * n
            count += n
    if count == 0:
        raise ValueError("batches yielded no batch: pass a non-empty list of (x, y) pairs "
                         "(a generator that was already read once is empty)")
    return total_loss / count, (total_metric / count if metric is not None else math.nan)


class LiveCurve:
    """A loss (and metric) curve redrawn in place in a notebook: one Agg figure, one display handle, updated lines."""

    def __init__(self, metric_name: str | None, title: str | None = None):
        from IPython.display import Image, display

        self.fig = Figure(figsize=(8, 3) if metric_name else (5, 3), dpi=80)
        FigureCanvasAgg(self.fig)
        axes = self.fig.subplots(1, 2 if metric_name else 1)
        self.ax_loss = axes[0] if metric_name else axes
        self.ax_metric = axes[1] if metric_name else None
        (self.train_line,) = self.ax_loss.plot([], [], lw=1, alpha=0.6, label="train (per step)")
        (self.eval_line,) = self.ax_loss.plot([], [], "o-", ms=3, label="held-out")
        self.ax_loss.set_xlabel("step")
        self.ax_loss.set_ylabel("loss")
        self.ax_loss.legend(loc="upper right")
        if self.ax_metric is not None:
            (self.metric_line,) = self.ax_metric.plot([], [], "o-", ms=3, color="C2")
            self.ax_metric.set_xlabel("step")
            self.ax_metric.set_ylabel(f"held-out {metric_name}")
        if title:
            self.fig.suptitle(title, fontsize=10)
        self.fig.tight_layout()
        self.handle = display(Image(data=self.png()), display_id=True)
        self._image = Image

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png")
        return buf.getvalue()

    def update(self, history: History) -> None:
        self.train_line.set_data(history.steps, history.train_loss)
        self.eval_line.set_data(history.eval_steps, history.eval_loss)
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()
        if self.ax_metric is not None:
            self.metric_line.set_data(history.eval_steps, history.eval_metric)
            self.ax_metric.relim()
            self.ax_metric.autoscale_view()
        self.handle.update(self._image(data=self.png()))


def _check_optimizer(optimizer, model: torch.nn.Module) -> None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer built from the model's parameters, e.g. "
                        f"torch.optim.AdamW(model.parameters(), lr=1e-3); got {_describe(optimizer)}")
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("model has no trainable parameters (none, or all with requires_grad=False): there is "
                         "nothing for fit to train")
    ours = {id(p) for p in trainable}
    theirs = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(p) in ours for p in theirs):
        raise ValueError(f"optimizer was built for other parameters: none of its {len(theirs)} tensors belongs to "
                         "model, so training would change nothing. Build it from this model, e.g. "
                         "torch.optim.AdamW(model.parameters(), lr=1e-3) (after re-creating a model, re-create its "
                         "optimizer too)")
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise ValueError(f"the model's parameters already hold NaN or infinite values ({', '.join(bad[:3])}), before "
                         "any training: a previous run diverged. Re-create the model and its optimizer")


def _check_scheduler(scheduler, optimizer, steps: int) -> None:
    if scheduler is None:
        return
    if not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must be a learning-rate scheduler with a step() method (torch.optim.lr_scheduler), "
                        f"got {_describe(scheduler)}")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("scheduler was built for another optimizer, so it would not change this one's learning "
                         "rate: build it from the optimizer passed to fit")
    total = getattr(scheduler, "total_steps", None)
    if isinstance(total, int):
        left = total - getattr(scheduler, "last_epoch", 0)
        if steps > left:
            raise ValueError(f"scheduler has {left} of its total_steps={total} left but steps={steps}: build it with "
                             "total_steps=steps (and re-create it, with its optimizer, before each new run)")


def fit(model: torch.nn.Module, train_batches, loss_fn: Callable, optimizer: torch.optim.Optimizer, *,
        steps: int, eval_batches: Iterable[Batch] | None = None, eval_every: int | None = None,
        metric: Callable | None = None, metric_name: str = "accuracy", clip_grad_norm: float | None = None,
        scheduler=None, device: torch.device | str | None = None, live: bool = True,
        desc: str = "training") -> History:
    """Train ``model`` for ``steps`` optimizer steps and return the :class:`History`.

    ``train_batches``: a function returning an ``(x, y)`` batch, or an iterable of them (e.g. a ``DataLoader``),
    re-iterated when exhausted; a generator is read once (endless ones such as ``data.lm_stream_batches`` are fine).
    ``eval_batches``: held-out ``(x, y)`` batches, evaluated every ``eval_every`` steps and at the end; they are read
    several times, so they must be a list or a ``DataLoader``: an endless stream or a one-shot generator is refused
    before training (it would hang, or be empty at the second evaluation). ``metric(output, y)`` gives a per-batch
    mean (e.g. :func:`accuracy`). ``clip_grad_norm`` (> 0, or ``None`` for no clipping) rescales the gradient when its
    norm is larger. ``live=False`` turns off the curve and the text lines. ``x`` may be a tuple of tensors, passed
    as ``model(*x)``: a sequence-to-sequence model trained with teacher forcing reads ``(src, tgt)``.

    Checked before anything is trained: the types, ``steps`` (1 … ``MAX_STEPS``), an optimizer (and scheduler) built
    for this model, parameters that are already NaN, every batch of a list. A non-finite loss stops training: a
    ``ValueError`` when the batch itself holds NaN/inf, else a ``FloatingPointError`` (lower the learning rate).
    When fit raises, the model's train/eval modes are restored (its parameters keep the steps already taken).
    """
    _check_module(model)
    _check_batches("train_batches", train_batches, reusable=False, allow_callable=True)
    _check_callable("loss_fn", loss_fn, "(output, y) -> loss, e.g. nn.functional.cross_entropy")
    _check_optimizer(optimizer, model)
    steps = _check_int("steps", steps, 1, MAX_STEPS)
    if eval_batches is not None:
        _check_batches("eval_batches", eval_batches, reusable=True, allow_callable=False)
    if eval_every is not None:
        eval_every = _check_int("eval_every", eval_every, 1)
    if metric is not None:
        _check_callable("metric", metric, "(output, y) -> number, e.g. train.accuracy")
    if not isinstance(metric_name, str):
        raise TypeError(f"metric_name must be a string such as 'accuracy', got {_describe(metric_name)}")
    if clip_grad_norm is not None:
        if isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, numbers.Real):
            raise TypeError(f"clip_grad_norm must be a number > 0 or None, got {_describe(clip_grad_norm)}")
        if not clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm must be > 0 (the largest gradient norm allowed), or None for no "
                             f"clipping; got {clip_grad_norm} (a norm cannot be negative, and 0 would erase every "
                             "gradient)")
    _check_scheduler(scheduler, optimizer, steps)
    if not isinstance(live, bool):
        raise TypeError(f"live must be True or False, got {_describe(live)}")
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a string, got {_describe(desc)}")
    device = _device(device, model)
    eval_every = eval_every or max(1, steps // 10)
    max_norm = float(clip_grad_norm) if clip_grad_norm is not None else math.inf
    history = History()
    title = None if desc == "training" else desc  # fit's default desc names nothing
    curve = LiveCurve(metric_name if metric else None, title) if (live and eval_batches is not None and _in_notebook()) else None
    batches = _batches_forever(train_batches, steps)
    modes = _modes(model)
    model.train()
    start = time.perf_counter()
    # TQDM_DISABLE=1 (set by the tests and by `course.py regenerate`) must reach tqdm's notebook bar too
    bar = tqdm(range(1, steps + 1), desc=desc, leave=False, disable=os.environ.get("TQDM_DISABLE", "0") == "1")
    try:
        for step in bar:
            x, y = _to(next(batches), device, "train_batches")
            loss = _loss(loss_fn, _call(model, x), y, check_shapes=step == 1)
            if not isinstance(loss, torch.Tensor):
                raise TypeError(f"loss_fn must return a tensor (the graph that backward() follows), got "
                                f"{_describe(loss)}: return the loss itself, without .item() or float()")
            if not loss.requires_grad:
                raise ValueError("the loss does not depend on any trainable parameter (it has no gradient): compute "
                                 "it from the model's output, without .detach(), .item() or torch.no_grad()")
            loss_value = loss.detach().item()
            if not math.isfinite(loss_value):
                part = _nonfinite_part(x, y)
                if part is not None:
                    raise ValueError(f"the batch of train_batches at step {step} holds NaN or infinite values in "
                                     f"{part}: the data, not the learning rate, is the problem. Find them with "
                                     f"(~torch.isfinite({part})).nonzero() and clean the data")
                raise FloatingPointError(f"loss became {loss_value} at step {step}: lower the learning rate or clip "
                                         "gradients")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            history.steps.append(step)
            history.train_loss.append(loss_value)
            history.grad_norm.append(float(norm))
            bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
            if eval_batches is not None and (step % eval_every == 0 or step == steps):
                eval_loss, eval_metric = evaluate(model, eval_batches, loss_fn, metric, device)
                history.eval_steps.append(step)
                history.eval_loss.append(eval_loss)
                history.eval_metric.append(eval_metric)
                if curve is not None:
                    curve.update(history)
                elif live:
                    line = f"step {step:>6}/{steps}  train loss {loss_value:.4f}  held-out loss {eval_loss:.4f}"
                    if metric is not None:
                        line += f"  held-out {metric_name} {eval_metric:.4f}"
                    bar.write(line)
    except BaseException:
        _restore(modes)
        raise
    finally:
        bar.close()
    history.seconds = time.perf_counter() - start
    return history
