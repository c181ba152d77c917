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

Notebook 06 adds the scaled form, ``q^T k / sqrt(d)``, and multi-head attention.
"""
from __future__ import annotations

import torch
from torch import nn


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


def _full_mask(mask: torch.Tensor | None, B: int, T_q: int, T_k: int) -> torch.Tensor | None:
    """The boolean mask broadcast to ``(B, T_q, T_k)``, after checking its type, its shape and that no row is all masked."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.bool tensor (True = may not attend), got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool (True = may not attend), got {mask.dtype}; "
                        "for a 0/1 padding mask where 1 = real token, pass `mask == 0`")
    try:
        full = mask.expand(B, T_q, T_k) if mask.dim() <= 3 else None
    except RuntimeError:
        full = None
    if full is None:
        hint = (f"; a padding mask of shape (B, T_k) needs a query axis: mask[:, None, :]"
                if tuple(mask.shape) == (B, T_k) else "")
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to (B, T_q, T_k) = ({B}, {T_q}, {T_k})"
                         f"{hint}. Shapes that do: (B, 1, T_k) for padding, (T_q, T_k) for one mask shared by the "
                         "batch (e.g. causal), (B, T_q, T_k)")
    if bool(full.all(dim=-1).any()):
        b, q = (full.all(dim=-1)).nonzero()[0].tolist()
        raise ValueError(f"the mask hides every key from query {q} of batch entry {b}: a fully masked row has no "
                         "softmax (it would be NaN). Leave at least one key visible to every query")
    return full


def softmax_weights(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``softmax`` over the last axis of ``scores (B, T_q, T_k)``, with masked positions (``True``) given weight 0."""
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
