"""The Transformer (notebook 06): attention and a feed-forward network per position, no recurrence at all.

Vaswani et al., 2017, "Attention is all you need". Every position of a sequence ``x (B, T, d_model)`` is updated by
two *sub-layers*, each wrapped in a residual connection and a layer normalisation:

    self-attention:   every position looks at every (allowed) position of the same sequence,
                      MultiHead(x, x, x) from ``attention.MultiHeadAttention``
    feed-forward:     FFN(x) = act(x W_1^T + b_1) W_2^T + b_2, the same small MLP applied to each position alone
                      (W_1 (d_ff, d_model), W_2 (d_model, d_ff); act = ReLU as in the paper, or GELU)

Two orders of the residual and the normalisation, both in use:

    post-LN (the paper, ``norm_first=False``):   x = LayerNorm(x + Sublayer(x))
    pre-LN  (GPT-2 and most models since, ``norm_first=True``):   x = x + Sublayer(LayerNorm(x))

Pre-LN keeps a clean residual path from the input to the output (the sum is never normalised), which makes deep
stacks easier to train; its stack therefore ends with one more LayerNorm. ``LayerNorm(x) = (x - mean) / sqrt(var +
eps) * gamma + beta``, mean and variance over the ``d_model`` features of each position.

The **decoder** layer has a third sub-layer between the two: encoder–decoder attention ("cross-attention"), whose
queries come from the decoder and whose keys and values are the encoder's output, the *memory*. Its self-attention
is masked causally: position t may look at positions 0..t only, so teacher forcing trains every step in one pass.

Attention has no notion of order: without **positional encodings** an encoder is permutation-equivariant (permute
the input tokens and the outputs are permuted the same way). The paper adds a fixed sinusoid to every embedding,

    PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

and reports that learned position embeddings work as well. Both are here.

**Masks** are boolean with ``nn.MultiheadAttention``'s meaning: ``True`` = may not attend. A padding mask is
``(B, T_k)``; a mask shared by the batch (causal) is ``(T_q, T_k)``. A query whose every key is masked raises
``ValueError`` (PyTorch would return NaN).

**No dropout** anywhere: the course compares its layers with PyTorch's in eval mode (where dropout does nothing),
and its small models train for too few steps to over-fit. ``from_torch`` copies the weights of a layer built with
dropout, and the two agree in eval mode.

Shapes are batch first, as ``nn.TransformerEncoderLayer(batch_first=True)``. Every layer also returns its attention
weights, per head, for the notebook's attention maps.

In this file, in the notebook's order: :func:`sinusoidal_encoding`, :class:`SinusoidalPositionalEncoding`,
:class:`LearnedPositionalEncoding`, :func:`causal_mask`, :class:`TransformerEncoderLayer`,
:class:`TransformerDecoderLayer`, and :class:`Seq2SeqTransformer` (with :class:`TransformerConfig`), the encoder–decoder
for notebook 05's tasks, which ``seq2seq``'s loss, metrics, ``decode_accuracy`` and ``translate`` take as they are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from . import train
from .attention import MultiHeadAttention
from .mlp import MAX_PARAMETERS, _check_budget
from .mlp import _check_size as _check_count
from .seq2seq import BOS, EOS, MAX_LEN, PAD, Seq2Seq

ACTIVATIONS = ("relu", "gelu")


# ----------------------------------------------------------------------------------------------------------------------
# Positional encodings
# ----------------------------------------------------------------------------------------------------------------------

def sinusoidal_encoding(max_len: int, d_model: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The paper's fixed encodings, ``PE (max_len, d_model)``::

        PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
        PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

    Column pair ``(2i, 2i+1)`` is a sine and a cosine of one frequency ``w_i = 10000^(-2i/d_model)``: wavelengths
    from ``2π`` to ``10000·2π``. So ``PE[p] · PE[p+k] = Σ_i cos(k w_i)`` depends on the offset ``k`` only (for an
    even ``d_model``). ``dtype``: the default dtype unless given (computed in float64 either way).
    """
    max_len, d_model = _check_count("max_len", max_len), _check_count("d_model", d_model)
    if max_len * d_model > MAX_PARAMETERS:
        raise ValueError(f"max_len * d_model = {max_len * d_model:,} numbers is more than the course's limit of "
                         f"{MAX_PARAMETERS:,}: choose a smaller max_len")
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    column = torch.arange(d_model)  # (d_model,)
    i = column // 2  # columns 2i and 2i+1 share the frequency of pair i
    frequency = 10000.0 ** (-2.0 * i.to(torch.float64) / d_model)  # (d_model,): 1 / 10000^(2i/d_model)
    angle = position * frequency  # (max_len, 1) * (d_model,) -> (max_len, d_model)
    pe = torch.where(column % 2 == 0, torch.sin(angle), torch.cos(angle))  # (max_len, d_model)
    return pe.to(dtype or torch.get_default_dtype())


