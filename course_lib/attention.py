"""Attention (notebook 05): a query looks at every key, turns the scores into weights, and takes a weighted sum.

For one query ``q`` and keys/values ``k_1..k_T``, ``v_1..v_T``:

    e_j      = score(q, k_j)                       one number per key
    alpha_j  = exp(e_j) / sum_l exp(e_l)           softmax over the keys: weights >= 0 that sum to 1
    context  = sum_j alpha_j v_j                   the weighted sum of the values

Two scores, as in the papers that introduced them:

    dot product (Luong et al., 2015):   score(q, k) = q^T k                      (q and k must have the same size d)
    additive    (Bahdanau et al., 2015): score(q, k) = v^T tanh(W_q q + W_k k)   (a small one-hidden-layer network)

Shapes (batch first): ``query (B, T_q, d_q)``, ``keys (B, T_k, d_k)``, ``values (B, T_k, d_v)`` →
``context (B, T_q, d_v)`` and ``weights (B, T_q, T_k)``; every row of ``weights`` sums to 1.

**Masks** follow ``nn.MultiheadAttention``'s convention for boolean masks: ``True`` means *may not attend* (a padding
position, a future token). A mask is a ``torch.bool`` tensor that broadcasts to ``(B, T_q, T_k)`` by PyTorch's rules: a padding mask is
``(B, 1, T_k)`` (``pad[:, None, :]``), a mask shared by the batch ``(T_q, T_k)``. Masked scores become ``-inf`` before the softmax, so
their weights are exactly 0. A query whose every key is masked has no softmax to take: that raises ``ValueError``
instead of silently returning NaN. (``F.scaled_dot_product_attention``'s boolean mask is the inverse: ``True`` = may
attend.)

Notebook 06 adds the scaled form and multi-head attention (Vaswani et al., 2017):

    scaled dot product:  Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
    multi-head:          head_i = Attention(Q W_q^i, K W_k^i, V W_v^i),  i = 1..h,   d_k = d_model / h
                         MultiHead(Q, K, V) = [head_1; ...; head_h] W_o

The division by ``sqrt(d_k)`` keeps the scores' spread near 1 whatever ``d_k`` is: for q and k with independent
entries of variance 1, ``q^T k`` has variance ``d_k``, and a softmax of scores that far apart puts nearly all the
weight on one key (its gradient all but vanishes). Notebook 06 measures it.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _check_qkv(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, same_size: bool) -> None:
    for name, t in (("query", query), ("keys", keys), ("values", values)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 3:
            raise ValueError(f"{name} must have 3 dimensions (B, T, d), got shape {tuple(t.shape)}"
                             + ("; for a single query use query[:, None, :]" if name == "query" and t.dim() == 2
                                else ""))
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype} (use .float())")
    if not (query.dtype == keys.dtype == values.dtype):
        raise TypeError(f"query, keys and values must share a dtype, got {query.dtype}, {keys.dtype}, {values.dtype}")
    B, T_k = keys.shape[0], keys.shape[1]
    if query.shape[0] != B or values.shape[0] != B:
        raise ValueError(f"batch sizes differ: query {query.shape[0]}, keys {B}, values {values.shape[0]}")
    if values.shape[1] != T_k:
        raise ValueError(f"keys and values must have the same length T_k, got {T_k} and {values.shape[1]}")
    if T_k == 0:
        raise ValueError("there are no keys (T_k = 0): attention needs at least one position to look at")
    if same_size and query.shape[-1] != keys.shape[-1]:
        raise ValueError(f"the dot-product score needs queries and keys of the same size d, got "
                         f"{query.shape[-1]} and {keys.shape[-1]} (use AdditiveAttention for different sizes)")


def _full_mask(mask: torch.Tensor | None, *shape: int) -> torch.Tensor | None:
    """The boolean mask broadcast to ``shape`` — ``(B, T_q, T_k)``, or ``(B, heads, T_q, T_k)`` for multi-head
    attention — after checking its type, its shape and that no row is all masked."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.bool tensor (True = may not attend), got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool (True = may not attend), got {mask.dtype}; "
                        "for a 0/1 padding mask where 1 = real token, pass `mask == 0`")
    B, T_q, T_k = shape[0], shape[-2], shape[-1]
    try:
        full = mask.expand(*shape) if mask.dim() <= len(shape) else None
    except RuntimeError:
        full = None
    if full is None:
        names = "(B, T_q, T_k)" if len(shape) == 3 else "(B, heads, T_q, T_k)"
        padding = "(B, 1, T_k)" if len(shape) == 3 else "(B, 1, 1, T_k)"
        hint = (f"; a padding mask of shape (B, T_k) needs a query axis: mask[:, None, :]"
                if tuple(mask.shape) == (B, T_k) and len(shape) == 3 else "")
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to {names} = {tuple(shape)}"
                         f"{hint}. Shapes that do: {padding} for padding, (T_q, T_k) for one mask shared by the "
                         f"batch (e.g. causal), {names}")
    # one flag per query row; checked on the mask as given (e.g. one (T_q, T_k) causal table), not on its copy per
    # batch entry and head: the same answer, B x heads times cheaper
    if bool(mask.all(dim=-1).any()):
        where = full.all(dim=-1).nonzero()[0].tolist()
        raise ValueError(f"the mask hides every key from query {where[-1]} of batch entry {where[0]}: a fully masked "
                         "row has no softmax (it would be NaN). Leave at least one key visible to every query")
    return full


