"""Measuring a classifier or a language model honestly (notebook 11).

**Confusion matrix** ``M`` (:func:`confusion_matrix`): ``M[i, j]`` = how many examples of true class i were
predicted as class j. Accuracy is its diagonal over its total. Per class c (:func:`precision_recall_f1`)::

    precision_c = M[c, c] / Σ_i M[i, c]      of the examples called c, the share that are c
    recall_c    = M[c, c] / Σ_j M[c, j]      of the examples that are c, the share called c
    F1_c        = 2 · precision_c · recall_c / (precision_c + recall_c)       (their harmonic mean)

A ratio with nothing to divide by (a class never predicted, or absent) is 0, as scikit-learn's ``zero_division=0``.
*Macro* F1 is the plain mean over classes (every class counts the same, however rare).

**Why held-out data**: :func:`ngram_perplexity` scores a character n-gram model (counts of what followed each context
of ``order - 1`` characters, smoothed towards the character frequencies)::

    p(c | ctx) = (count(ctx, c) + k · p(c)) / (count(ctx) + k)         perplexity = exp(mean of -log p)

With a long context, almost every context of the training text occurs once, so the model recites its training text
(training perplexity close to 1.0, "perfect") and knows nothing about new text.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict

import torch


def _labels(name: str, value, classes: int) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(value).__name__}")
    if value.dim() != 1:
        raise ValueError(f"{name} must have shape (N,), one class index per example, got {tuple(value.shape)}")
    if value.is_floating_point() or value.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class indices, got dtype {value.dtype}")
    if len(value) and (value.min() < 0 or value.max() >= classes):
        raise ValueError(f"{name} must hold class indices in [0, {classes - 1}], got values in "
                         f"[{int(value.min())}, {int(value.max())}]")
    return value.long()


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, classes: int) -> torch.Tensor:
    """``(classes, classes)`` int64 counts: row = true class, column = predicted class."""
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError(f"classes must be an int >= 2, got {classes!r}")
    y_true, y_pred = _labels("y_true", y_true, classes), _labels("y_pred", y_pred, classes)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("y_true is empty: there is nothing to count")
    return torch.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def _ratio(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    return torch.where(bottom > 0, top / bottom.clamp(min=1e-300), torch.zeros_like(top))


def precision_recall_f1(cm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-class ``precision``, ``recall``, ``f1`` (float64 tensors of shape ``(C,)``) and ``support`` (examples of
    each true class) from a confusion matrix."""
    if not isinstance(cm, torch.Tensor) or cm.dim() != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) tensor from confusion_matrix, got "
                         f"{tuple(cm.shape) if isinstance(cm, torch.Tensor) else type(cm).__name__}")
    if (cm < 0).any():
        raise ValueError("cm holds counts: it cannot be negative")
    cm = cm.double()
    right = cm.diagonal()
    precision = _ratio(right, cm.sum(0))
    recall = _ratio(right, cm.sum(1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": cm.sum(1).long()}


def ngram_perplexity(train_text: str, text: str, order: int, k: float = 1.0) -> float:
    """Perplexity on ``text`` of a character n-gram model counted on ``train_text`` (see the module docstring): each
    character predicted from the ``order - 1`` characters before it; the first ``order - 1`` characters of ``text``,
    and any context never seen in training, are predicted from the character frequencies alone (``order = 1``). Characters never seen in training get a count of 1 in the frequencies."""
    for name, value in (("train_text", train_text), ("text", text)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r:.40}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be an int >= 1, got {order!r}")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k > 0:
        raise ValueError(f"k must be a number > 0, got {k!r}")
    n = order - 1
    frequencies = Counter(train_text)
    for c in set(text) - set(frequencies):
        frequencies[c] = 1
    total = sum(frequencies.values())
    following: dict[str, Counter] = defaultdict(Counter)
    if n:
        for i in range(n, len(train_text)):
            following[train_text[i - n : i]][train_text[i]] += 1
    seen = {context: sum(counts.values()) for context, counts in following.items()}
    nll = 0.0
    for i, c in enumerate(text):
        prior = frequencies[c] / total
        counts = following.get(text[max(0, i - n) : i]) if n and i >= n else None
        if counts is None:
            p = prior
        else:
            p = (counts[c] + k * prior) / (seen[text[i - n : i]] + k)
        nll -= math.log(p)
    return math.exp(nll / len(text))