def _check_positions_input(x, d_model: int, max_len: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, T, d_model={d_model}), got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"x must have shape (B, T, d_model={d_model}) (embedded tokens, batch first), got "
                         f"{tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (embedded tokens, not ids), got {x.dtype}")
    if x.shape[1] > max_len:
        raise ValueError(f"x has T={x.shape[1]} positions but this positional encoding covers max_len={max_len}: "
                         f"build it with max_len >= {x.shape[1]}")


class SinusoidalPositionalEncoding(nn.Module):
    """``x + PE[:T]``, with the fixed :func:`sinusoidal_encoding` stored as a buffer ``pe (max_len, d_model)`` (not
    a parameter: nothing is learned; ``.to()`` converts it with the model, and it is not saved in checkpoints).

    ``forward(x (B, T, d_model))`` -> ``(B, T, d_model)``; ``T > max_len`` raises ``ValueError``.
    """

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.d_model, self.max_len = _check_count("d_model", d_model), _check_count("max_len", max_len)
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_positions_input(x, self.d_model, self.max_len)
        return x + self.pe[: x.shape[1]]  # (B, T, d) + (T, d): the same encodings for every sequence


class LearnedPositionalEncoding(nn.Module):
    """``x + P[:T]`` where ``P`` is a learned table: ``embedding = nn.Embedding(max_len, d_model)``, one vector per
    position (BERT, GPT-2). Initialised like every ``nn.Embedding``, ``N(0, 1)``: the scale of the sinusoids.

    ``forward(x (B, T, d_model))`` -> ``(B, T, d_model)``; ``T > max_len`` raises ``ValueError`` (a position the
    table has never learned).
    """

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.d_model, self.max_len = _check_count("d_model", d_model), _check_count("max_len", max_len)
        _check_budget(max_len * d_model, "this positional encoding")
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_positions_input(x, self.d_model, self.max_len)
        positions = torch.arange(x.shape[1], device=x.device)  # (T,): 0, 1, ..., T-1
        return x + self.embedding(positions)  # (B, T, d) + (T, d)


# ----------------------------------------------------------------------------------------------------------------------
# Masks and input checks shared by the two layers
# ----------------------------------------------------------------------------------------------------------------------

def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(T, T)`` boolean, ``True`` above the diagonal: query ``i`` may not attend to keys ``j > i`` (the future).

    ``True`` = may not attend, as ``nn.MultiheadAttention``. PyTorch's float form of the same mask is
    ``nn.Transformer.generate_square_subsequent_mask(T)`` (``-inf`` where ours is ``True``, 0 elsewhere).
    """
    T = _check_count("T", T)
    return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)


def _check_sequence(name: str, x, d_model: int, weight: torch.Tensor) -> None:
    """``x`` must be a ``(B, T, d_model)`` float tensor with ``T >= 1``, of the parameters' dtype and device."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, T, d_model={d_model}), got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (B, T, d_model={d_model}) (batch first), got {tuple(x.shape)}"
                         + (f"; for one sequence use {name}[None]" if x.dim() == 2 and x.shape[-1] == d_model
                            else ""))
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): it needs at least one sequence and one position")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of vectors, got {x.dtype}: token ids are embedded "
                        f"first (nn.Embedding)")
    if x.dtype != weight.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the layer's parameters are {weight.dtype}: convert one of "
                        f"them, e.g. {name}.to({weight.dtype}) or layer.to({x.dtype})")
    if x.device != weight.device:
        raise ValueError(f"{name} is on {x.device} but the layer is on {weight.device}: move it with "
                         f"{name}.to({str(weight.device)!r})")


def _check_mask(name: str, mask, shape: tuple[int, ...], hint: str) -> None:
    """A boolean mask (``True`` = may not attend) that broadcasts to ``shape``; ``hint`` names the usual shapes.
    (Rows with no key left are found by :func:`_check_padding` and :func:`_check_rows`.)"""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.bool tensor ({hint}, True = may not attend), got "
                        f"{type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must have dtype torch.bool (True = may not attend), got {mask.dtype}. From a float "
                        f"mask of 0 and -inf use `{name} == float('-inf')`; from a 0/1 mask where 1 = real token use "
                        f"`{name} == 0`")
    fits = mask.dim() <= len(shape)
    if fits:
        try:
            mask.expand(*shape)
        except RuntimeError:  # the sizes do not broadcast
            fits = False
    if not fits:
        raise ValueError(f"{name} of shape {tuple(mask.shape)} does not fit: expected {hint}")


