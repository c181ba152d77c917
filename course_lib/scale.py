"""How big is a model? Parameters, FLOPs and the memory that training needs (notebook 11).

**Parameters** are the numbers the optimizer changes: ``sum(p.numel())`` over the model's parameters
(:func:`count_parameters`). A tied weight (BERT's MLM head reuses the token embedding) is one parameter, counted once.

**FLOPs** (floating-point operations) of one forward pass, counted the way PyTorch's
``torch.utils.flop_counter.FlopCounterMode`` counts them: a multiply-add is 2 FLOPs, and only matrix products and
convolutions are counted (elementwise work, biases, softmax and normalisation are small beside them)::

    Linear  d_in -> d_out on B rows:                          2 · B · d_in · d_out
    Conv2d  C_in -> C_out, k x k kernel, H_out x W_out map:   2 · B · C_out · H_out · W_out · C_in · k · k
    LSTM    D_in -> H, T steps (four gates, two products):    2 · B · T · 4H · (D_in + H)

``FlopCounterMode`` sees the matrix products of our from-scratch LSTM, but not the inside of ``nn.LSTM``'s fused
float32 kernel on a CPU (it reports 0 FLOPs for it), so :func:`count_flops` adds the LSTM formula where the counter saw
nothing (GRU and RNN layers likewise, with 3 and 1 gates).
A backward pass costs about twice the forward, so training costs about 3x the forward FLOPs per example.

**Memory for training** with Adam (:func:`training_memory`), per parameter: the weight, its gradient and Adam's two
moving averages ``m`` and ``v`` — 4 numbers, 16 bytes in float32. Mixed precision keeps a float32 master copy of the
weights beside 16-bit weights and gradients: 2 + 2 + 4 + 4 + 4 = 16 bytes as well (Rajbhandari et al., 2020, ZeRO).
The activations kept for the backward pass come on top and grow with batch size and sequence length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

GB = 1e9


def _check_module(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters of ``model`` (each shared tensor once); with ``trainable_only``, only those with
    ``requires_grad``."""
    _check_module(model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


GATES = {nn.RNN: 1, nn.GRU: 3, nn.LSTM: 4}  # matrix products per layer and step: one per gate (candidate included)


def lstm_flops(batch: int, steps: int, input_size: int, hidden_size: int, num_layers: int = 1,
               bidirectional: bool = False, gates: int = 4) -> int:
    """Forward FLOPs of an LSTM: ``2 · B · T · 4H · (D_in + H)`` per layer and direction; above the first layer
    ``D_in`` is ``H`` (``2H`` when bidirectional: both directions' outputs). ``gates=3`` counts a GRU, ``gates=1`` an
    RNN."""
    for name, value in (("batch", batch), ("steps", steps), ("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers), ("gates", gates)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        d_in = input_size if layer == 0 else hidden_size * directions
        total += directions * 2 * batch * steps * gates * hidden_size * (d_in + hidden_size)
    return total


def _tokens(module: nn.RNNBase, x) -> tuple[int, int]:
    """``(batch, steps)`` of a recurrent module's input; a packed sequence counts its real tokens as one batch row."""
    if isinstance(x, nn.utils.rnn.PackedSequence):
        return 1, int(x.batch_sizes.sum())
    if x.dim() == 2:  # unbatched (T, D_in)
        return 1, x.shape[0]
    return (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])


def count_flops(model: nn.Module, *inputs, **kwargs) -> int:
    """Forward FLOPs of ``model(*inputs, **kwargs)``, counted by ``FlopCounterMode`` (matrix products and
    convolutions, a multiply-add = 2). Where a recurrent layer (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) runs as one fused
    kernel — float32 on a CPU, cuDNN on a GPU — the counter sees nothing inside it; :func:`lstm_flops`'s formula is then
    added for that call (and not when the counter did see its products, e.g. in float64). Runs the model once, in eval
    mode and under ``torch.no_grad()``, so batch-norm statistics are left as they were."""
    from .train import eval_mode

    _check_module(model)
    if not inputs and not kwargs:
        raise ValueError("count_flops needs the model's inputs, e.g. count_flops(model, torch.zeros(1, 1, 28, 28))")
    counter = FlopCounterMode(display=False)
    extra, seen_before = [], {}

    def before(module, args, kw):
        seen_before[module] = counter.get_total_flops()

    def after(module, args, kw, output):
        if counter.get_total_flops() != seen_before[module]:
            return  # the counter saw this layer's matrix products
        batch, steps = _tokens(module, args[0] if args else kw["input"])
        extra.append(lstm_flops(batch, steps, module.input_size, module.hidden_size, module.num_layers,
                                module.bidirectional, GATES[type(module)]))

    recurrent = [m for m in model.modules() if type(m) in GATES]
    if any(getattr(m, "proj_size", 0) for m in recurrent):
        raise ValueError("count_flops does not count LSTMs with proj_size > 0 (their formula differs)")
    hooks = [h for m in recurrent for h in (m.register_forward_pre_hook(before, with_kwargs=True),
                                            m.register_forward_hook(after, with_kwargs=True))]
    try:
        with torch.no_grad(), eval_mode(model), counter:
            model(*inputs, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    return counter.get_total_flops() + sum(extra)


@dataclass
class TrainingMemory:
    """Bytes needed to train with Adam, by part (activations not included)."""
    weights: float
    gradients: float
    adam: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.adam


def training_memory(parameters: int, mixed_precision: bool = False) -> TrainingMemory:
    """Memory for weights, gradients and Adam's state of a model with ``parameters`` parameters.

    float32: 4 + 4 + (4 + 4) bytes per parameter. Mixed precision: 16-bit weights and gradients (2 + 2) and, in the
    optimizer, a float32 master copy of the weights with Adam's m and v (4 + 4 + 4)."""
    if (isinstance(parameters, bool) or not isinstance(parameters, (int, float)) or not math.isfinite(parameters)
            or parameters < 0):
        raise ValueError(f"parameters must be a non-negative number, got {parameters!r}")
    if mixed_precision:
        return TrainingMemory(weights=2.0 * parameters, gradients=2.0 * parameters, adam=12.0 * parameters)
    return TrainingMemory(weights=4.0 * parameters, gradients=4.0 * parameters, adam=8.0 * parameters)


# Published sizes: as the papers that introduced the models report them, except ResNet-50's (its paper gives FLOPs,
# not parameters: 25.6 M is the count of the standard ImageNet model, as its source says).
PUBLISHED = [
    # name, parameters, year, source
    ("ResNet-50", 25.6e6, 2015, "He et al. 2015; the standard ImageNet model's count"),
    ("BERT-base", 110e6, 2018, "Devlin et al. 2018"),
    ("BERT-large", 340e6, 2018, "Devlin et al. 2018"),
    ("GPT-2", 1.5e9, 2019, "Radford et al. 2019"),
    ("GPT-3", 175e9, 2020, "Brown et al. 2020"),
]
