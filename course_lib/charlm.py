"""What a character language model needs whatever its architecture (notebooks 03 and 07): sampling and held-out losses.

03's LSTM (:class:`course_lib.rnn.CharLM`) and 07's GPT (:class:`course_lib.gpt.GPT`) are sampled and measured by the
same functions here, so the two rows of the comparison come from the same code.

**Sampling** one character from the logits ``z`` of the next position (:func:`sample_next`):

    p = softmax(z / temperature)          temperature < 1: sharper, > 1: flatter, 0: greedy (argmax)
    top-k:  keep the k most likely characters, renormalise
    top-p:  keep the smallest set of most likely characters whose probabilities sum to at least p, renormalise
    next  ~ p                             one draw, reproducible with a seeded torch.Generator

:func:`next_distribution` returns p itself, :func:`sample_with_probs` the draw and the p it was drawn from.

**Held-out loss** (nats per character, the mean of ``-log p(next character)``), two ways for a model with a context
window of ``block_size`` characters:

* :func:`block_loss`, nanoGPT's estimate: the mean loss over random held-out blocks of ``block_size`` characters.
  Position t of a block sees only t + 1 characters, so on average a prediction has about block/2 of context.
* :func:`windowed_loss`: every held-out character predicted exactly once, with windows of ``block_size`` moved by
  ``stride`` (half a block): each scored character is predicted from at least ``block_size - stride + 1`` characters
  (except at the very start of the text). Slower (each character is read ``block_size / stride`` times), and
  usually a little lower, as the predictions have more context.

03's stateful evaluator, which carries a recurrent state through the whole text, stays in
:func:`course_lib.rnn.heldout_loss`: a Transformer has no state to carry.

**Training** every row of the comparison: :func:`lm_loss` (the cross-entropy at every position) and
:func:`warmup_cosine` (linear warm-up, then cosine decay), the recipe of ``benchmarks/charlm.py``.

``model(idx)`` may return logits ``(B, T, V)`` or a pair ``(logits, state)`` (as ``CharLM`` does); both are read.
"""
from __future__ import annotations

import math
import numbers

import torch
from torch.nn import functional as F

from .data import MAX_BATCH_TOKENS, lm_batch
from .mlp import _check_size as _check_count
from .train import eval_mode

#: The most characters one call of :func:`block_loss` or :func:`windowed_loss` reads (windows overlap, so this counts
#: every read): 10 million is a few minutes for the course's models. A larger request is refused before anything runs.
MAX_EVAL_TOKENS = 10_000_000


# ----------------------------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------------------------

def check_sampling(temperature=1.0, top_k=None, top_p=None, generator=None) -> None:
    """Refuse sampling settings that make no sense, with a message that names the argument (``ValueError`` /
    ``TypeError``). :func:`sample_next` calls it; ``generate`` methods call it once before they start."""
    if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real)
            or not (math.isfinite(temperature) and temperature >= 0)):
        raise ValueError(f"temperature must be a finite number >= 0 (1.0: the model's own probabilities, 0: greedy "
                         f"decoding), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 (keep the k most likely characters) or None (keep all), "
                         f"got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real)
                              or not (0 < top_p <= 1)):
        raise ValueError(f"top_p must be a number in (0, 1] (keep the most likely characters until their "
                         f"probabilities sum to top_p) or None (keep all), got {top_p!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, "
                        f"got {type(generator).__name__}")
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU generator (the sampling runs on the CPU), got one on "
                         f"{generator.device}: use torch.Generator().manual_seed(seed)")


