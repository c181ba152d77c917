"""Making a trained model smaller or cheaper: quantization, pruning, knowledge distillation (notebook 11).

**Quantization** stores a weight matrix as 8-bit integers and one float scale. Symmetric, per tensor
(:func:`quantize_int8`)::

    s = max |W| / 127          q = clamp(round(W / s), -127, 127)  (int8)          W ≈ s · q   (:func:`dequantize`)

Rounding moves each weight by at most s/2. *Dynamic* quantization (:func:`quantize_dynamic`) does this to the weights
of every ``nn.Linear`` and ``nn.LSTM`` once, and to each layer's input on the fly at run time, so the matrix products
run in int8. It uses ``torch.ao.quantization.quantize_dynamic``: in torch 2.13 it warns that it is deprecated in favour
of the ``torchao`` package, but it is the path that quantizes ``nn.LSTM`` and runs int8 kernels (fbgemm/oneDNN) on
this CPU with torch's own wheel, where ``torchao`` is aimed mainly at GPUs and does not handle ``nn.LSTM``. The warning is
silenced here and said once in notebook 11.

**Magnitude pruning** (:func:`prune_magnitude`) sets the smallest weights to zero — globally, over the weights of every
``Conv2d``/``Linear`` — with ``torch.nn.utils.prune.global_unstructured`` (L1 = absolute value), then makes the zeros
permanent. :func:`sparsity` measures the fraction of zeros. Zeros only save time with sparse kernels or hardware that
skips them; dense kernels multiply by zero just as fast.

**Knowledge distillation** (Hinton, Vinyals and Dean, 2015) trains a small *student* on a large *teacher*'s softened
probabilities as well as on the labels (:func:`distillation_loss`)::

    p_T = softmax(z_teacher / T)     q_T = softmax(z_student / T)        T: the temperature (T > 1 softens)
    loss = α · T² · KL(p_T ‖ q_T) + (1 - α) · CE(z_student, y)

The T² keeps the soft term's gradients roughly the same size whatever T is (they shrink as 1/T² otherwise).
"""
from __future__ import annotations

import copy
import io
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from .scale import _check_module


def _check_tensor(name: str, value, dims: int | None = None) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if dims is not None and value.dim() != dims:
        raise ValueError(f"{name} must have {dims} dimensions, got shape {tuple(value.shape)}")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")


# ----------------------------------------------------------------------------------------------------------------------
# Quantization
# ----------------------------------------------------------------------------------------------------------------------

def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Symmetric per-tensor int8: returns ``(q, s)`` with ``q`` an int8 tensor in [-127, 127] and ``w ≈ s · q``."""
    _check_tensor("w", w)
    if not w.is_floating_point() or w.numel() == 0:
        raise ValueError(f"w must be a non-empty float tensor, got dtype {w.dtype}, shape {tuple(w.shape)}")
    top = w.abs().max().item()
    s = top / 127 if top > 0 else 1.0  # an all-zero tensor: any scale works
    q = torch.clamp(torch.round(w / s), -127, 127).to(torch.int8)
    return q, s


def dequantize(q: torch.Tensor, s: float) -> torch.Tensor:
    """``s · q`` as float32."""
    _check_tensor("q", q)
    if q.dtype != torch.int8:
        raise TypeError(f"q must be an int8 tensor (from quantize_int8), got dtype {q.dtype}")
    return q.to(torch.float32) * s


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) whose ``nn.Linear`` and ``nn.LSTM`` layers hold int8 weights and run int8
    matrix products (PyTorch's dynamic quantization); the original is left as it was. CPU only."""
    _check_module(model)
    from torch.ao.quantization import quantize_dynamic as torch_quantize_dynamic

    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("quantize_dynamic runs on the CPU: move the model there first with model.cpu()")
    copied = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao.quantization's notice, see the module docstring
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        return torch_quantize_dynamic(copied, {nn.Linear, nn.LSTM}, dtype=torch.qint8)


def model_bytes(model: nn.Module) -> int:
    """The size of ``model``'s saved ``state_dict`` in bytes (what a checkpoint of it takes on disk), int8 layers
    included."""
    _check_module(model)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


# ----------------------------------------------------------------------------------------------------------------------
# Pruning
# ----------------------------------------------------------------------------------------------------------------------

def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every ``Conv2d`` and ``Linear`` of ``model``: the weights pruning acts on."""
    _check_module(model)
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prune_magnitude(model: nn.Module, amount: float) -> nn.Module:
    """A copy of ``model`` with the fraction ``amount`` of its Conv2d/Linear weights with the smallest absolute value
    set to zero, ranked over all those layers together (global pruning). The original is left as it was."""
    _check_module(model)
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount <= 1:
        raise ValueError(f"amount must be a fraction in [0, 1] of the weights to set to zero, got {amount!r}")
    copied = copy.deepcopy(model)
    targets = prunable(copied)
    if not targets:
        raise ValueError("model has no Conv2d or Linear layer to prune")
    channels_last = []  # torch.nn.utils.prune needs the plain layout; such weights get theirs back afterwards
    for module, name in targets:
        weight = getattr(module, name)
        if not weight.is_contiguous():
            if weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last):
                channels_last.append(module)
            weight.data = weight.data.contiguous()
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
    for module, name in targets:
        prune.remove(module, name)  # weight = weight_orig * mask, stored as a plain parameter again
    for module in channels_last:
        module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
    return copied


def sparsity(model: nn.Module) -> float:
    """The fraction of zeros among the Conv2d/Linear weights of ``model``."""
    targets = prunable(model)
    if not targets:
        raise ValueError("model has no Conv2d or Linear layer")
    zeros = sum(int((getattr(m, name) == 0).sum()) for m, name in targets)
    total = sum(getattr(m, name).numel() for m, name in targets)
    return zeros / total


# ----------------------------------------------------------------------------------------------------------------------
# Knowledge distillation
# ----------------------------------------------------------------------------------------------------------------------

def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                      temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """``α · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)) + (1 - α) · CE(z_s, y)``, averaged over the batch.

    ``student_logits`` and ``teacher_logits``: ``(B, C)``; ``y``: ``(B,)`` class indices. ``alpha = 0`` is ordinary
    training on the labels; ``alpha = 1`` learns from the teacher alone."""
    _check_tensor("student_logits", student_logits, 2)
    _check_tensor("teacher_logits", teacher_logits, 2)
    _check_tensor("y", y, 1)
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits must have the student's shape {tuple(student_logits.shape)}, got "
                         f"{tuple(teacher_logits.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class indices (torch.long), got dtype {y.dtype}")
    if not student_logits.is_floating_point():
        raise TypeError(f"student_logits must be a float tensor, got dtype {student_logits.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= student_logits.shape[1]):
        raise ValueError(f"y must hold class indices in [0, {student_logits.shape[1] - 1}], got values in "
                         f"[{int(y.min())}, {int(y.max())}]")
    if y.shape[0] != student_logits.shape[0]:
        raise ValueError(f"y must have one label per row: ({student_logits.shape[0]},), got {tuple(y.shape)}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    T = float(temperature)
    log_q = F.log_softmax(student_logits / T, dim=-1)  # (B, C)
    log_p = F.log_softmax(teacher_logits.detach() / T, dim=-1)  # (B, C); no gradient into the teacher
    soft = (log_p.exp() * (log_p - log_q)).sum(-1).mean()  # KL(p ‖ q), mean over the batch
    hard = F.cross_entropy(student_logits, y)
    return alpha * T * T * soft + (1 - alpha) * hard
