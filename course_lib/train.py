"""The course's one training loop, used by every notebook.

    for step in 1..steps:
        x, y = next batch
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(); loss.backward()
        clip the gradient norm (optional); optimizer.step(); scheduler.step() (optional)
        every eval_every steps: loss (and metric) on held-out batches

A ``tqdm`` progress bar shows the running loss; in a notebook a live loss/metric curve is redrawn at each evaluation,
outside one a plain text line is printed instead. ``fit`` returns a :class:`History` with the numbers and the time.
"""
from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm.auto import tqdm

Batch = tuple[torch.Tensor, torch.Tensor]


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


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose highest logit is the true class. ``logits (N, C)``, ``y (N,)``."""
    return (logits.argmax(dim=-1) == y).float().mean()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _batches_forever(train_batches) -> Iterable[Batch]:
    """Yield batches without end from a callable (called each step) or an iterable (re-iterated: one pass = one epoch)."""
    if callable(train_batches):
        while True:
            yield train_batches()
    while True:
        empty = True
        for batch in train_batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("train_batches yielded no batch")


def _to(batch: Batch, device: torch.device) -> Batch:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"each batch must be a pair (x, y), got {type(batch).__name__}")
    return batch[0].to(device), batch[1].to(device)


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable[Batch], loss_fn: Callable,
             metric: Callable | None = None, device: torch.device | str | None = None) -> tuple[float, float]:
    """Mean loss (and metric) over held-out batches, each batch weighted by its size. Puts the model in eval mode."""
    device = torch.device(device) if device else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss = total_metric = 0.0
    count = 0
    for batch in batches:
        x, y = _to(batch, device)
        out = model(x)
        n = x.shape[0]
        total_loss += float(loss_fn(out, y)) * n
        if metric is not None:
            total_metric += float(metric(out, y)) * n
        count += n
    model.train(was_training)
    if count == 0:
        raise ValueError("eval_batches yielded no batch")
    return total_loss / count, (total_metric / count if metric is not None else math.nan)


class LiveCurve:
    """A loss (and metric) curve redrawn in place in a notebook: one Agg figure, one display handle, updated lines."""

    def __init__(self, metric_name: str | None):
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


def fit(model: torch.nn.Module, train_batches, loss_fn: Callable, optimizer: torch.optim.Optimizer, *,
        steps: int, eval_batches: Iterable[Batch] | None = None, eval_every: int | None = None,
        metric: Callable | None = None, metric_name: str = "accuracy", clip_grad_norm: float | None = None,
        scheduler=None, device: torch.device | str | None = None, live: bool = True,
        desc: str = "training") -> History:
    """Train ``model`` for ``steps`` optimizer steps and return the :class:`History`.

    ``train_batches``: a function returning an ``(x, y)`` batch, or an iterable of them (e.g. a ``DataLoader``),
    re-iterated when exhausted. ``eval_batches``: held-out ``(x, y)`` batches, evaluated every ``eval_every`` steps
    and at the end. ``metric(output, y)`` gives a per-batch mean (e.g. :func:`accuracy`). ``clip_grad_norm`` rescales
    the gradient when its norm is larger. ``live=False`` turns off the curve and the text lines.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"eval_every must be >= 1 or None, got {eval_every}")
    device = torch.device(device) if device else next(model.parameters()).device
    eval_every = eval_every or max(1, steps // 10)
    history = History()
    curve = LiveCurve(metric_name if metric else None) if (live and eval_batches is not None and _in_notebook()) else None
    batches = _batches_forever(train_batches)
    model.train()
    start = time.perf_counter()
    # TQDM_DISABLE=1 (set by the tests and by `course.py regenerate`) must reach tqdm's notebook bar too
    bar = tqdm(range(1, steps + 1), desc=desc, leave=False, disable=os.environ.get("TQDM_DISABLE", "0") == "1")
    for step in bar:
        x, y = _to(next(batches), device)
        loss = loss_fn(model(x), y)
        loss_value = loss.detach().item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"loss became {loss_value} at step {step}: lower the learning rate or clip gradients")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm if clip_grad_norm else math.inf)
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
    bar.close()
    history.seconds = time.perf_counter() - start
    return history