def _check_padding(name: str, mask, B: int, T: int) -> None:
    """A ``(B, T)`` boolean padding mask (``True`` = padding) that leaves every sequence at least one position."""
    if mask is None:
        return
    _check_mask(name, mask, (B, T), f"(B, T) = ({B}, {T}), True = padding")
    if tuple(mask.shape) != (B, T):
        raise ValueError(f"{name} must have shape (B, T) = ({B}, {T}), True = padding, got {tuple(mask.shape)}")
    all_padding = mask.all(dim=1)  # (B,)
    if bool(all_padding.any()):
        row = int(all_padding.nonzero()[0])
        raise ValueError(f"{name} marks every position of batch entry {row} as padding: attention would have no key "
                         f"to look at. Every sequence needs at least one real position (False) in {name}")


def _check_rows(mask_name: str, mask, padding_name: str, padding, shape: tuple[int, ...]) -> None:
    """No query may have every key hidden by ``mask`` and ``padding`` together (its softmax would be NaN)."""
    if mask is None:
        return
    hidden = mask.expand(*shape)  # (B, h, T_q, T_k)
    if padding is not None:
        hidden = hidden | padding[:, None, None, :]  # (B, 1, 1, T_k): the same for every head and query
    empty = hidden.all(dim=-1)  # (B, h, T_q): True where a query sees no key
    if bool(empty.any()):
        b, _, q = empty.nonzero()[0].tolist()
        both = f" together with {padding_name}" if padding is not None else ""
        raise ValueError(f"{mask_name}{both} hides every key from query {q} of batch entry {b}: a fully masked row "
                         f"has no softmax (it would be NaN). Leave at least one key visible to every query (a causal "
                         f"mask with padding on the right always leaves key 0)")


