"""A character-level GPT (notebook 07): a stack of causal pre-LN Transformer blocks that predicts the next character.

    x_0 = E[idx_t] + P[t]                                   token embedding + learned position embedding, (B, T, C)
    for each block l = 1..L:
        x = x + MultiHeadAttention(LN_1(x), causal mask)    a character sees itself and the ones before it, never after
        x = x + MLP(LN_2(x))                                MLP(u) = W_2 GELU(W_1 u + b_1) + b_2, width 4C
    logits = LN_f(x) E^T                                    (B, T, V): one score per vocabulary entry, at every position

The layer norm comes *before* each sub-layer ("pre-LN", as GPT-2), so the residual path ``x`` runs from the embedding
to the last block untouched by any normalisation; that makes deep stacks train without a warm-up-sensitive start.
The output layer reuses the token embedding ``E`` (weight tying): see :class:`GPT`.

Written for the course in the style of nanoGPT's ``model.py``: plain modules, a ``@dataclass`` config, a shape comment
on every reshape. Attention is :class:`course_lib.attention.MultiHeadAttention` from notebook 06 (masks:
``True`` = may not attend), and its :class:`~course_lib.attention.KVCache` makes generation cheap.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from . import charlm
from .attention import KVCache, MultiHeadAttention
from .mlp import _check_budget
from .mlp import _check_size as _check_count
from .rnn import MAX_GENERATE
from .train import eval_mode


@dataclass
class GPTConfig:
    """``GPTConfig(vocab_size=65)`` is nanoGPT's CPU recipe for Shakespeare characters: 4 layers, 4 heads, width 128,
    a context of 64 characters. ``bias=False`` drops the biases of every linear layer and layer norm."""

    vocab_size: int
    block_size: int = 64  # the context: the most characters the model reads at once
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128  # C, the width of the residual stream; each head gets C / n_head
    bias: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, _check_count(name, getattr(self, name)))
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")
        if self.n_embd % self.n_head:
            lower = self.n_embd - self.n_embd % self.n_head
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): each head gets "
                             f"n_embd / n_head dimensions; e.g. n_embd={lower or self.n_head} or another n_head")
        _check_budget(self.num_parameters(), f"this GPT (vocab_size={self.vocab_size}, block_size={self.block_size}, "
                                             f"n_layer={self.n_layer}, n_embd={self.n_embd})")

    def num_parameters(self) -> int:
        """The parameters of ``GPT(self)``, counted without building it (the output layer is tied: not counted)."""
        C, b = self.n_embd, int(self.bias)
        norm = C + b * C  # LayerNorm: weight, bias
        attention = 4 * C * C + b * 4 * C  # W_q, W_k, W_v, W_o
        mlp = 8 * C * C + b * (4 * C + C)  # W_1 (4C, C), W_2 (C, 4C)
        block = 2 * norm + attention + mlp
        return self.vocab_size * C + self.block_size * C + self.n_layer * block + norm


class MLP(nn.Module):
    """The feed-forward sub-layer, applied to every position on its own: ``W_2 GELU(W_1 u + b_1) + b_2``.
    ``(B, T, C) -> (B, T, 4C) -> (B, T, C)``; GELU is the exact one, ``u Φ(u)`` (as ``nn.GELU()``)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)  # W_1
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)  # W_2, writes to the residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """One pre-LN decoder block: ``x = x + attn(LN_1(x))``, then ``x = x + mlp(LN_2(x))``.

    ``forward(x (B, T, C), mask (T, T_k), cache=None, need_weights=True)`` -> ``(x (B, T, C), weights (B, heads, T,
    T_k))`` (``None`` with ``need_weights=False``: the fused attention kernel); ``mask`` is boolean, ``True`` = may not
    attend. The same computation as ``nn.TransformerEncoderLayer(C, heads, 4 C,
    dropout=0, activation="gelu", batch_first=True, norm_first=True)`` with a causal mask; :meth:`from_torch` copies
    one.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = MultiHeadAttention(config.n_embd, config.n_head, bias=config.bias)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None = None,
                need_weights: bool = True):
        h = self.ln_1(x)  # (B, T, C)
        a, weights = self.attn(h, h, h, attn_mask=mask, cache=cache, need_weights=need_weights)  # (B, T, C), weights
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> "Block":
        """A copy of a pre-LN ``nn.TransformerEncoderLayer`` (``norm_first=True``, ``activation="gelu"``,
        ``batch_first=True``, feed-forward width 4 × d_model). PyTorch names: ``self_attn`` (our ``attn``),
        ``norm1``/``norm2`` (``ln_1``/``ln_2``), ``linear1``/``linear2`` (``mlp.fc``/``mlp.proj``). Dropout is
        ignored: use ``dropout=0`` (or eval mode) when you compare."""
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"expected an nn.TransformerEncoderLayer, got {type(layer).__name__}")
        C, heads, width = layer.self_attn.embed_dim, layer.self_attn.num_heads, layer.linear1.out_features
        if not layer.norm_first:
            raise ValueError("the GPT block is pre-LN: build the PyTorch layer with norm_first=True")
        if not (layer.activation is F.gelu or (isinstance(layer.activation, nn.GELU)
                                               and layer.activation.approximate == "none")):
            raise ValueError(f"the GPT block uses the exact GELU: build the PyTorch layer with activation='gelu', "
                             f"got {layer.activation}")
        if not layer.self_attn.batch_first:
            raise ValueError("the GPT block is batch first: build the PyTorch layer with batch_first=True")
        if width != 4 * C:
            raise ValueError(f"the GPT block's MLP is 4 × d_model = {4 * C} wide, the layer's is {width}: "
                             f"build it with dim_feedforward={4 * C}")
        bias = layer.linear1.bias is not None
        weight = layer.linear1.weight
        block = cls(GPTConfig(vocab_size=1, block_size=1, n_layer=1, n_head=heads, n_embd=C, bias=bias))
        block = block.to(device=weight.device, dtype=weight.dtype)
        block.attn = MultiHeadAttention.from_torch(layer.self_attn)
        block.ln_1.load_state_dict(layer.norm1.state_dict())
        block.ln_2.load_state_dict(layer.norm2.state_dict())
        block.mlp.fc.load_state_dict(layer.linear1.state_dict())
        block.mlp.proj.load_state_dict(layer.linear2.state_dict())
        return block


