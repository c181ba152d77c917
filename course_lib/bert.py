"""BERT (notebook 08): a Transformer *encoder* pre-trained by filling in masked words.

Devlin et al., 2019. 07's GPT predicts token t + 1 from tokens 1..t (a causal mask); BERT hides some tokens and
predicts each hidden one from **both sides**, with no mask on attention at all (only padding is hidden). The input
is one or two segments, ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``, and every position's vector is the sum of three
embeddings (token, position, segment), normalised:

    x_t = LayerNorm(E_tok[id_t] + E_pos[t] + E_seg[segment_t])        (B, T, d_model)

then ``n_layers`` post-LN encoder layers of notebook 06 (``transformer.TransformerEncoderLayer``, GELU, LayerNorm eps
1e-12, as BERT). Two heads on top during pre-training:

* **masked LM**: at the masked positions, ``logits = LayerNorm(GELU(h W_t + b_t)) E_tok^T + b`` — the output matrix is
  the token embedding itself (*weight tying*, as 07's GPT);
* **next-sentence prediction** (NSP): from the ``[CLS]`` vector, ``tanh(h_CLS W_p + b_p)`` (the "pooler") then a
  linear map to 2 classes, "B follows A" or "B is a random sentence". RoBERTa (Liu et al., 2019) showed it does not
  help and dropped it; the course's model trains without it, the head is here so that BERT's layout is complete.

**Masking** (:func:`mask_tokens`): each ordinary token is selected with probability ``rate`` (15% in BERT); a selected
token becomes ``[MASK]`` 80% of the time, a random token 10%, and stays itself 10% — so the model cannot learn that
only ``[MASK]`` positions matter. The loss is computed at the selected positions only (``labels = -100`` elsewhere,
``F.cross_entropy``'s ``ignore_index``).

Masks follow ``transformers``' ``BertModel`` here, as ``forward`` mirrors its API: ``attention_mask`` 1 = a real
token, 0 = padding (the inverse of ``nn.MultiheadAttention``'s boolean masks used elsewhere in the course).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoint import _read_sidecar, _sha256
from .transformer import TransformerEncoderLayer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 in the course's tokenizer
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)


# ----------------------------------------------------------------------------------------------------------------------
# The tokenizer: WordPiece trained on the Shakespeare training plays
# ----------------------------------------------------------------------------------------------------------------------

def wordpiece_tokenizer(vocab_size: int = 4096, folder: str | Path | None = None):
    """A lower-cased WordPiece tokenizer (HF ``tokenizers``) trained on the Shakespeare training split, with BERT's
    special tokens (ids 0..4: ``[PAD] [UNK] [CLS] [SEP] [MASK]``) and its ``[CLS] A [SEP] (B [SEP])`` template.

    Training takes a few seconds; the result is cached as ``data/bert/wordpiece-<vocab_size>.json`` with a sha256
    beside it, and retrained when the cache is missing or damaged. Returns a ``tokenizers.Tokenizer``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    from .data import DATA_DIR, shakespeare

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 100 <= vocab_size <= 50_000:
        raise ValueError(f"vocab_size must be an integer from 100 to 50,000, got {vocab_size!r}")
    folder = Path(folder) if folder is not None else DATA_DIR / "bert"
    path = folder / f"wordpiece-{vocab_size}.json"
    sidecar = Path(str(path) + ".sha256")
    if path.exists() and sidecar.exists() and _read_sidecar(sidecar) == _sha256(path):
        return Tokenizer.from_file(str(path))
    def bare(model):
        tokenizer = Tokenizer(model)
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        return tokenizer

    trained = bare(models.WordPiece(unk_token="[UNK]"))
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                        show_progress=False)
    trained.train_from_iterator(shakespeare("train").splitlines(), trainer)
    # The trainer finds the same pieces every time but numbers some of them differently from run to run; number them
    # in a fixed order (special tokens first, then alphabetical) so that a retrained tokenizer fits a saved model.
    pieces = sorted(set(trained.get_vocab()) - set(SPECIAL_TOKENS))
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *pieces])}
    tokenizer = bare(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))  # "[MASK]" typed in a text stays one token; decode skips them
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)])
    tokenizer.decoder = decoders.WordPiece()
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(5))
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    sidecar.write_text(_sha256(path) + "\n")
    return tokenizer


# ----------------------------------------------------------------------------------------------------------------------
# Masking
# ----------------------------------------------------------------------------------------------------------------------