def _check_layer_sizes(d_model, nhead, dim_feedforward, activation, layer_norm_eps, norm_first, bias,
                       num_attentions: int, num_norms: int) -> tuple[int, int, int]:
    d_model, nhead = _check_count("d_model", d_model), _check_count("nhead", nhead)
    dim_feedforward = _check_count("dim_feedforward", dim_feedforward)
    if d_model % nhead:
        raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead}): each head gets d_model / nhead "
                         f"dimensions; e.g. nhead={max(h for h in range(1, nhead + 1) if d_model % h == 0)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be the string 'relu' or 'gelu', got {activation!r}")
    if isinstance(layer_norm_eps, bool) or not isinstance(layer_norm_eps, (int, float)) or not layer_norm_eps > 0:
        raise ValueError(f"layer_norm_eps must be a number > 0 (e.g. 1e-5), got {layer_norm_eps!r}")
    for name, flag in (("norm_first", norm_first), ("bias", bias)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    _check_budget(_layer_parameters(d_model, dim_feedforward, num_attentions, num_norms), "this layer")
    return d_model, nhead, dim_feedforward


def _layer_parameters(d_model: int, dim_feedforward: int, num_attentions: int, num_norms: int) -> int:
    """The parameters of one layer with biases (checked before any memory is taken)."""
    return (num_attentions * 4 * (d_model * d_model + d_model)  # W_q, W_k, W_v, W_o and their biases
            + 2 * d_model * dim_feedforward + dim_feedforward + d_model  # W_1, b_1, W_2, b_2
            + num_norms * 2 * d_model)  # gamma, beta of each LayerNorm


# ----------------------------------------------------------------------------------------------------------------------
# The encoder layer
# ----------------------------------------------------------------------------------------------------------------------

class TransformerEncoderLayer(nn.Module):
    """Self-attention, then the position-wise feed-forward network, each with a residual and a LayerNorm::

        post-LN (norm_first=False, the paper):      x = norm1(x + SelfAttn(x))
                                                    x = norm2(x + FFN(x))
        pre-LN  (norm_first=True, GPT-2):           x = x + SelfAttn(norm1(x))
                                                    x = x + FFN(norm2(x))

        SelfAttn(x) = MultiHead(x, x, x)            FFN(x) = act(x W_1^T + b_1) W_2^T + b_2

    Parameters, named as in ``nn.TransformerEncoderLayer``: ``self_attn`` (an ``attention.MultiHeadAttention``),
    ``linear1`` (``W_1``, d_model -> dim_feedforward), ``linear2`` (``W_2``, back to d_model), ``norm1``, ``norm2``.
    No dropout (see the module's doc). ``bias=False`` drops the biases of every linear map and LayerNorm, as PyTorch.

    ``forward(x (B, T, d_model), key_padding_mask=None, attn_mask=None)`` -> ``(out (B, T, d_model), weights (B,
    nhead, T, T))``. ``key_padding_mask (B, T)``, ``attn_mask (T, T)`` (or broadcast to ``(B, nhead, T, T)``), both
    boolean, ``True`` = may not attend. ``from_torch`` / ``to_torch`` copy ``nn.TransformerEncoderLayer(...,
    batch_first=True)``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, norm_first: bool = False,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, bias: bool = True):
        super().__init__()
        d_model, nhead, dim_feedforward = _check_layer_sizes(d_model, nhead, dim_feedforward, activation,
                                                             layer_norm_eps, norm_first, bias, 1, 2)
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.norm_first, self.activation, self.layer_norm_eps = norm_first, activation, float(layer_norm_eps)
        self.self_attn = MultiHeadAttention(d_model, nhead, bias=bias)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)  # W_1, b_1
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)  # W_2, b_2
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, activation={self.activation!r}"

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``FFN(x) = act(x W_1^T + b_1) W_2^T + b_2``, the same for every position: ``(B, T, d) -> (B, T, d)``."""
        hidden = self.linear1(x)  # (B, T, dim_feedforward)
        hidden = F.relu(hidden) if self.activation == "relu" else F.gelu(hidden)
        return self.linear2(hidden)  # (B, T, d_model)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``need_weights=False`` (training) skips storing the attention weights and returns ``(out, None)``: the heads
        then run on PyTorch's fused attention (see ``attention.MultiHeadAttention``)."""
        _check_sequence("x", x, self.d_model, self.norm1.weight)  # a LayerNorm's: never quantized (notebook 11)
        B, T, _ = x.shape
        _check_padding("key_padding_mask", key_padding_mask, B, T)
        _check_mask("attn_mask", attn_mask, (B, self.nhead, T, T), f"(T, T) = ({T}, {T}) for one mask shared by the "
                    f"batch (e.g. causal_mask(T)), or a shape that broadcasts to (B, nhead, T, T) = "
                    f"({B}, {self.nhead}, {T}, {T})")
        _check_rows("attn_mask", attn_mask, "key_padding_mask", key_padding_mask, (B, self.nhead, T, T))
        if self.norm_first:
            h = self.norm1(x)
            attended, weights = self.self_attn(h, h, h, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                                               need_weights=need_weights)
            x = x + attended
            x = x + self.feed_forward(self.norm2(x))
        else:
            attended, weights = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                                               need_weights=need_weights)
            x = self.norm1(x + attended)
            x = self.norm2(x + self.feed_forward(x))
        return x, weights  # (B, T, d_model), (B, nhead, T, T)

    # -- PyTorch's layout ------------------------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.TransformerEncoderLayer) -> "TransformerEncoderLayer":
        """A copy of ``nn.TransformerEncoderLayer``'s weights (same dtype and device). The layer must be batch first,
        with a ReLU or exact GELU; its dropout is not copied (ours has none: the two agree in eval mode)."""
        if not isinstance(module, nn.TransformerEncoderLayer):
            raise TypeError(f"TransformerEncoderLayer.from_torch needs an nn.TransformerEncoderLayer, got "
                            f"{type(module).__name__}")
        options = _torch_options(module, ("norm1", "norm2"))
        ours = cls(**options).to(device=module.linear1.weight.device, dtype=module.linear1.weight.dtype)
        with torch.no_grad():
            ours.self_attn.load_state_dict(MultiHeadAttention.from_torch(module.self_attn).state_dict())
            for name in ("linear1", "linear2", "norm1", "norm2"):
                getattr(ours, name).load_state_dict(getattr(module, name).state_dict())
        return ours

    def to_torch(self) -> nn.TransformerEncoderLayer:
        """An ``nn.TransformerEncoderLayer(..., dropout=0.0, batch_first=True)`` with these weights (a copy)."""
        weight = self.linear1.weight
        module = nn.TransformerEncoderLayer(self.d_model, self.nhead, self.dim_feedforward, dropout=0.0,
                                           activation=self.activation, layer_norm_eps=self.layer_norm_eps,
                                           batch_first=True, norm_first=self.norm_first,
                                           bias=self.linear1.bias is not None, device=weight.device,
                                           dtype=weight.dtype)
        with torch.no_grad():
            module.self_attn.load_state_dict(self.self_attn.to_torch().state_dict())
            for name in ("linear1", "linear2", "norm1", "norm2"):
                getattr(module, name).load_state_dict(getattr(self, name).state_dict())
        return module