def next_distribution(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None) -> torch.Tensor:
    """The distribution :func:`sample_next` draws the next character from: ``probs (V,)``, float64, on the CPU.

        temperature = 0:  one-hot at argmax(z)      greedy decoding: the most likely character gets probability 1
        temperature > 0:  p = softmax(z / temperature), restricted by top_k and top_p (the rest get 0), renormalised

    ``top_k``: keep the ``k`` most likely characters (characters tied with the k-th are kept too; a ``k`` larger than
    the vocabulary keeps all). ``top_p`` (nucleus sampling): keep the most likely characters, in order, until their
    probabilities sum to at least ``p`` (always at least the most likely one; ``p = 1`` keeps all). Both may be given:
    top-k is applied first. Logits that are NaN or infinite are refused.

    ``next_distribution(logits, 1.0)`` is the model's own distribution, ``softmax(z)``, with nothing cut.
    """
    check_sampling(temperature, top_k, top_p)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 1 or logits.numel() == 0:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a 1-D tensor (V,) for one position, e.g. logits[0, -1], got {got}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got {logits.dtype}")
    last = logits.detach().double()  # (V,)
    if not torch.isfinite(last).all():
        raise ValueError("the model's logits are NaN or infinite: its weights are broken (did training diverge?); "
                         "retrain or reload it")
    if temperature == 0:  # greedy: all the probability on the most likely character (the first of equals)
        probs = torch.zeros(len(last), dtype=torch.float64)  # (V,)
        probs[int(last.argmax())] = 1.0
        return probs
    scaled = last / temperature
    if not torch.isfinite(scaled).all():  # a tiny temperature overflows: shift first (the same softmax)
        scaled = (last - last.max()) / temperature
    if top_k is not None and top_k < len(scaled):
        kth = torch.topk(scaled, int(top_k)).values[-1]  # the k-th largest scaled logit
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        probs = torch.softmax(scaled, dim=-1)  # (V,)
        sorted_probs, order = torch.sort(probs, descending=True, stable=True)  # (V,) each, most likely first
        before = torch.cumsum(sorted_probs, dim=0) - sorted_probs  # probability of the characters ranked above
        drop_sorted = before >= top_p  # the set had reached top_p already: the first character is always kept
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)  # (V,), back in vocabulary order
        scaled = scaled.masked_fill(drop, float("-inf"))
    return torch.softmax(scaled, dim=-1).cpu()  # (V,)


def sample_with_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None,
                      generator: torch.Generator | None = None) -> tuple[int, torch.Tensor]:
    """What :func:`sample_next` draws, and the distribution it drew it from: ``(next_id, probs (V,))``.

    ``probs[next_id]`` is the probability the drawn character had under that distribution (after temperature, top-k
    and top-p): 1 for every greedy pick. The sampling widget of notebook 07 colours the text by it.
    """
    check_sampling(temperature, top_k, top_p, generator)
    probs = next_distribution(logits, temperature, top_k, top_p)  # (V,)
    if temperature == 0:
        return int(probs.argmax()), probs  # greedy: the generator is not used
    return int(torch.multinomial(probs, 1, generator=generator)), probs


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> int:
    """One next-character id drawn from the logits ``(V,)`` of one position.

        temperature = 0:  argmax(z)                 greedy decoding: no randomness, the generator is not used
        temperature > 0:  p = softmax(z / temperature), restricted by top_k and top_p, then one draw from p

    Temperature 0 is *greedy* decoding: the single most likely character at each step. That is not "the most
    accurate" text: greedy text tends to repeat itself, and the most likely character one step at a time is not
    the most likely sequence.

    ``top_k``: keep the ``k`` most likely characters (characters tied with the k-th are kept too; a ``k`` larger than
    the vocabulary keeps all). ``top_p`` (nucleus sampling): keep the most likely characters, in order, until their
    probabilities sum to at least ``p`` (always at least the most likely one; ``p = 1`` keeps all). Both may be given:
    top-k is applied first. Logits that are NaN or infinite are refused. :func:`next_distribution` returns the
    distribution itself, :func:`sample_with_probs` the draw and the distribution.

    The draw is ``torch.multinomial(probs, 1, generator=generator)`` on float64 probabilities on the CPU; pass a
    seeded CPU ``torch.Generator`` for a reproducible sample.
    """
    return sample_with_probs(logits, temperature, top_k, top_p, generator)[0]