def mask_tokens(ids: torch.Tensor, vocab_size: int, rate: float = 0.15, generator: torch.Generator | None = None,
                mask_id: int = MASK_ID, n_special: int = len(SPECIAL_TOKENS)) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of a batch of token ids ``(B, T)`` (or one sequence ``(T,)``) -> ``(inputs, labels)``, same shape.

    Every token that is not special (ids ``0 .. n_special - 1`` are ``[PAD] [UNK] [CLS] [SEP] [MASK]``) is selected
    with probability ``rate``; a selected token becomes ``mask_id`` (80%), a random ordinary token (10%) or stays itself
    (10%). ``labels`` holds the original id at the selected positions and -100 elsewhere (ignored by the loss).
    ``generator`` makes the choice reproducible.
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int32, torch.int64) or ids.dim() not in (1, 2):
        shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids must be an integer tensor of token ids, (B, T) or (T,), got {shape}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= n_special:
        raise ValueError(f"vocab_size must be an integer larger than the {n_special} special tokens, got {vocab_size!r}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise ValueError(f"rate must be a number in (0, 1], the share of tokens selected (BERT: 0.15), got {rate!r}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"ids must lie in 0 .. {vocab_size - 1} (the vocabulary), got {int(ids.min())} .. "
                         f"{int(ids.max())}")
    ordinary = ids >= n_special  # special tokens are never selected
    selected = (torch.rand(ids.shape, generator=generator) < rate) & ordinary
    how = torch.rand(ids.shape, generator=generator)  # < 0.8: [MASK]; 0.8 .. 0.9: random token; >= 0.9: unchanged
    random_ids = torch.randint(n_special, vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
    inputs = torch.where(selected & (how < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(selected & (how >= 0.8) & (how < 0.9), random_ids, inputs)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    return inputs, labels


# ----------------------------------------------------------------------------------------------------------------------
# The encoder and its pre-training heads
# ----------------------------------------------------------------------------------------------------------------------

def _check_ids(name: str, ids, shape: tuple[int, int] | None, high: int) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int32, torch.int64) or ids.dim() != 2:
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"{name} must be an integer tensor of shape (B, T), got {got}: one sequence x needs x[None]")
    if shape is not None and tuple(ids.shape) != shape:
        raise ValueError(f"{name} must have the shape of input_ids {shape}, got {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= high):
        raise ValueError(f"{name} must lie in 0 .. {high - 1}, got values {int(ids.min())} .. {int(ids.max())}")


def _init_weights(module: nn.Module) -> None:
    """BERT's initialisation: every weight matrix and embedding N(0, 0.02^2), biases 0, LayerNorms 1 and 0. (PyTorch's
    default N(0, 1) embeddings would make the tied output layer's logits about sqrt(d_model) times too large.)"""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertEncoder(nn.Module):
    """``transformers``' ``BertModel`` without its pooler: embeddings, then post-LN GELU encoder layers
    (``norm_first=True``: pre-LN layers and a final LayerNorm, which train more easily from scratch).

    ``forward(input_ids (B, T), attention_mask=None, token_type_ids=None)`` -> ``(last_hidden_state (B, T, d_model),
    attentions)``, a list of one ``(B, heads, T, T)`` tensor per layer. ``attention_mask`` (B, T): 1 = real token,
    0 = padding (``transformers``' meaning); ``token_type_ids`` (B, T): 0 for segment A, 1 for B (default all 0).
    :meth:`from_hf` copies a ``transformers.BertModel``'s weights.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, n_layers: int = 2, n_heads: int = 2,
                 d_ff: int | None = None, max_len: int = 512, type_vocab_size: int = 2, layer_norm_eps: float = 1e-12,
                 norm_first: bool = False):
        super().__init__()
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)  # E_tok (V, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)  # E_pos (max_len, d_model), learned
        self.seg_emb = nn.Embedding(type_vocab_size, d_model)  # E_seg (2, d_model)
        self.emb_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, n_heads, d_ff or 4 * d_model, norm_first=norm_first, activation="gelu",
                                    layer_norm_eps=layer_norm_eps) for _ in range(n_layers))
        # pre-LN (norm_first=True, as GPT-2; easier to train from scratch) ends with one more LayerNorm
        self.final_norm = nn.LayerNorm(d_model, eps=layer_norm_eps) if norm_first else None
        self.apply(_init_weights)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                output_attentions: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
        _check_ids("input_ids", input_ids, None, self.vocab_size)
        B, T = input_ids.shape
        if T > self.max_len:
            raise ValueError(f"the input has {T} tokens, more than the model's {self.max_len} positions: shorten it "
                             f"(or split it into pieces of at most {self.max_len})")
        if T == 0:
            raise ValueError("the input is empty (0 tokens): give at least one token")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        _check_ids("token_type_ids", token_type_ids, (B, T), self.seg_emb.num_embeddings)
        padding = None
        if attention_mask is not None:
            _check_ids("attention_mask", attention_mask, (B, T), 2)
            padding = attention_mask == 0  # True = may not attend (nn.MultiheadAttention's meaning)
            if bool(padding.all(dim=1).any()):
                raise ValueError("attention_mask has a row of zeros: every sequence needs at least one real token")
        positions = torch.arange(T, device=input_ids.device)
        x = self.emb_norm(self.tok_emb(input_ids) + self.pos_emb(positions) + self.seg_emb(token_type_ids))
        attentions = []
        for layer in self.layers:  # output_attentions=False (training): fused attention, no weights kept
            x, weights = layer(x, key_padding_mask=padding, need_weights=output_attentions)  # (B, T, d), (B, h, T, T)
            if output_attentions:
                attentions.append(weights)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, attentions

    @classmethod
    def from_hf(cls, model) -> "BertEncoder":
        """A copy of a ``transformers.BertModel``'s weights (its pooler is not used), same dtype."""
        config = getattr(model, "config", None)
        if config is None or not hasattr(model, "embeddings") or not hasattr(model, "encoder"):
            raise TypeError(f"BertEncoder.from_hf needs a transformers BertModel, got {type(model).__name__}")
        if config.hidden_act != "gelu":
            raise ValueError(f"only the exact GELU is supported, the model uses {config.hidden_act!r}")
        dtype = model.embeddings.word_embeddings.weight.dtype
        ours = cls(config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
                   config.intermediate_size, config.max_position_embeddings, config.type_vocab_size,
                   config.layer_norm_eps).to(dtype)
        e = model.embeddings
        with torch.no_grad():
            ours.tok_emb.weight.copy_(e.word_embeddings.weight)
            ours.pos_emb.weight.copy_(e.position_embeddings.weight)
            ours.seg_emb.weight.copy_(e.token_type_embeddings.weight)
            ours.emb_norm.load_state_dict(e.LayerNorm.state_dict())
            for layer, theirs in zip(ours.layers, model.encoder.layer):
                attention = theirs.attention
                for mine, hf in [(layer.self_attn.W_q, attention.self.query), (layer.self_attn.W_k, attention.self.key),
                                 (layer.self_attn.W_v, attention.self.value), (layer.self_attn.W_o, attention.output.dense),
                                 (layer.linear1, theirs.intermediate.dense), (layer.linear2, theirs.output.dense)]:
                    mine.load_state_dict(hf.state_dict())
                layer.norm1.load_state_dict(attention.output.LayerNorm.state_dict())
                layer.norm2.load_state_dict(theirs.output.LayerNorm.state_dict())
        return ours


class BertForPreTraining(nn.Module):
    """A :class:`BertEncoder` with BERT's two pre-training heads.

    ``forward(input_ids, attention_mask=None, token_type_ids=None)`` -> ``(mlm_logits (B, T, V), nsp_logits (B, 2),
    attentions)``. The masked-LM output layer is the token embedding (tied) plus a bias.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, n_layers: int = 2, n_heads: int = 2,
                 d_ff: int | None = None, max_len: int = 512, layer_norm_eps: float = 1e-12, norm_first: bool = False):
        super().__init__()
        self.encoder = BertEncoder(vocab_size, d_model, n_layers, n_heads, d_ff, max_len,
                                   layer_norm_eps=layer_norm_eps, norm_first=norm_first)
        self.mlm_transform = nn.Linear(d_model, d_model)  # W_t, b_t
        self.mlm_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.mlm_bias = nn.Parameter(torch.zeros(vocab_size))  # b; the weight is encoder.tok_emb.weight
        self.pooler = nn.Linear(d_model, d_model)  # W_p, b_p on [CLS]
        self.nsp = nn.Linear(d_model, 2)
        self.apply(_init_weights)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_attentions: bool = True):
        h, attentions = self.encoder(input_ids, attention_mask, token_type_ids, output_attentions)  # (B, T, d_model)
        mlm_logits = self.mlm_head(h)  # (B, T, V)
        nsp_logits = self.nsp(torch.tanh(self.pooler(h[:, 0])))  # (B, 2) from [CLS]
        return mlm_logits, nsp_logits, attentions

    def mlm_head(self, h: torch.Tensor) -> torch.Tensor:
        """Masked-LM logits ``(..., V)`` from hidden states ``(..., d_model)``. Training computes it at the selected
        positions only (``model.mlm_head(h[labels != -100])``): most positions need no prediction, and the output
        layer, V wide, is the costliest step."""
        t = self.mlm_norm(F.gelu(self.mlm_transform(h)))
        return t @ self.encoder.tok_emb.weight.T + self.mlm_bias  # tied to the token embedding


def mlm_loss(mlm_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the selected positions only (``labels`` -100 elsewhere), averaged over them."""
    if not bool((labels != -100).any()):
        raise ValueError("no position is selected in labels (all -100): nothing to predict; mask some tokens")
    return F.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
