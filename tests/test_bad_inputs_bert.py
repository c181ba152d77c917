"""Bad and edge-case inputs of ``course_lib.bert`` (notebook 08), one table row per call a learner might make: a clear
error that names the argument (and the fix), or the right answer."""
import pytest
import torch

from badinput import Case, ids, run_case
from course_lib import bert, checkpoint
from course_lib.widgets import fillmask

torch.manual_seed(0)
ENC = bert.BertEncoder(vocab_size=40, d_model=16, n_layers=1, n_heads=2, max_len=16)
TOKENS = torch.tensor([[2, 5, 6, 7, 3]])  # [CLS] three tokens [SEP]
TOKENIZER = bert.wordpiece_tokenizer()
V = TOKENIZER.get_vocab_size()
MLM = bert.BertForPreTraining(V, d_model=16, n_layers=1, n_heads=2, max_len=16, norm_first=True)
STREAM = torch.randint(5, 40, (200,), generator=torch.Generator().manual_seed(0))


def _chart_after_refusal(**bad):
    """A refused value leaves the chart on its last good input, and the next good one works."""
    chart = fillmask.FillMaskChart(MLM, TOKENIZER, "the [MASK] is dead")
    before = chart.state
    try:
        chart.set(**bad)
    except (ValueError, TypeError):
        pass
    assert chart.state == before and chart.result.tokens[2] == "[MASK]"
    chart.set(text="long live the [MASK]")
    return chart.result.tokens