def softmax_weights(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``softmax`` over the last axis of ``scores (B, T_q, T_k)`` (or ``(B, heads, T_q, T_k)``), with masked positions
    (``True``) given weight 0."""
    full = _full_mask(mask, *scores.shape)
    if full is not None:
        scores = scores.masked_fill(full, float("-inf"))
    return torch.softmax(scores, dim=-1)


def dot_product_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                          mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Luong's dot-product attention, with no scaling: ``e = q^T k``, ``alpha = softmax(e)``, ``context = alpha V``.

    ``query (B, T_q, d)``, ``keys (B, T_k, d)``, ``values (B, T_k, d_v)``, ``mask`` boolean, ``True`` = may not
    attend, broadcast to ``(B, T_q, T_k)`` (padding: ``(B, 1, T_k)``).
    Returns ``(context (B, T_q, d_v), weights (B, T_q, T_k))``.
    """
    _check_qkv(query, keys, values, same_size=True)
    scores = query @ keys.transpose(1, 2)  # (B, T_q, d) @ (B, d, T_k) -> (B, T_q, T_k)
    weights = softmax_weights(scores, mask)  # (B, T_q, T_k), rows sum to 1
    return weights @ values, weights  # (B, T_q, T_k) @ (B, T_k, d_v) -> (B, T_q, d_v)


class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention: ``e_j = v^T tanh(W_q q + W_k k_j)``, then softmax and weighted sum.

    ``W_q (hidden_size, query_size)``, ``W_k (hidden_size, key_size)`` and ``v (hidden_size,)`` are learned, so queries
    and keys may have different sizes. ``forward(query, keys, values, mask=None)`` has the shapes and return value of
    :func:`dot_product_attention`.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int):
        super().__init__()
        for name, n in (("query_size", query_size), ("key_size", key_size), ("hidden_size", hidden_size)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        self.W_q = nn.Parameter(torch.empty(hidden_size, query_size))
        self.W_k = nn.Parameter(torch.empty(hidden_size, key_size))
        self.v = nn.Parameter(torch.empty(hidden_size))
        bound_q, bound_k, bound_v = query_size ** -0.5, key_size ** -0.5, hidden_size ** -0.5
        nn.init.uniform_(self.W_q, -bound_q, bound_q)  # nn.Linear's default range
        nn.init.uniform_(self.W_k, -bound_k, bound_k)
        nn.init.uniform_(self.v, -bound_v, bound_v)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """``W_k k_j`` for every key, ``(B, T_k, hidden)``.

        Speed: a decoder asks the same keys (the encoder states) once per output step, and ``W_k k_j`` does not depend
        on the query. Computing it once per sequence and passing it as ``forward(..., projected_keys=...)`` saves one
        ``(B, T_k, key_size) x (key_size, hidden)`` product per step, forward and backward; the result is the same.
        """
        return keys @ self.W_k.T  # (B, T_k, hidden)

    def scores(self, query: torch.Tensor, keys: torch.Tensor, projected_keys: torch.Tensor | None = None
               ) -> torch.Tensor:
        """``e (B, T_q, T_k)``: every query against every key."""
        q = query @ self.W_q.T  # (B, T_q, hidden)
        k = self.project_keys(keys) if projected_keys is None else projected_keys  # (B, T_k, hidden)
        # broadcast to every (query, key) pair: (B, T_q, 1, hidden) + (B, 1, T_k, hidden) -> (B, T_q, T_k, hidden)
        return torch.tanh(q[:, :, None, :] + k[:, None, :, :]) @ self.v  # (B, T_q, T_k)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None, projected_keys: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_qkv(query, keys, values, same_size=False)
        if projected_keys is not None and projected_keys.shape != (*keys.shape[:2], self.v.shape[0]):
            raise ValueError(f"projected_keys must be project_keys(keys), of shape "
                             f"{(*keys.shape[:2], self.v.shape[0])}, got {tuple(projected_keys.shape)}")
        if query.shape[-1] != self.W_q.shape[1] or keys.shape[-1] != self.W_k.shape[1]:
            raise ValueError(f"this AdditiveAttention takes queries of size {self.W_q.shape[1]} and keys of size "
                             f"{self.W_k.shape[1]}, got {query.shape[-1]} and {keys.shape[-1]}")
        if query.dtype != self.W_q.dtype:
            raise TypeError(f"inputs are {query.dtype} but the parameters are {self.W_q.dtype}; "
                            f"convert one of them (e.g. attention.to({query.dtype}))")
        weights = softmax_weights(self.scores(query, keys, projected_keys), mask)  # (B, T_q, T_k)
        return weights @ values, weights  # (B, T_q, d_v), (B, T_q, T_k)


# -- notebook 06: scaled dot-product and multi-head attention ------------------------------------------------------

def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T / sqrt(d_k)) v``, the Transformer's attention.

    ``q (B, T_q, d_k)``, ``k (B, T_k, d_k)``, ``v (B, T_k, d_v)`` — or with a heads axis, ``(B, heads, T, d)``, as
    multi-head attention calls it. ``mask`` boolean, ``True`` = may not attend, broadcast to ``(B, [heads,] T_q,
    T_k)``. Returns ``(out (B, [heads,] T_q, d_v), weights (B, [heads,] T_q, T_k))``.
    Equal to ``F.scaled_dot_product_attention(q, k, v, attn_mask=~mask)``, which does not return the weights.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() not in (3, 4):
            raise ValueError(f"{name} must be (B, T, d) or (B, heads, T, d), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype} (use .float())")
    if not q.dim() == k.dim() == v.dim():
        raise ValueError(f"q, k and v must have the same number of dimensions, got {q.dim()}, {k.dim()}, {v.dim()}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(f"q, k and v must agree on (B, [heads]): got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length T_k, got {k.shape[-2]} and {v.shape[-2]}")
    if k.shape[-2] == 0:
        raise ValueError("there are no keys (T_k = 0): attention needs at least one position to look at")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same size d_k, got {q.shape[-1]} and {k.shape[-1]}")
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, d_k) @ (..., d_k, T_k) -> (..., T_q, T_k)
    weights = softmax_weights(scores, mask)  # (..., T_q, T_k), rows sum to 1
    return weights @ v, weights  # (..., T_q, T_k) @ (..., T_k, d_v) -> (..., T_q, d_v)