def check_generate(vocab, vocab_size: int, prompt: str, n: int, max_n: int) -> int:
    """The checks every ``generate`` makes before it runs: the vocabulary fits the model, the prompt is a non-empty
    string of known characters, and ``n`` is an integer in ``0..max_n``. Returns ``n`` as an int."""
    if not all(hasattr(vocab, a) for a in ("encode", "decode", "unseen", "__len__")):
        raise TypeError(f"vocab must be the CharVocab the model was trained with (data.CharVocab), "
                        f"got {type(vocab).__name__}")
    if len(vocab) != vocab_size:
        raise ValueError(f"vocab has {len(vocab)} characters, the model was built for {vocab_size}")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string (the model needs a first character), got {prompt!r}")
    unseen = vocab.unseen(prompt)
    if unseen and getattr(vocab, "unknown", None) is None:
        raise ValueError(f"prompt has characters not in the vocabulary: {unseen!r}; "
                         "use only characters of the training text")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n (characters to generate) must be an integer >= 0, got {n!r}")
    if n > max_n:
        raise ValueError(f"n={n:,} characters is more than one call generates (at most {max_n:,}, "
                         f"about a minute or more): ask for fewer")
    return int(n)


# ----------------------------------------------------------------------------------------------------------------------
# Training: the loss and the schedule every row of the comparison uses
# ----------------------------------------------------------------------------------------------------------------------

