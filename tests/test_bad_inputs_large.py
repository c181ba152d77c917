"""Bad and edge-case inputs of notebook 11's helpers (``course_lib.scale``, ``compress``, ``metrics``, ``distributed``
and the confusion explorer), one table row per call a learner might make: a clear error that names the argument, or
the right answer."""
import pytest
import torch
from torch import nn

from badinput import Case, ids, run_case
from course_lib import compress, distributed, metrics, scale
from course_lib.widgets.confusion import ConfusionExplorer

LINEAR = nn.Linear(3, 2)
LONG = torch.tensor([0, 1, 2])
LOGITS = torch.zeros(3, 4)
Y = torch.zeros(3, dtype=torch.long)
CLASSES = ["a", "b", "c"]


def _explorer():
    return ConfusionExplorer({"m": LONG, "n": LONG.flip(0)}, LONG, CLASSES)


CASES = [
    # scale
    Case("count_parameters: a tensor, not a model", lambda: scale.count_parameters(torch.zeros(3)), raises=TypeError,
         match=r"model must be a torch.nn.Module, got Tensor"),
    Case("count_parameters: a model without parameters", lambda: scale.count_parameters(nn.ReLU()), returns=lambda n: n == 0),
    Case("count_flops: no input", lambda: scale.count_flops(LINEAR), raises=ValueError,
         match=r"needs the model's inputs"),
    Case("count_flops: an input of the wrong width", lambda: scale.count_flops(LINEAR, torch.zeros(1, 5)),
         raises=RuntimeError, match=r"shapes cannot be multiplied"),
    Case("count_flops: an unbatched nn.LSTM input (T, D)", lambda: scale.count_flops(nn.LSTM(3, 4), torch.zeros(5, 3)),
         returns=lambda f: f == scale.lstm_flops(1, 5, 3, 4)),
    Case("lstm_flops: zero steps", lambda: scale.lstm_flops(1, 0, 3, 4), raises=ValueError, match=r"steps must be a positive int"),
    Case("lstm_flops: a float size", lambda: scale.lstm_flops(1, 2, 3.0, 4), raises=ValueError,
         match=r"input_size must be a positive int, got 3.0"),
    Case("training_memory: negative", lambda: scale.training_memory(-5), raises=ValueError,
         match=r"parameters must be a non-negative number"),
    Case("training_memory: True", lambda: scale.training_memory(True), raises=ValueError, match=r"parameters"),
    Case("training_memory: infinite", lambda: scale.training_memory(float("inf")), raises=ValueError, match=r"parameters"),
    Case("count_flops: an LSTM with proj_size", lambda: scale.count_flops(nn.LSTM(3, 4, proj_size=2), torch.zeros(2, 3)),
         raises=ValueError, match=r"proj_size"),
    Case("training_memory: 0 parameters", lambda: scale.training_memory(0), returns=lambda m: m.total == 0),
    # compress: quantization
    Case("quantize_int8: a list", lambda: compress.quantize_int8([1.0, 2.0]), raises=TypeError, match=r"w must be a torch.Tensor"),
    Case("quantize_int8: integers", lambda: compress.quantize_int8(torch.ones(3, dtype=torch.long)), raises=ValueError,
         match=r"non-empty float tensor, got dtype torch.int64"),
    Case("quantize_int8: empty", lambda: compress.quantize_int8(torch.zeros(0)), raises=ValueError, match=r"non-empty"),
    Case("quantize_int8: NaN", lambda: compress.quantize_int8(torch.tensor([1.0, float("nan")])), raises=ValueError,
         match=r"NaN or infinite"),
    Case("quantize_int8: all zeros", lambda: compress.quantize_int8(torch.zeros(4)),
         returns=lambda r: torch.equal(r[0], torch.zeros(4, dtype=torch.int8))),
    Case("dequantize: float values", lambda: compress.dequantize(torch.ones(3), 0.1), raises=TypeError,
         match=r"q must be an int8 tensor"),
    Case("quantize_dynamic: not a model", lambda: compress.quantize_dynamic("bert"), raises=TypeError, match=r"model must be"),
    Case("quantize_dynamic: nothing to quantize", lambda: compress.quantize_dynamic(nn.ReLU()),
         returns=lambda m: isinstance(m, nn.ReLU)),
    Case("model_bytes: not a model", lambda: compress.model_bytes(None), raises=TypeError, match=r"model must be"),
    # compress: pruning
    Case("prune_magnitude: amount 1.5", lambda: compress.prune_magnitude(LINEAR, 1.5), raises=ValueError,
         match=r"amount must be a fraction in \[0, 1\].*1.5"),
    Case("prune_magnitude: amount as a percentage", lambda: compress.prune_magnitude(LINEAR, 50), raises=ValueError,
         match=r"fraction"),
    Case("prune_magnitude: amount True", lambda: compress.prune_magnitude(LINEAR, True), raises=ValueError, match=r"amount"),
    Case("prune_magnitude: no layer to prune", lambda: compress.prune_magnitude(nn.ReLU(), 0.5), raises=ValueError,
         match=r"no Conv2d or Linear layer"),
    Case("prune_magnitude: leaves the original", lambda: (compress.prune_magnitude(LINEAR, 1.0), LINEAR)[1],
         returns=lambda m: compress.sparsity(m) == 0),
    Case("sparsity: no layer", lambda: compress.sparsity(nn.ReLU()), raises=ValueError, match=r"no Conv2d or Linear"),
    # compress: distillation
    Case("distillation_loss: shapes differ", lambda: compress.distillation_loss(LOGITS, torch.zeros(3, 5), Y),
         raises=ValueError, match=r"teacher_logits must have the student's shape \(3, 4\), got \(3, 5\)"),
    Case("distillation_loss: one label too many", lambda: compress.distillation_loss(LOGITS, LOGITS, torch.zeros(4, dtype=torch.long)),
         raises=ValueError, match=r"y must have one label per row: \(3,\)"),
    Case("distillation_loss: 1-D logits", lambda: compress.distillation_loss(LOGITS[0], LOGITS[0], Y), raises=ValueError,
         match=r"student_logits must have 2 dimensions"),
    Case("distillation_loss: temperature 0", lambda: compress.distillation_loss(LOGITS, LOGITS, Y, temperature=0),
         raises=ValueError, match=r"temperature must be a number > 0"),
    Case("distillation_loss: alpha 1.5", lambda: compress.distillation_loss(LOGITS, LOGITS, Y, alpha=1.5),
         raises=ValueError, match=r"alpha must be in \[0, 1\]"),
    Case("distillation_loss: float labels", lambda: compress.distillation_loss(LOGITS, LOGITS, Y.float()),
         raises=TypeError, match=r"y must hold integer class indices"),
    Case("distillation_loss: a label out of range", lambda: compress.distillation_loss(LOGITS, LOGITS, Y + 4),
         raises=ValueError, match=r"y must hold class indices in \[0, 3\]"),
    Case("distillation_loss: integer logits", lambda: compress.distillation_loss(LOGITS.long(), LOGITS.long(), Y),
         raises=TypeError, match=r"student_logits must be a float tensor"),
    Case("distillation_loss: NaN teacher", lambda: compress.distillation_loss(LOGITS, LOGITS * float("nan"), Y),
         raises=ValueError, match=r"teacher_logits contains NaN"),
    Case("distillation_loss: the same logits and alpha 1 give 0", lambda: compress.distillation_loss(LOGITS, LOGITS, Y, alpha=1.0),
         returns=lambda loss: abs(loss.item()) < 1e-7),
    # metrics
    Case("confusion_matrix: a list", lambda: metrics.confusion_matrix([0, 1], LONG[:2], 3), raises=TypeError,
         match=r"y_true must be a torch.Tensor of class indices"),
    Case("confusion_matrix: lengths differ", lambda: metrics.confusion_matrix(LONG, LONG[:2], 3), raises=ValueError,
         match=r"same length, got 3 and 2"),
    Case("confusion_matrix: a class index too large", lambda: metrics.confusion_matrix(LONG, LONG + 1, 3),
         raises=ValueError, match=r"y_pred must hold class indices in \[0, 2\], got values in \[1, 3\]"),
    Case("confusion_matrix: (N, 1) labels", lambda: metrics.confusion_matrix(LONG[:, None], LONG[:, None], 3),
         raises=ValueError, match=r"shape \(N,\).*\(3, 1\)"),
    Case("confusion_matrix: float labels", lambda: metrics.confusion_matrix(LONG.float(), LONG, 3), raises=TypeError,
         match=r"integer class indices, got dtype torch.float32"),
    Case("confusion_matrix: empty", lambda: metrics.confusion_matrix(LONG[:0], LONG[:0], 3), raises=ValueError,
         match=r"y_true is empty"),
    Case("confusion_matrix: one class", lambda: metrics.confusion_matrix(LONG, LONG, 1), raises=ValueError,
         match=r"classes must be an int >= 2"),
    Case("precision_recall_f1: not square", lambda: metrics.precision_recall_f1(torch.ones(2, 3)), raises=ValueError,
         match=r"square \(C, C\).*\(2, 3\)"),
    Case("precision_recall_f1: negative counts", lambda: metrics.precision_recall_f1(-torch.ones(2, 2)), raises=ValueError,
         match=r"cannot be negative"),
    Case("ngram_perplexity: empty training text", lambda: metrics.ngram_perplexity("", "abc", 2), raises=ValueError,
         match=r"train_text must be a non-empty string"),
    Case("ngram_perplexity: order 0", lambda: metrics.ngram_perplexity("abc", "abc", 0), raises=ValueError,
         match=r"order must be an int >= 1"),
    Case("ngram_perplexity: k 0", lambda: metrics.ngram_perplexity("abc", "abc", 2, k=0), raises=ValueError,
         match=r"k must be a number > 0"),
    Case("ngram_perplexity: characters never seen in training", lambda: metrics.ngram_perplexity("abc", "xyz", 3),
         returns=lambda p: abs(p - 6.0) < 1e-9),  # a, b, c, x, y, z each counted once: p = 1/6 for every character
    # distributed (refused before any process starts)
    Case("launch: batch not divisible", lambda: distributed.launch(2, steps=1, batch=33), raises=ValueError,
         match=r"batch \(33\) must be a multiple of processes \(2\)"),
    Case("launch: 0 processes", lambda: distributed.launch(0, steps=1, batch=4), raises=ValueError,
         match=r"processes must be a positive int"),
    Case("launch: float16", lambda: distributed.launch(1, steps=1, batch=4, dtype="float16"), raises=ValueError,
         match=r"dtype must be 'float32' or 'float64'"),
    Case("max_difference: different names", lambda: distributed.max_difference({"a": torch.zeros(1)}, {"b": torch.zeros(1)}),
         raises=ValueError, match=r"different names"),
    # the confusion explorer
    Case("explorer: no model", lambda: ConfusionExplorer({}, LONG, CLASSES), raises=ValueError, match=r"non-empty dict"),
    Case("explorer: classes as one string", lambda: ConfusionExplorer({"m": LONG}, LONG, "a b c"), raises=TypeError,
         match=r"classes must be a list"),
    Case("explorer: predictions of another length", lambda: ConfusionExplorer({"m": LONG[:2]}, LONG, CLASSES),
         raises=ValueError, match=r"same length"),
    Case("explorer: unknown model", lambda: _explorer().set(model="o"), raises=ValueError, match=r"model"),
    Case("explorer: unknown norm", lambda: _explorer().set(norm="column"), raises=ValueError, match=r"norm"),
    Case("explorer: a class never predicted", lambda: ConfusionExplorer({"m": torch.zeros(3, dtype=torch.long)}, LONG, CLASSES).png(),
         returns=lambda png: png[:4] == b"\x89PNG"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