class KVCache:
    """The keys and values one attention layer has already computed, kept between generation steps (notebook 07).

    A causal model writing token t needs the keys and values of tokens 0..t, and those of 0..t-1 are the same as at
    the previous step: ``extend`` stores the new ones after the old and returns all of them. Each is
    ``(B, heads, T_so_far, d_k)``. One cache per layer; ``len(cache)`` is the number of positions stored.
    """

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is not None and (k.shape[:2] != self.k.shape[:2] or k.shape[3] != self.k.shape[3]):
            raise ValueError(f"this cache holds keys of shape (B, heads, T, d_k) = {tuple(self.k.shape)}, got new "
                             f"keys {tuple(k.shape)}: one cache per layer and per batch (make a new one per prompt)")
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)  # (B, heads, T_so_far, d_k)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v


class MultiHeadAttention(nn.Module):
    """``h`` scaled dot-product attentions in parallel, each in its own ``d_k = d_model / h``-wide subspace.

        head_i = softmax(Q W_q^i (K W_k^i)^T / sqrt(d_k)) V W_v^i           (T_q, d_k) each
        out    = [head_1; ...; head_h] W_o                                  (T_q, d_model)

    The h projections ``W_q^i`` are the column blocks of one ``(d_model, d_model)`` matrix, so the layer has the
    parameters of a single full-width attention: ``4 d_model^2 + 4 d_model`` with biases. Batch first, as
    ``nn.MultiheadAttention(batch_first=True)``, whose weights :meth:`from_torch` and :meth:`to_torch` copy.

    ``forward(query, key, value, key_padding_mask=None, attn_mask=None, cache=None)``:
    ``query (B, T_q, d_model)``, ``key``/``value (B, T_k, d_model)``; ``key_padding_mask (B, T_k)`` and
    ``attn_mask`` (broadcast to ``(B, heads, T_q, T_k)``; ``(T_q, T_k)`` for a causal mask) are boolean,
    ``True`` = may not attend, as in PyTorch. ``cache``: a :class:`KVCache` that the new keys and values are added
    to, and attended over with them (generation). Returns ``(out (B, T_q, d_model), weights (B, heads, T_q, T_k))``.

    **Speed.** ``need_weights=False`` returns ``(out, None)`` and computes the heads with PyTorch's fused
    ``F.scaled_dot_product_attention`` (mask inverted: its ``True`` means *may* attend), which never stores the
    ``(T_q, T_k)`` weights; a training step of 07's GPT takes 56 ms with it, 64 ms without, on the course machine. The same numbers up to float
    rounding (tested); the masks are checked the same way. Training uses it; anything that shows the weights does not.
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        for name, n in (("d_model", d_model), ("num_heads", num_heads)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads}): each head gets "
                             f"d_model / num_heads dimensions")
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)  # all heads' W_q^i side by side
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}"

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, d_model)`` -> ``(B, heads, T, d_k)``: head i gets columns ``i*d_k .. (i+1)*d_k - 1``."""
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.d_k).transpose(1, 2)  # (B, T, h, d_k) -> (B, h, T, d_k)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                cache: KVCache | None = None, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._check(query, key, value, key_padding_mask)
        if not isinstance(need_weights, bool):
            raise TypeError(f"need_weights must be True or False, got {need_weights!r}")
        B, T_q, _ = query.shape
        q = self.split_heads(self.W_q(query))  # (B, h, T_q, d_k)
        k = self.split_heads(self.W_k(key))  # (B, h, T_k, d_k)
        v = self.split_heads(self.W_v(value))  # (B, h, T_k, d_k)
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, h, T_past + T_k, d_k)
        mask = None
        if attn_mask is not None:
            mask = _full_mask(attn_mask, B, self.num_heads, T_q, k.shape[2])
        if key_padding_mask is not None:
            if key_padding_mask.shape != (B, k.shape[2]):
                raise ValueError(f"key_padding_mask must be (B, T_k) = ({B}, {k.shape[2]}), True = padding, got "
                                 f"{tuple(key_padding_mask.shape)}")
            padding = key_padding_mask[:, None, None, :]  # (B, 1, 1, T_k): the same for every head and query
            mask = padding if mask is None else mask | padding
        if need_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, h, T_q, d_k), (B, h, T_q, T_k)
        else:  # the fused kernel: same numbers, no (T_q, T_k) weights kept; its boolean mask means "may attend"
            if key_padding_mask is not None:  # padding and attn_mask together may mask a whole row: refuse it
                _full_mask(mask, B, self.num_heads, T_q, k.shape[2])
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else ~mask)  # (B, h, T_q, d_k)
            weights = None
        out = out.transpose(1, 2).reshape(B, T_q, self.d_model)  # (B, T_q, h, d_k) -> (B, T_q, d_model): concat
        return self.W_o(out), weights

    def _check(self, query, key, value, key_padding_mask) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
            if t.dim() != 3 or t.shape[-1] != self.d_model:
                raise ValueError(f"{name} must be (B, T, d_model={self.d_model}) (batch first), got shape "
                                 f"{tuple(t.shape)}")
            weight = self.W_q.weight  # a method, not a tensor, once the layer is int8-quantized (notebook 11)
            if isinstance(weight, torch.Tensor) and t.dtype != weight.dtype:
                raise TypeError(f"{name} is {t.dtype} but the parameters are {weight.dtype}; convert one of "
                                f"them (e.g. attention.to({t.dtype}))")
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(f"batch sizes differ: query {query.shape[0]}, key {key.shape[0]}, value {value.shape[0]}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key and value must have the same length T_k, got {key.shape[1]} and {value.shape[1]}")
        if key_padding_mask is not None and (not isinstance(key_padding_mask, torch.Tensor)
                                             or key_padding_mask.dtype != torch.bool):
            raise TypeError("key_padding_mask must be a torch.bool tensor (B, T_k), True = padding")

    # -- PyTorch's layout ------------------------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "MultiHeadAttention":
        """A copy of ``nn.MultiheadAttention``'s weights. PyTorch stores ``[W_q; W_k; W_v]`` stacked as
        ``in_proj_weight (3 d_model, d_model)`` and ``W_o`` as ``out_proj``; ``nn.Linear`` computes ``x W^T + b``."""
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(f"expected an nn.MultiheadAttention, got {type(module).__name__}")
        if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
            raise ValueError("only nn.MultiheadAttention(d_model, num_heads) with kdim = vdim = d_model, no add_bias_kv "
                             "and no add_zero_attn can be copied")
        bias = module.in_proj_bias is not None
        if bias != (module.out_proj.bias is not None):
            raise ValueError("the input and output projections must both have biases or both not")
        ours = cls(module.embed_dim, module.num_heads, bias=bias).to(module.in_proj_weight.dtype)
        with torch.no_grad():
            for i, linear in enumerate((ours.W_q, ours.W_k, ours.W_v)):
                rows = slice(i * module.embed_dim, (i + 1) * module.embed_dim)
                linear.weight.copy_(module.in_proj_weight[rows])
                if bias:
                    linear.bias.copy_(module.in_proj_bias[rows])
            ours.W_o.weight.copy_(module.out_proj.weight)
            if bias:
                ours.W_o.bias.copy_(module.out_proj.bias)
        return ours

    def to_torch(self) -> nn.MultiheadAttention:
        """An ``nn.MultiheadAttention(batch_first=True)`` with these weights (call it with ``need_weights=True,
        average_attn_weights=False`` to get per-head weights)."""
        bias = self.W_q.bias is not None
        dtype = self.W_q.weight.dtype
        module = nn.MultiheadAttention(self.d_model, self.num_heads, bias=bias, batch_first=True, dtype=dtype)
        with torch.no_grad():
            module.in_proj_weight.copy_(torch.cat([self.W_q.weight, self.W_k.weight, self.W_v.weight]))
            module.out_proj.weight.copy_(self.W_o.weight)
            if bias:
                module.in_proj_bias.copy_(torch.cat([self.W_q.bias, self.W_k.bias, self.W_v.bias]))
                module.out_proj.bias.copy_(self.W_o.bias)
        return module