def lm_loss(output, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of next-character prediction over all ``B·T`` positions.

    ``output``: logits ``(B, T, V)`` or the ``(logits, state)`` pair that :class:`CharLM` returns; ``y (B, T)`` ids,
    every one in ``0..V-1``: a negative id is refused (``F.cross_entropy`` would silently skip -100, its ignore_index).
    """
    logits = output[0] if isinstance(output, (tuple, list)) and len(output) > 0 else output
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"output must be logits (B, T, V) or the (logits, state) pair, got {type(logits).__name__}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a tensor (B, T) of the next token ids, got {type(y).__name__}")
    if logits.ndim != 3 or tuple(y.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"logits must be (B, T, V) and y (B, T), got {tuple(logits.shape)} and {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer token ids, got dtype {y.dtype}: use y.long()")
    if logits.numel() == 0:
        raise ValueError(f"logits {tuple(logits.shape)} hold no position to score: a batch needs B, T >= 1")
    B, T, V = logits.shape
    if y.device != logits.device:
        raise ValueError(f"y is on {y.device} but logits are on {logits.device}: move it with "
                         f"y.to({str(logits.device)!r})")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= V:  # cross_entropy would fail on hi, and silently skip -100 (its ignore_index)
        raise ValueError(f"y must hold token ids in 0..{V - 1} (V={V}), got values in {lo}..{hi}")
    return F.cross_entropy(logits.reshape(B * T, V), y.reshape(B * T))  # (B·T, V) against (B·T,)


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: int, floor: float = 0.05):
    """The learning-rate schedule of the char-model benchmark (nanoGPT's): a ``LambdaLR`` whose factor is

        (step + 1) / warmup                                              for step < warmup   (linear warm-up)
        floor + (1 - floor) · (1 + cos(π (step - warmup) / (steps - warmup))) / 2      after   (cosine decay)

    so the rate climbs to the optimizer's ``lr`` in ``warmup`` steps, then falls to ``floor × lr`` at the last step.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    steps, warmup = _check_count("steps", steps), _check_count("warmup", warmup)
    if warmup > steps:
        raise ValueError(f"warmup ({warmup}) must be at most steps ({steps})")
    if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not 0 <= floor <= 1:
        raise ValueError(f"floor must be a number in [0, 1] (the last step's fraction of the peak rate), got {floor!r}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ----------------------------------------------------------------------------------------------------------------------
# Held-out losses
# ----------------------------------------------------------------------------------------------------------------------

def _logits(output) -> torch.Tensor:
    """``model(idx)`` returns logits ``(B, T, V)`` or ``(logits, state)``: the logits."""
    logits = output[0] if isinstance(output, (tuple, list)) and len(output) > 0 else output
    if not isinstance(logits, torch.Tensor) or logits.ndim != 3:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TypeError(f"model(idx) must return logits (B, T, V) or a pair (logits, state), got {got}")
    return logits


def _device(model) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _check_eval_args(model, ids, block_size) -> int:
    """Shared checks of the two evaluators; returns ``block_size`` as an int."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a language model (an nn.Module whose model(idx) gives logits (B, T, V)), got "
                        f"{type(model).__name__}")
    block_size = _check_count("block_size", block_size)
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"ids must be a 1-D tensor of token ids (vocab.encode(text)), got {type(ids).__name__}")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"ids must hold integer token ids (vocab.encode(text)), got dtype {ids.dtype}")
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D text of token ids, got shape {tuple(ids.shape)} "
                         "(flatten it with ids.view(-1))")
    if len(ids) <= block_size:
        raise ValueError(f"ids has {len(ids)} tokens, needs more than block_size={block_size} (one block of input "
                         "plus the character after it): use a smaller block_size or a longer text")
    config = getattr(model, "config", None)
    context = getattr(config, "block_size", None)
    if context is not None and block_size > context:
        raise ValueError(f"block_size={block_size} is longer than the model's context (config.block_size={context}): "
                         f"use block_size <= {context}")
    V = getattr(config, "vocab_size", None)
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or (V is not None and hi >= V):
        raise ValueError(f"ids must hold token ids in 0..{'V-1' if V is None else V - 1} (the model's vocabulary), got "
                         f"values in {lo}..{hi}: encode the text with the vocabulary the model was trained with")
    return block_size


def _position_losses(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``-log p(y | x)`` at every position, ``(B, T)``: the model reads ``x (B, T)``, ``y (B, T)`` are the next ids."""
    logits = _logits(model(x))  # (B, T, V)
    B, T, V = logits.shape
    if (B, T) != tuple(x.shape):
        raise ValueError(f"model(idx) returned logits {tuple(logits.shape)} for idx {tuple(x.shape)}: "
                         "expected (B, T, V)")
    if int(y.max()) >= V:
        raise ValueError(f"ids must hold token ids in 0..{V - 1} (the model's vocabulary), got {int(y.max())}")
    losses = F.cross_entropy(logits.reshape(B * T, V), y.reshape(B * T), reduction="none")  # (B·T,)
    return losses.view(B, T)  # (B, T)


@torch.no_grad()
def block_loss(model: torch.nn.Module, ids: torch.Tensor, block_size: int, batches: int = 200, batch_size: int = 12,
               seed: int = 0) -> float:
    """nanoGPT's held-out estimate: the mean next-character loss (nats/char) over random blocks of the text.

        loss = mean over batches b, rows r, positions t of  -log p(ids[s_br + t + 1] | ids[s_br .. s_br + t])

    ``batches`` batches of ``batch_size`` blocks, each ``block_size`` characters from a random start ``s``
    (:func:`course_lib.data.lm_batch` with a generator seeded by ``seed``, so the same blocks every call). Every block
    starts from nothing (no state carried in), so position t sees t + 1 characters. nanoGPT averages
    ``eval_iters = 200`` batches; use the model's context length as ``block_size``.

    Runs in eval mode (no dropout) and gives every submodule back its own mode afterwards, also after an error.
    """
    block_size = _check_eval_args(model, ids, block_size)
    batches, batch_size = _check_count("batches", batches), _check_count("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    if batch_size * block_size > MAX_BATCH_TOKENS:
        raise ValueError(f"batch_size × block_size must be <= {MAX_BATCH_TOKENS:,} tokens, got {batch_size:,} × "
                         f"{block_size:,}: use a smaller batch_size")
    if batches * batch_size * block_size > MAX_EVAL_TOKENS:
        count = batches * batch_size * block_size
        raise ValueError(f"batches × batch_size × block_size = {count:,} characters is more than one call reads "
                         f"(at most {MAX_EVAL_TOKENS:,}): use fewer batches")
    generator = torch.Generator().manual_seed(int(seed))
    device = _device(model)
    total = 0.0
    with eval_mode(model):
        for _ in range(batches):
            x, y = lm_batch(ids, batch_size, block_size, generator=generator)  # (B, T) each
            total += float(_position_losses(model, x.to(device), y.to(device)).sum())
    return total / (batches * batch_size * block_size)


def window_starts(n_predictions: int, block_size: int, stride: int) -> list[tuple[int, int]]:
    """The windows of :func:`windowed_loss`: a list of ``(start, first)`` pairs. Window ``start`` reads
    ``ids[start : start + block_size]`` and scores its positions ``first .. block_size - 1`` (the earlier ones were
    scored by the window before). Together they score every prediction ``0 .. n_predictions - 1`` exactly once.

    Windows start at ``0, stride, 2·stride, ...``; the last one is moved back to end exactly at the end of the text,
    so every window is full. Needs ``1 <= stride <= block_size <= n_predictions``.
    """
    windows, scored = [], 0  # scored: predictions 0 .. scored - 1 are done
    start = 0
    while scored < n_predictions:
        start = min(start, n_predictions - block_size)  # the last window ends at the end of the text
        windows.append((start, scored - start))
        scored = start + block_size
        start += stride
    return windows


@torch.no_grad()
def windowed_loss(model: torch.nn.Module, ids: torch.Tensor, block_size: int, stride: int | None = None,
                  batch_size: int = 32) -> float:
    """Every held-out character predicted exactly once, with a window of ``block_size`` characters of context.

        loss = 1/(N-1) · sum over t = 1 .. N-1 of  -log p(ids[t] | the window that scores t)

    Windows of ``block_size`` characters start every ``stride`` characters (default ``block_size // 2``); each scores
    only the characters the window before did not (its last ``stride``; fewer in the final window, which is moved
    back to end at the end of the text). So every scored character is predicted
    from at least ``block_size - stride + 1`` characters (more than half a block with the default), except in the
    first window, which scores all its positions. Each character is read about ``block_size / stride`` times.

    ``batch_size`` windows are read per forward pass (it changes the speed, not the result). Runs in eval mode and
    gives every submodule back its own mode afterwards, also after an error.
    """
    block_size = _check_eval_args(model, ids, block_size)
    batch_size = _check_count("batch_size", batch_size)
    if stride is None:
        stride = max(1, block_size // 2)
    stride = _check_count("stride", stride)
    if stride > block_size:
        raise ValueError(f"stride must be <= block_size={block_size} (a larger stride would skip characters), got "
                         f"{stride}: the usual choice is block_size // 2 = {max(1, block_size // 2)}")
    n = len(ids) - 1  # predictions: ids[t + 1] from ids[.. t], t = 0 .. n - 1
    count = 1 + math.ceil((n - block_size) / stride)  # the number of windows window_starts makes
    if count * block_size > MAX_EVAL_TOKENS:
        raise ValueError(f"{count:,} windows of block_size={block_size} read {count * block_size:,} characters, more "
                         f"than one call reads (at most {MAX_EVAL_TOKENS:,}): use a larger stride or a shorter text")
    windows = window_starts(n, block_size, stride)
    starts = torch.tensor([s for s, _ in windows])  # (W,)
    first = torch.tensor([f for _, f in windows])  # (W,): the first position each window scores
    index = starts[:, None] + torch.arange(block_size)[None, :]  # (W, block): the ids each window reads
    scored = torch.arange(block_size)[None, :] >= first[:, None]  # (W, block): True where the window scores
    device = _device(model)
    total = 0.0
    with eval_mode(model):
        for b in range(0, len(windows), batch_size):
            rows = index[b : b + batch_size]  # (b, block)
            losses = _position_losses(model, ids[rows].to(device), ids[rows + 1].to(device))  # (b, block)
            total += float(losses[scored[b : b + batch_size].to(device)].sum())
    assert int(scored.sum()) == n, "windowed_loss scored a character twice or not at all"
    return total / n