class GPT(nn.Module):
    """A causal character-level Transformer: ``idx (B, T)`` -> ``logits (B, T, V)`` for the next character at every
    position, each computed from that position and the ones before it only.

    **Weight tying.** The output layer ``lm_head`` shares its weight with the token embedding ``wte`` (``V x C``):
    the embedding turns character i into the vector ``E[i]``, and the output scores the final vector ``x`` against
    every character as ``x · E[i]``. Both ask "which vector stands for character i", so one matrix serves both
    (Press & Wolf, 2017; GPT-2 does the same): fewer parameters (V·C), and every character's vector is trained by
    both ends. ``model.lm_head.weight is model.wte.weight``.

    **Initialisation** as GPT-2: every linear and embedding weight ~ N(0, 0.02²), biases 0, and the two projections
    that write into the residual stream (attention's ``W_o`` and the MLP's ``proj``) ~ N(0, (0.02 / sqrt(2 L))²), so
    that the sum of the ``2 L`` residual additions keeps the stream's variance from growing with depth. No dropout.
    """

    def __init__(self, config: GPTConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = GPTConfig(**kwargs)
        elif kwargs:
            raise TypeError(f"give either a GPTConfig or keyword arguments, not both (got {sorted(kwargs)})")
        elif not isinstance(config, GPTConfig):
            hint = (f": for a vocabulary of {config} characters write GPT(vocab_size={config})"
                    if isinstance(config, numbers.Integral) and not isinstance(config, bool) else "")
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}{hint}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # E: token embedding
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # P: one learned vector per position
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: the same Parameter, (V, C)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation (see the class docstring)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.LayerNorm):
                module.reset_parameters()  # weight 1, bias 0
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.W_o.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.proj.weight, mean=0.0, std=residual_std)

    def num_parameters(self) -> int:
        """The number of parameters (the tied output layer counted once)."""
        return sum(p.numel() for p in self.parameters())

    def new_caches(self) -> list[KVCache]:
        """Empty key/value caches, one per layer, for :meth:`forward` (``caches=``)."""
        return [KVCache() for _ in range(self.config.n_layer)]

    # --- forward ------------------------------------------------------------------------------------------------------
    def forward(self, idx: torch.Tensor, caches: list[KVCache] | None = None, return_weights: bool = False):
        """``idx (B, T)`` token ids -> ``logits (B, T, V)``; with ``return_weights=True`` -> ``(logits, weights)``,
        ``weights (B, layers, heads, T, T_k)`` every block's attention (``T_k = past + T``).

        ``caches``: one :class:`KVCache` per layer (:meth:`new_caches`) holding the keys and values of the ``past``
        characters already read; they are extended in place with the new ones. The new characters then sit at
        positions ``past .. past + T - 1``, and new query i may attend keys ``0 .. past + i``. ``past + T`` must be at
        most ``config.block_size``: there is no learned position beyond it.

        Without ``return_weights`` the attention runs PyTorch's fused kernel and keeps no weights (faster; see
        :class:`course_lib.attention.MultiHeadAttention`); with it, every layer's ``(heads, T, T_k)`` weights are
        computed and returned.
        """
        B, T = self._check_idx(idx)
        past = self._check_caches(caches, B, idx.dtype)
        if past + T > self.config.block_size:
            where = f"{past} cached + {T} new = {past + T}" if past else f"T = {T}"
            raise ValueError(f"the model reads at most block_size={self.config.block_size} characters, got {where}: "
                             f"keep the last block_size characters (idx[:, -{self.config.block_size}:]) and start "
                             f"with fresh caches")
        if not isinstance(return_weights, bool):
            raise TypeError(f"return_weights must be True or False, got {return_weights!r}")
        positions = torch.arange(past, past + T, device=idx.device)  # (T,)
        x = self.wte(idx) + self.wpe(positions)  # (B, T, C) + (T, C) -> (B, T, C)
        # query i (position past + i) may not attend key j when j > past + i: True above that diagonal
        mask = torch.ones(T, past + T, dtype=torch.bool, device=idx.device).triu(past + 1)  # (T, T_k)
        weights = []
        for l, block in enumerate(self.blocks):
            x, w = block(x, mask, None if caches is None else caches[l], need_weights=return_weights)  # (B, T, C)
            weights.append(w)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if return_weights:
            return logits, torch.stack(weights, dim=1)  # (B, layers, heads, T, T_k)
        return logits

    def _check_idx(self, idx) -> tuple[int, int]:
        V = self.config.vocab_size
        if not isinstance(idx, torch.Tensor) or idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            got = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise TypeError(f"idx must be an integer tensor of token ids (B, T), got {got}: use vocab.encode(text) "
                            "(and .long() for other integer types)")
        if idx.ndim != 2 or idx.shape[1] == 0 or idx.shape[0] == 0:
            hint = " (one text: idx.unsqueeze(0))" if idx.ndim == 1 else ""
            raise ValueError(f"idx must have shape (B, T) with B, T >= 1, got {tuple(idx.shape)}{hint}")
        device = self.wte.weight.device
        if idx.device != device:
            raise ValueError(f"idx is on {idx.device} but the model is on {device}: move it with "
                             f"idx.to({str(device)!r})")
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= V:
            raise ValueError(f"idx must hold ids in 0..{V - 1} (vocab_size={V}), got values in {lo}..{hi}")
        return idx.shape[0], idx.shape[1]

    def _check_caches(self, caches, B: int, dtype) -> int:
        """The number of positions the caches hold (0 for ``None``), after checking they fit this model and batch."""
        if caches is None:
            return 0
        L = self.config.n_layer
        if not isinstance(caches, (list, tuple)) or len(caches) != L:
            count = f" of {len(caches)}" if isinstance(caches, (list, tuple)) else ""
            raise ValueError(f"caches must be a list of n_layer={L} KVCache objects, one per layer, got "
                             f"{type(caches).__name__}{count}: make them with model.new_caches()")
        bad = [type(c).__name__ for c in caches if not isinstance(c, KVCache)]
        if bad:
            raise TypeError(f"caches must hold KVCache objects (model.new_caches()), got a {bad[0]}")
        lengths = {len(c) for c in caches}
        if len(lengths) != 1:
            raise ValueError(f"caches hold different numbers of positions {sorted(lengths)}: they must come from the "
                             "same forward passes; make new ones with model.new_caches()")
        past = lengths.pop()
        expected = (B, self.config.n_head, past, self.config.n_embd // self.config.n_head)
        for l, c in enumerate(caches):
            if c.k is not None and (tuple(c.k.shape) != expected or c.v is None or tuple(c.v.shape) != expected):
                raise ValueError(f"caches[{l}] holds keys of shape {tuple(c.k.shape)}, this model and batch need "
                                 f"(B, n_head, past, n_embd / n_head) = {expected}: one set of caches per model and "
                                 "prompt; make new ones with model.new_caches()")
            if c.k is not None and c.k.dtype != self.wte.weight.dtype:
                raise TypeError(f"caches[{l}] holds {c.k.dtype} keys but the model is {self.wte.weight.dtype}: make "
                                "new ones with model.new_caches()")
        return past

    # --- generation ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, vocab, prompt: str, n: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None, use_cache: bool = True) -> str:
        """Read ``prompt``, then sample ``n`` characters one at a time. Returns prompt + the new text.

        Each character is drawn by :func:`course_lib.charlm.sample_next` from the logits of the last position
        (``temperature`` 0 is greedy decoding; ``top_k``, ``top_p`` keep only the most likely characters; a seeded CPU
        ``generator`` makes it reproducible). The model reads at most ``block_size`` characters, so the prompt may be
        at most that long, and once the text is longer only its last ``block_size`` characters are read.

        Without the cache (``use_cache=False``) every step runs the model on the last ``block_size`` characters again.
        With it, the prompt's keys and values are kept (one :class:`KVCache` per layer) and each step feeds only the
        new character, while the text still fits in ``block_size``. Once the window is full, the oldest character has
        to leave it and every other one moves one position down, which changes its learned position embedding and so
        every key and value: a cache cannot slide, and generation falls back to re-reading the last ``block_size``
        characters. Both ways compute the same logits (up to float rounding, about 1e-7) and draw one random number
        per step, so they give the same text for the same generator (a draw could only differ if its random number
        fell within that rounding of a boundary between two characters).

        Runs in eval mode and gives every submodule back its own mode afterwards, also after an error. ``n`` is at
        most :data:`course_lib.rnn.MAX_GENERATE`.
        """
        n = charlm.check_generate(vocab, self.config.vocab_size, prompt, n, MAX_GENERATE)
        charlm.check_sampling(temperature, top_k, top_p, generator)
        if not isinstance(use_cache, bool):
            raise TypeError(f"use_cache must be True or False, got {use_cache!r}")
        block = self.config.block_size
        if len(prompt) > block:
            raise ValueError(f"prompt has {len(prompt)} characters, more than the model reads (block_size={block}): "
                             f"pass its last {block}, prompt[-{block}:]")
        device = self.wte.weight.device
        ids = vocab.encode(prompt).tolist()
        new_ids: list[int] = []
        with eval_mode(self):
            caches = self.new_caches() if use_cache else None
            logits = self(torch.tensor([ids], device=device), caches)  # (1, len(prompt), V)
            for step in range(n):
                next_id = charlm.sample_next(logits[0, -1], temperature, top_k, top_p, generator)
                ids.append(next_id)
                new_ids.append(next_id)
                if step == n - 1:  # the last character needs no forward pass
                    break
                if caches is not None and len(ids) <= block:
                    logits = self(torch.tensor([[next_id]], device=device), caches)  # (1, 1, V): the new one only
                else:
                    caches = None  # the window is full: from here on, re-read the last block_size characters
                    logits = self(torch.tensor([ids[-block:]], device=device))  # (1, block, V)
        return prompt + (vocab.decode(new_ids) if new_ids else "")