def _damaged_checkpoint():
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    shutil.copy(bert.PRETRAINED, folder / bert.PRETRAINED.name)
    shutil.copy(str(bert.PRETRAINED) + ".sha256", folder / (bert.PRETRAINED.name + ".sha256"))
    path = folder / bert.PRETRAINED.name
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    return bert.load_pretrained(TOKENIZER, path)

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
    # pre-training data and scores
    Case("token_stream: an empty text", lambda: bert.token_stream(TOKENIZER, "  \n "), raises=ValueError,
         match=r"no tokens"),
    Case("token_stream: bytes", lambda: bert.token_stream(TOKENIZER, b"to be"), raises=TypeError,
         match=r"text must be a string"),
    Case("windows: longer than the stream", lambda: bert.windows(STREAM, 500), raises=ValueError,
         match=r"T must be an integer from 1 to the stream's length 200"),
    Case("windows: a 2-D stream", lambda: bert.windows(STREAM.view(20, 10), 4), raises=ValueError,
         match=r"1-D tensor of token ids"),
    Case("windows: T = 200, the whole stream", lambda: bert.windows(STREAM, 200).shape,
         returns=lambda shape: shape == (1, 200)),
    Case("mlm_batch: batch_size 0", lambda: bert.mlm_batch(STREAM, 0, 8, 40), raises=ValueError,
         match=r"batch_size must be a positive integer"),
    Case("mlm_batch: windows as long as the stream", lambda: bert.mlm_batch(STREAM, 2, 200, 40), raises=ValueError,
         match=r"T must be an integer from 1 to 199"),
    Case("baselines: nothing selected",
         lambda: bert.baselines(STREAM, TOKENS, torch.full_like(TOKENS, -100), 40), raises=ValueError,
         match=r"selects no position"),
    Case("masked_accuracy: nothing selected",
         lambda: bert.masked_accuracy(MLM, TOKENS, torch.full_like(TOKENS, -100)), raises=ValueError,
         match=r"selects no position"),
    Case("loss_at_blanks: full logits instead of AtBlanks'",
         lambda: bert.loss_at_blanks(torch.zeros(1, 5, 40), torch.tensor([[-100, 6, -100, -100, -100]])),
         raises=ValueError, match=r"logits must be \(N, V\).*bert.AtBlanks"),
    Case("load_pretrained: a damaged copy", _damaged_checkpoint, raises=checkpoint.CheckpointError,
         match=r"(?s)damaged.*benchmarks/bert.py --checkpoint"),
    Case("load_pretrained: a missing file", lambda: bert.load_pretrained(TOKENIZER, "/nonexistent/bert.safetensors"),
         raises=checkpoint.CheckpointError, match=r"does not exist"),
    # the fill-mask explorer
    Case("fill_mask: empty text", lambda: fillmask.fill_mask(MLM, TOKENIZER, "   "), raises=ValueError,
         match=r"the text is empty"),
    Case("fill_mask: longer than the model's positions", lambda: fillmask.fill_mask(MLM, TOKENIZER, "a " * 20),
         raises=ValueError, match=r"22 tokens long with \[CLS\] and \[SEP\], the model has 16 positions: shorten "
                                  r"it by at least 6"),
    Case("fill_mask: no [MASK] in the sentence", lambda: fillmask.fill_mask(MLM, TOKENIZER, "to be or not to be"),
         raises=ValueError, match=r"nothing to fill in.*does not continue a text.*Write \[MASK\]"),
    Case("fill_mask: [mask] in lower case is a blank too", lambda: fillmask.fill_mask(MLM, TOKENIZER, "to [mask]").masks,
         returns=lambda masks: masks == [2]),
    Case("fill_mask: four blanks", lambda: fillmask.fill_mask(MLM, TOKENIZER, "[MASK] [MASK] [MASK] [MASK]"),
         raises=ValueError, match=r"4 blanks.*at most 3"),
    Case("fill_mask: hide a word that is not there", lambda: fillmask.fill_mask(MLM, TOKENIZER, "to be", hide=5),
         raises=ValueError, match=r"hide must be an integer in \[0, 1\]"),
    Case("fill_mask: hide a word of several pieces", lambda: fillmask.fill_mask(MLM, TOKENIZER, "a scholar", hide=1).hidden,
         returns=lambda hidden: hidden == ["sch", "##ol", "##ar"]),
    Case("fill_mask: a model without the MLM head", lambda: fillmask.fill_mask(MLM.encoder, TOKENIZER, "[MASK]"),
         raises=TypeError, match=r"bert.BertForPreTraining"),
    Case("fill_mask: a tokenizer of another size",
         lambda: fillmask.fill_mask(bert.BertForPreTraining(50, 16, 1, 2, max_len=16), TOKENIZER, "[MASK]"),
         raises=ValueError, match=r"4096 tokens, the model 50"),
    Case("fill_mask: k = 0", lambda: fillmask.fill_mask(MLM, TOKENIZER, "[MASK]", k=0), raises=ValueError,
         match=r"k must be an integer in \[1, 50\]"),
    Case("chart: a sentence without a blank is shown with a notice",
         lambda: (lambda c: (c.set(text="the king is dead"), c.result, c.notice[:18], c.words))(
             fillmask.FillMaskChart(MLM, TOKENIZER, "the [MASK] is dead")),
         returns=lambda out: out == (None, None, "nothing to fill in", ["the", "king", "is", "dead"])),
    Case("chart: empty text refused, then a good one works", lambda: _chart_after_refusal(text=""),
         returns=lambda tokens: tokens[-2] == "[MASK]"),
    Case("chart: too long refused, then a good one works", lambda: _chart_after_refusal(text="king " * 30),
         returns=lambda tokens: tokens[-2] == "[MASK]"),
    Case("chart: hide = 9 refused, then a good one works", lambda: _chart_after_refusal(hide=9),
         returns=lambda tokens: tokens[-2] == "[MASK]"),
    Case("chart: hide = True refused", lambda: _chart_after_refusal(hide=True),
         returns=lambda tokens: tokens[-2] == "[MASK]"),
    Case("chart: text = None refused", lambda: _chart_after_refusal(text=None),
         returns=lambda tokens: tokens[-2] == "[MASK]"),
    Case("attention_input: not a BERT", lambda: fillmask.attention_input(torch.nn.Linear(2, 2), TOKENIZER, "a"),
         raises=TypeError, match=r"bert.BertEncoder or bert.BertForPreTraining"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
