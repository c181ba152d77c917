"""Bad and edge-case inputs of ``course_lib.bert`` (notebook 08), one table row per call a learner might make: a clear
error that names the argument (and the fix), or the right answer."""
import pytest
import torch

from badinput import Case, ids, run_case
from course_lib import bert

torch.manual_seed(0)
ENC = bert.BertEncoder(vocab_size=40, d_model=16, n_layers=1, n_heads=2, max_len=16)
TOKENS = torch.tensor([[2, 5, 6, 7, 3]])  # [CLS] three tokens [SEP]

CASES = [
    # the encoder
    Case("encoder: an empty input", lambda: ENC(torch.zeros(1, 0, dtype=torch.long)), raises=ValueError, match=r"empty"),
    Case("encoder: longer than its positions", lambda: ENC(torch.full((1, 20), 5)), raises=ValueError,
         match=r"20 tokens, more than the model's 16 positions"),
    Case("encoder: exactly as long as its positions", lambda: ENC(torch.full((1, 16), 5)),
         returns=lambda out: out[0].shape == (1, 16, 16)),
    Case("encoder: one sequence without a batch", lambda: ENC(torch.tensor([5, 6, 7])), raises=ValueError,
         match=r"\(B, T\).*x\[None\]"),
    Case("encoder: float ids", lambda: ENC(TOKENS.float()), raises=ValueError, match=r"integer tensor"),
    Case("encoder: an id outside the vocabulary", lambda: ENC(torch.tensor([[5, 60]])), raises=ValueError,
         match=r"input_ids must lie in 0 \.\. 39"),
    Case("encoder: attention_mask all zeros in a row",
         lambda: ENC(torch.tensor([[5, 6]]), attention_mask=torch.tensor([[0, 0]])), raises=ValueError,
         match=r"row of zeros"),
    Case("encoder: attention_mask of another shape", lambda: ENC(TOKENS, attention_mask=torch.ones(1, 4).long()),
         raises=ValueError, match=r"attention_mask must have the shape of input_ids \(1, 5\)"),
    Case("encoder: attention_mask with a 2", lambda: ENC(TOKENS, attention_mask=torch.full((1, 5), 2)),
         raises=ValueError, match=r"attention_mask must lie in 0 \.\. 1"),
    Case("encoder: a third segment", lambda: ENC(TOKENS, token_type_ids=torch.tensor([[0, 0, 1, 1, 2]])),
         raises=ValueError, match=r"token_type_ids must lie in 0 \.\. 1"),
    Case("encoder: a text of [MASK] only", lambda: ENC(torch.full((1, 3), bert.MASK_ID)),
         returns=lambda out: torch.isfinite(out[0]).all()),
    # masking
    Case("mask_tokens: float ids", lambda: bert.mask_tokens(torch.tensor([1.5]), 40), raises=ValueError,
         match=r"integer tensor"),
    Case("mask_tokens: rate 0", lambda: bert.mask_tokens(TOKENS, 40, rate=0), raises=ValueError,
         match=r"rate must be a number in \(0, 1\]"),
    Case("mask_tokens: rate 15 (a percentage)", lambda: bert.mask_tokens(TOKENS, 40, rate=15), raises=ValueError,
         match=r"rate must be a number in \(0, 1\].*0\.15"),
    Case("mask_tokens: an id outside the vocabulary", lambda: bert.mask_tokens(torch.tensor([5, 60]), 40),
         raises=ValueError, match=r"0 \.\. 39"),
    Case("mask_tokens: a vocabulary of special tokens only", lambda: bert.mask_tokens(TOKENS, 5), raises=ValueError,
         match=r"larger than the 5 special tokens"),
    Case("mask_tokens: only special tokens to mask", lambda: bert.mask_tokens(torch.tensor([[2, 3, 0]]), 40, rate=1.0),
         returns=lambda out: (out[1] == -100).all() and torch.equal(out[0], torch.tensor([[2, 3, 0]]))),
    Case("mask_tokens: an empty batch", lambda: bert.mask_tokens(torch.zeros(0, 8, dtype=torch.long), 40),
         returns=lambda out: out[0].shape == (0, 8)),
    # the loss
    Case("mlm_loss: nothing selected", lambda: bert.mlm_loss(torch.zeros(1, 2, 40), torch.full((1, 2), -100)),
         raises=ValueError, match=r"no position is selected"),
    # the tokenizer
    Case("wordpiece_tokenizer: vocabulary of 10", lambda: bert.wordpiece_tokenizer(10), raises=ValueError,
         match=r"vocab_size must be an integer from 100 to 50,000, got 10"),
    Case("wordpiece_tokenizer: vocabulary 4096.0", lambda: bert.wordpiece_tokenizer(4096.0), raises=ValueError,
         match=r"vocab_size must be an integer"),
    Case("from_hf: not a BertModel", lambda: bert.BertEncoder.from_hf(torch.nn.Linear(2, 2)), raises=TypeError,
         match=r"transformers BertModel, got Linear"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