def _torch_options(module, norms: tuple[str, ...]) -> dict:
    """The constructor arguments of our layer that reproduce PyTorch's ``module``; refuse what we do not implement."""
    if not module.self_attn.batch_first:
        raise ValueError(f"this {type(module).__name__} has batch_first=False (inputs (T, B, d)); ours are batch "
                         f"first: build it with batch_first=True")
    act = module.activation
    if act is F.relu or isinstance(act, nn.ReLU):
        activation = "relu"
    elif act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        activation = "gelu"
    else:
        name = getattr(act, "__name__", act)  # a function's name, or a module's repr
        raise ValueError(f"activation {name!r} is not supported: ours are 'relu' and 'gelu' (exact, not "
                         f"approximate='tanh'); build the PyTorch layer with activation='relu' or 'gelu'")
    norm_modules = [getattr(module, n) for n in norms]
    if any(not isinstance(n, nn.LayerNorm) or not n.elementwise_affine for n in norm_modules):
        raise ValueError("only LayerNorms with elementwise_affine=True (the default) can be copied")
    if len({n.eps for n in norm_modules}) != 1:
        raise ValueError(f"the LayerNorms have different eps {[n.eps for n in norm_modules]}: ours share one "
                         f"layer_norm_eps")
    biases = [module.linear1.bias, module.linear2.bias, module.self_attn.in_proj_bias,
              *(n.bias for n in norm_modules)]
    if len({b is None for b in biases}) != 1:
        raise ValueError("some of the layer's linear maps and LayerNorms have biases and some do not: ours have all "
                         "(bias=True) or none (bias=False)")
    return {"d_model": module.linear1.in_features, "nhead": module.self_attn.num_heads,
            "dim_feedforward": module.linear1.out_features, "norm_first": bool(module.norm_first),
            "activation": activation, "layer_norm_eps": norm_modules[0].eps, "bias": biases[0] is not None}


# ----------------------------------------------------------------------------------------------------------------------
# The decoder layer
# ----------------------------------------------------------------------------------------------------------------------

class TransformerDecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder's output (the *memory*), feed-forward::

        post-LN (norm_first=False, the paper):      x = norm1(x + SelfAttn(x))           causal: t sees 0..t
                                                    x = norm2(x + CrossAttn(x, memory))
                                                    x = norm3(x + FFN(x))
        pre-LN  (norm_first=True):                  x = x + SelfAttn(norm1(x))
                                                    x = x + CrossAttn(norm2(x), memory)
                                                    x = x + FFN(norm3(x))

        CrossAttn(x, m) = MultiHead(Q=x, K=m, V=m): queries from the decoder, keys and values from the encoder.

    (Some texts call cross-attention "cross-modal"; in a translation model both sides are text: it is encoder–decoder
    attention.) Parameters, named as in ``nn.TransformerDecoderLayer`` except ``cross_attn`` (PyTorch:
    ``multihead_attn``): ``self_attn``, ``cross_attn``, ``linear1``, ``linear2``, ``norm1``, ``norm2``, ``norm3``.

    ``forward(x (B, T, d_model), memory (B, S, d_model), tgt_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None)`` -> ``(out (B, T, d_model), self_weights (B, nhead, T, T), cross_weights (B, nhead,
    T, S))``. ``tgt_mask (T, T)`` (usually :func:`causal_mask`), ``tgt_key_padding_mask (B, T)``,
    ``memory_key_padding_mask (B, S)``: boolean, ``True`` = may not attend.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, norm_first: bool = False,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, bias: bool = True):
        super().__init__()
        d_model, nhead, dim_feedforward = _check_layer_sizes(d_model, nhead, dim_feedforward, activation,
                                                             layer_norm_eps, norm_first, bias, 2, 3)
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.norm_first, self.activation, self.layer_norm_eps = norm_first, activation, float(layer_norm_eps)
        self.self_attn = MultiHeadAttention(d_model, nhead, bias=bias)
        self.cross_attn = MultiHeadAttention(d_model, nhead, bias=bias)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)  # W_1, b_1
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)  # W_2, b_2
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, activation={self.activation!r}"

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``FFN(x) = act(x W_1^T + b_1) W_2^T + b_2`` for every position: ``(B, T, d) -> (B, T, d)``."""
        hidden = self.linear1(x)  # (B, T, dim_feedforward)
        hidden = F.relu(hidden) if self.activation == "relu" else F.gelu(hidden)
        return self.linear2(hidden)  # (B, T, d_model)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor | None = None,
                tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        weight = self.norm1.weight  # a LayerNorm's: never quantized (notebook 11)
        _check_sequence("x", x, self.d_model, weight)
        _check_sequence("memory", memory, self.d_model, weight)
        B, T, _ = x.shape
        S = memory.shape[1]
        if memory.shape[0] != B:
            raise ValueError(f"x and memory must have the same batch size B, got {B} and {memory.shape[0]}")
        _check_mask("tgt_mask", tgt_mask, (B, self.nhead, T, T), f"(T, T) = ({T}, {T}), e.g. causal_mask(T), or a "
                    f"shape that broadcasts to (B, nhead, T, T) = ({B}, {self.nhead}, {T}, {T})")
        _check_padding("tgt_key_padding_mask", tgt_key_padding_mask, B, T)
        _check_rows("tgt_mask", tgt_mask, "tgt_key_padding_mask", tgt_key_padding_mask, (B, self.nhead, T, T))
        _check_padding("memory_key_padding_mask", memory_key_padding_mask, B, S)
        if self.norm_first:
            h = self.norm1(x)
            attended, self_weights = self.self_attn(h, h, h, key_padding_mask=tgt_key_padding_mask,
                                                    attn_mask=tgt_mask)
            x = x + attended
            attended, cross_weights = self.cross_attn(self.norm2(x), memory, memory,
                                                      key_padding_mask=memory_key_padding_mask)
            x = x + attended
            x = x + self.feed_forward(self.norm3(x))
        else:
            attended, self_weights = self.self_attn(x, x, x, key_padding_mask=tgt_key_padding_mask,
                                                    attn_mask=tgt_mask)
            x = self.norm1(x + attended)
            attended, cross_weights = self.cross_attn(x, memory, memory, key_padding_mask=memory_key_padding_mask)
            x = self.norm2(x + attended)
            x = self.norm3(x + self.feed_forward(x))
        return x, self_weights, cross_weights  # (B, T, d), (B, h, T, T), (B, h, T, S)

    # -- PyTorch's layout ------------------------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.TransformerDecoderLayer) -> "TransformerDecoderLayer":
        """A copy of ``nn.TransformerDecoderLayer``'s weights (its ``multihead_attn`` becomes our ``cross_attn``).
        Batch first, ReLU or exact GELU; dropout is not copied (the two agree in eval mode)."""
        if not isinstance(module, nn.TransformerDecoderLayer):
            raise TypeError(f"TransformerDecoderLayer.from_torch needs an nn.TransformerDecoderLayer, got "
                            f"{type(module).__name__}")
        options = _torch_options(module, ("norm1", "norm2", "norm3"))
        if (module.multihead_attn.in_proj_bias is None) != (not options["bias"]):
            raise ValueError("the cross-attention's biases differ from the rest of the layer's: ours have all "
                             "(bias=True) or none (bias=False)")
        ours = cls(**options).to(device=module.linear1.weight.device, dtype=module.linear1.weight.dtype)
        with torch.no_grad():
            ours.self_attn.load_state_dict(MultiHeadAttention.from_torch(module.self_attn).state_dict())
            ours.cross_attn.load_state_dict(MultiHeadAttention.from_torch(module.multihead_attn).state_dict())
            for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
                getattr(ours, name).load_state_dict(getattr(module, name).state_dict())
        return ours

    def to_torch(self) -> nn.TransformerDecoderLayer:
        """An ``nn.TransformerDecoderLayer(..., dropout=0.0, batch_first=True)`` with these weights (a copy)."""
        weight = self.linear1.weight
        module = nn.TransformerDecoderLayer(self.d_model, self.nhead, self.dim_feedforward, dropout=0.0,
                                           activation=self.activation, layer_norm_eps=self.layer_norm_eps,
                                           batch_first=True, norm_first=self.norm_first,
                                           bias=self.linear1.bias is not None, device=weight.device,
                                           dtype=weight.dtype)
        with torch.no_grad():
            module.self_attn.load_state_dict(self.self_attn.to_torch().state_dict())
            module.multihead_attn.load_state_dict(self.cross_attn.to_torch().state_dict())
            for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
                getattr(module, name).load_state_dict(getattr(self, name).state_dict())
        return module


# ----------------------------------------------------------------------------------------------------------------------
# An encoder–decoder for notebook 05's tasks
# ----------------------------------------------------------------------------------------------------------------------

POSITIONAL = ("sinusoidal", "learned", None)


@dataclass
class TransformerConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2  # encoder layers, and as many decoder layers
    dim_feedforward: int = 256
    max_len: int = 64  # the longest source or target (<= seq2seq.MAX_LEN): the positions the encodings cover
    norm_first: bool = True  # pre-LN; False is the paper's post-LN
    positional: str | None = "sinusoidal"  # "sinusoidal", "learned", or None (no positions: an experiment)


def _positional(kind: str | None, d_model: int, max_len: int) -> nn.Module | None:
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(d_model, max_len)
    if kind == "learned":
        return LearnedPositionalEncoding(d_model, max_len)
    return None


def _model_parameters(config: TransformerConfig) -> int:
    """The parameters of ``Seq2SeqTransformer(config)``, counted before it is built."""
    d, L, ff = config.d_model, config.num_layers, config.dim_feedforward
    count = (config.src_vocab_size + config.tgt_vocab_size) * d  # the two embeddings
    count += 2 * config.max_len * d if config.positional == "learned" else 0  # one position table per side
    count += L * (_layer_parameters(d, ff, 1, 2) + _layer_parameters(d, ff, 2, 3))  # encoder and decoder layers
    count += 2 * 2 * d if config.norm_first else 0  # encoder_norm, decoder_norm
    return count + (d + 1) * config.tgt_vocab_size  # the output layer


class Seq2SeqTransformer(nn.Module):
    """The Transformer encoder–decoder, a drop-in for ``seq2seq.Seq2Seq`` (same tokens, same helpers)::

        memory = Encoder(PE(embed(src)))                     num_layers x TransformerEncoderLayer
        h      = Decoder(PE(embed(y_in)), memory)            num_layers x TransformerDecoderLayer, causal
        logits = h W_out^T + b_out                           (B, T, V)

    ``y_in`` is the target shifted right: ``<s>`` then ``tgt[:, :-1]`` (teacher forcing, as ``Seq2Seq.forward``);
    thanks to the causal mask one pass gives every step's logits. Sources and targets are padded with ``PAD`` on the
    right; the padding masks come from ``PAD``. With ``norm_first=True`` (pre-LN) each stack ends with a LayerNorm
    (``encoder_norm``, ``decoder_norm``), as GPT-2 and ``nn.Transformer`` do.

    Embeddings are *not* multiplied by ``sqrt(d_model)``: the paper does it because it shares its embedding matrix
    with the output layer (small weights); ours are separate ``nn.Embedding``s, initialised ``N(0, 1)``, already on
    the scale of the sinusoids (and nothing is ever scaled by the sequence length).

    ``forward(src (B, S), tgt (B, T))`` -> ``logits (B, T, tgt_vocab_size)``; ``encode``, ``decode`` and
    ``greedy_decode`` return the attention weights of every layer and head.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
        for name in ("src_vocab_size", "tgt_vocab_size", "d_model", "num_heads", "num_layers", "dim_feedforward",
                     "max_len"):
            _check_count(f"config.{name}", getattr(config, name))
        if config.max_len > MAX_LEN:
            raise ValueError(f"config.max_len must be <= {MAX_LEN} (seq2seq.MAX_LEN, the longest sequence a course "
                             f"model reads), got {config.max_len}")
        if config.positional not in POSITIONAL:
            raise ValueError(f"config.positional must be 'sinusoidal', 'learned' or None, got {config.positional!r}")
        if config.d_model % config.num_heads:
            raise ValueError(f"config.d_model ({config.d_model}) must be divisible by config.num_heads "
                             f"({config.num_heads}): each head gets d_model / num_heads dimensions")
        if not isinstance(config.norm_first, bool):
            raise TypeError(f"config.norm_first must be True or False, got {config.norm_first!r}")
        _check_budget(_model_parameters(config), "this Seq2SeqTransformer")
        d, L, ff = config.d_model, config.num_layers, config.dim_feedforward
        self.config = config
        self.src_embed = nn.Embedding(config.src_vocab_size, d, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(config.tgt_vocab_size, d, padding_idx=PAD)
        self.src_pos = _positional(config.positional, d, config.max_len)
        self.tgt_pos = _positional(config.positional, d, config.max_len)
        self.encoder_layers = nn.ModuleList(
            TransformerEncoderLayer(d, config.num_heads, ff, norm_first=config.norm_first) for _ in range(L))
        self.decoder_layers = nn.ModuleList(
            TransformerDecoderLayer(d, config.num_heads, ff, norm_first=config.norm_first) for _ in range(L))
        self.encoder_norm = nn.LayerNorm(d) if config.norm_first else None
        self.decoder_norm = nn.LayerNorm(d) if config.norm_first else None
        self.out = nn.Linear(d, config.tgt_vocab_size)

    # -- the two halves --------------------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``src (B, S)`` ids -> ``memory (B, S, d_model)`` and every layer's self-attention ``weights (B, layers,
        heads, S, S)``. Padding (``PAD``, on the right) is masked as a key."""
        self._check_ids(src, "src", self.config.src_vocab_size)
        padding = src == PAD  # (B, S), True = padding
        if bool(padding.all(1).any()):
            raise ValueError("src has a row of padding only: every source needs at least one token")
        if bool(padding[:, 0].any()) or bool((~padding[:, 1:] & padding[:, :-1]).any()):
            raise ValueError("src must be padded on the right only (use seq2seq.pad_batch)")
        x = self.src_embed(src)  # (B, S, d_model)
        if self.src_pos is not None:
            x = self.src_pos(x)
        weights = []
        for layer in self.encoder_layers:
            x, w = layer(x, key_padding_mask=padding)  # (B, S, d), (B, h, S, S)
            weights.append(w)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)
        return x, torch.stack(weights, dim=1)  # (B, S, d), (B, layers, h, S, S)

    def decode(self, y_in: torch.Tensor, memory: torch.Tensor, src_padding: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoder on its inputs ``y_in (B, T)`` (``<s>`` then the previous tokens) -> ``logits (B, T, V)``,
        ``self_weights (B, layers, heads, T, T)`` and ``cross_weights (B, layers, heads, T, S)``.

        ``memory (B, S, d_model)`` is :meth:`encode`'s output, ``src_padding (B, S)`` is ``src == PAD``. Position t
        sees ``y_in[:, :t+1]`` only (causal mask), and no padding.
        """
        self._check_ids(y_in, "y_in", self.config.tgt_vocab_size)
        T = y_in.shape[1]
        x = self.tgt_embed(y_in)  # (B, T, d_model)
        if self.tgt_pos is not None:
            x = self.tgt_pos(x)
        mask = causal_mask(T, device=y_in.device)  # (T, T), True above the diagonal
        self_weights, cross_weights = [], []
        for layer in self.decoder_layers:
            x, w_self, w_cross = layer(x, memory, tgt_mask=mask, tgt_key_padding_mask=y_in == PAD,
                                       memory_key_padding_mask=src_padding)  # (B, T, d), (B,h,T,T), (B,h,T,S)
            self_weights.append(w_self)
            cross_weights.append(w_cross)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return self.out(x), torch.stack(self_weights, dim=1), torch.stack(cross_weights, dim=1)

    # -- training and decoding -------------------------------------------------------------------------------------
    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``src (B, S)``, ``tgt (B, T)`` (ending in ``</s>``, padded) -> ``logits (B, T, V)``.

        The decoder's input at step t is ``<s>`` for t = 0 and the true ``tgt[:, t-1]`` after that; the causal mask
        keeps step t from seeing ``tgt[:, t:]``.
        """
        self._check_ids(src, "src", self.config.src_vocab_size)
        self._check_ids(tgt, "tgt", self.config.tgt_vocab_size)
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(f"src and tgt batch sizes differ: {src.shape[0]} and {tgt.shape[0]}")
        bos = torch.full_like(tgt[:, :1], BOS)  # (B, 1)
        y_in = torch.cat([bos, tgt[:, :-1]], dim=1)  # (B, T): shifted right by one
        memory, _ = self.encode(src)
        logits, _, _ = self.decode(y_in, memory, src == PAD)
        return logits  # (B, T, V)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int, uniform_attention: bool = False):
        """Decode ``src (B, S)`` feeding back the most likely token, for ``max_len`` steps at most.

        Returns ``tokens (B, T)`` (each row ends at its first ``</s>``, later positions are ``PAD``; ``<pad>`` and
        ``<s>`` are never output; it stops when every row has ended) and ``weights (B, layers, heads, T, S)``: the
        cross-attention that produced each output token, each row summing to 1 over the real source tokens, zeros
        after a row's end. Each step re-runs the decoder on the whole prefix (simple; notebook 07's KV cache is the
        fast way). ``uniform_attention`` exists for ``seq2seq``'s signature only: ``True`` raises ``ValueError``.
        """
        if uniform_attention:
            raise ValueError("uniform_attention=True is not supported by Seq2SeqTransformer: it has many attention "
                             "maps per step (every layer and head), not one to replace; use uniform_attention=False")
        longest = min(MAX_LEN, self.config.max_len)
        if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= longest:
            raise ValueError(f"max_len must be an integer in [1, {longest}] (config.max_len: the positions this "
                             f"model covers), got {max_len!r}")
        with train.eval_mode(self):
            memory, _ = self.encode(src)
            src_padding = src == PAD  # (B, S)
            B = src.shape[0]
            y_in = torch.full((B, 1), BOS, dtype=torch.long, device=src.device)  # (B, 1): <s>
            done = torch.zeros(B, dtype=torch.bool, device=src.device)
            tokens, rows = [], []
            for _ in range(max_len):
                logits, _, cross = self.decode(y_in, memory, src_padding)  # (B, t, V), (B, L, h, t, S)
                step = logits[:, -1].clone()  # (B, V): the newest position only
                step[:, :EOS] = float("-inf")  # <pad> and <s> are never outputs
                y = step.argmax(-1)  # (B,)
                w = cross[:, :, :, -1]  # (B, L, h, S): the attention that produced y
                tokens.append(torch.where(done, torch.full_like(y, PAD), y))
                rows.append(torch.where(done[:, None, None, None], torch.zeros_like(w), w))
                done = done | (y == EOS)
                if bool(done.all()):
                    break
                y_in = torch.cat([y_in, y[:, None]], dim=1)  # (B, t + 1)
        return torch.stack(tokens, 1), torch.stack(rows, 3)  # (B, T), (B, L, h, T, S)

    def _check_ids(self, ids, name: str, vocab_size: int) -> None:
        Seq2Seq._check_ids(ids, name, vocab_size)  # int64 (B, length), not empty, ids in the vocabulary
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"{name} has length {ids.shape[1]} but this model's positions go up to config.max_len="
                             f"{self.config.max_len}: build it with TransformerConfig(..., max_len={ids.shape[1]}) "
                             f"(at most {MAX_LEN})")
