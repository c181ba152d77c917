"""Bad and edge-case inputs of course_lib.train (accuracy, evaluate, fit): a clear error or the right answer.

Each row is one call a learner might make (issue #15). Calls that could change a model carry ``state=``: the model's
train/eval modes and parameters must be exactly as before (refusals happen before anything is trained).
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from badinput import Case, ids, model_state, run_case
from course_lib import data, rnn, train

G = torch.Generator().manual_seed(0)
X = torch.randn(16, 3, generator=G)  # 16 rows of 3 features
Y = torch.randint(0, 2, (16,), generator=G)  # 2 classes
XR, YR = X, X @ torch.tensor([1.0, -2.0, 0.5])  # a regression target (16,)
TOKENS = torch.arange(200) % 10  # token ids of a 10-symbol text
# The first optimizer of a process imports torch._dynamo (seconds): pay that here, not inside a time-limited case.
torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)

# logits of 6 rows, 3 classes: the predictions are 0 1 2 0 1 2; only row 0 is right for y = 0 0 0 1 0 1 -> 1/6.
# (N, 1) labels used to broadcast to a 6 x 6 table and give 12/36 = 0.33 (the example).
LOGITS6 = torch.eye(3).repeat(2, 1)  # (6, 3)
Y6 = torch.tensor([0, 0, 0, 1, 0, 1])


def classifier(mode: str = "train") -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))
    return model.train(mode == "train")


class TupleModel(nn.Module):
    """Returns (logits, state), as a recurrent model does."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x), torch.zeros(1)


class TinyLM(nn.Module):
    """(B, T) ids -> (B, T, 10) logits."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10)

    def forward(self, idx):
        return self.head(self.emb(idx))


def sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr)


def model_case(id, call, make=classifier, **kw):
    """A case on a fresh model (``call(model)``) whose state must not change."""
    model = make()
    return Case(id, lambda: call(model), state=lambda: model_state(model), **kw)


def fit(model, batches=None, loss_fn=F.cross_entropy, opt=None, **kw):
    kw.setdefault("steps", 2)
    kw.setdefault("live", False)
    return train.fit(model, [(X, Y)] if batches is None else batches, loss_fn, opt or sgd(model), **kw)


def one_shot(n):
    return ((X[i : i + 4], Y[i : i + 4]) for i in range(0, 4 * n, 4))


def fit_after(model, steps, **kw):
    """fit that must stop with an error after ``steps`` optimizer steps: the model keeps the steps taken."""
    return fit(model, one_shot(steps), steps=10, **kw)


def _nan_batch():
    x = X.clone()
    x[3, 1] = float("nan")
    return [(x, Y)]


def _nan_model():
    model = classifier()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    return model


def _frozen():
    model = classifier()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _mixed_modes():
    model = classifier()
    model[2].eval()  # dropout off while the rest trains: evaluate must restore exactly this
    return model


def _same_training(clip):
    """Parameters after 3 SGD steps with ``clip_grad_norm=clip``."""
    model = classifier()
    fit(model, steps=3, clip_grad_norm=clip)
    return [p.detach().clone() for p in model.parameters()]


def _diverge():
    model = nn.Linear(3, 1)
    return fit(model, [(XR * 1e3, YR.view(-1, 1))], F.mse_loss, opt=sgd(model, 1e6), steps=50)


def _exhausted():
    gen = one_shot(1)
    list(gen)
    return gen


CASES = [
    # ---------------- accuracy ----------------
    Case("accuracy (N, 1) labels", lambda: train.accuracy(LOGITS6, Y6.view(-1, 1)),
         raises=ValueError, match=r"y must have shape \(6,\).*got \(6, 1\).*y\.squeeze\(-1\)"),
    Case("accuracy plain labels: 1/6", lambda: train.accuracy(LOGITS6, Y6), returns=lambda r: abs(float(r) - 1 / 6) < 1e-7),
    Case("accuracy one-hot float labels", lambda: train.accuracy(LOGITS6, F.one_hot(Y6, 3).float()),
         returns=lambda r: abs(float(r) - 1 / 6) < 1e-7),
    Case("accuracy one-hot int64 labels", lambda: train.accuracy(LOGITS6, F.one_hot(Y6, 3)),
         returns=lambda r: abs(float(r) - 1 / 6) < 1e-7),
    Case("accuracy one-hot bool labels", lambda: train.accuracy(LOGITS6, F.one_hot(Y6, 3).bool()),
         returns=lambda r: abs(float(r) - 1 / 6) < 1e-7),
    Case("accuracy label-smoothed rows", lambda: train.accuracy(LOGITS6, F.one_hot(Y6, 3) * 0.9 + 0.1 / 3),
         returns=lambda r: abs(float(r) - 1 / 6) < 1e-7),
    Case("accuracy rows of y not one-hot", lambda: train.accuracy(LOGITS6, torch.ones(6, 3)),
         raises=ValueError, match=r"not one-hot.*class ids of shape \(6,\)"),
    Case("accuracy (logits, state) output", lambda: train.accuracy((LOGITS6, torch.zeros(1, 6, 4)), Y6),
         returns=lambda r: abs(float(r) - 1 / 6) < 1e-7),
    Case("accuracy sequence logits (B, T, C)", lambda: train.accuracy(LOGITS6.view(2, 3, 3), Y6.view(2, 3)),
         returns=lambda r: abs(float(r) - 1 / 6) < 1e-7),
    Case("accuracy float class ids", lambda: train.accuracy(LOGITS6, Y6.float()),
         raises=TypeError, match=r"y must hold integer class ids.*y\.long\(\)"),
    Case("accuracy label 3 of 3 classes", lambda: train.accuracy(LOGITS6, torch.tensor([0, 1, 2, 3, 0, 0])),
         raises=ValueError, match=r"class ids from 0 to 3.*3 classes \(ids 0\.\.2\)"),
    Case("accuracy label -1", lambda: train.accuracy(LOGITS6, torch.tensor([-1, 1, 2, 0, 0, 0])),
         raises=ValueError, match=r"class ids from -1"),
    Case("accuracy 1-D predictions as logits", lambda: train.accuracy(Y6, Y6),
         raises=ValueError, match=r"logits must be \(N, C\).*\(predicted == y\)"),
    Case("accuracy one logit per row", lambda: train.accuracy(torch.randn(6, 1), Y6),
         raises=ValueError, match=r"C >= 2.*single logit"),
    Case("accuracy rows differ", lambda: train.accuracy(LOGITS6, Y6[:4]),
         raises=ValueError, match=r"y must have shape \(6,\).*got \(4,\)"),
    Case("accuracy no rows", lambda: train.accuracy(LOGITS6[:0], Y6[:0]), raises=ValueError, match=r"no rows"),
    Case("accuracy numpy labels", lambda: train.accuracy(LOGITS6, Y6.numpy()),
         raises=TypeError, match=r"y must be a tensor.*torch\.as_tensor"),
    Case("accuracy list as output", lambda: train.accuracy([[0.1, 0.9]], Y6[:1]),
         raises=TypeError, match=r"output must be logits"),

    # ---------------- evaluate ----------------
    model_case("evaluate error leaves the mode as it was",
               lambda m: train.evaluate(m, [(X, Y), (X[:, :2], Y)], F.cross_entropy),
               raises=RuntimeError, match=r"mat1 and mat2"),
    model_case("evaluate restores mixed submodule modes",
               lambda m: train.evaluate(m, [(X, Y)], F.cross_entropy, train.accuracy), make=_mixed_modes,
               returns=lambda r: isinstance(r, tuple) and math.isfinite(r[0]) and 0 <= r[1] <= 1),
    model_case("evaluate endless lm stream", lambda m: train.evaluate(m, data.lm_stream_batches(TOKENS, 2, 5), rnn.lm_loss),
               make=TinyLM, raises=ValueError, match=r"never ends.*lm_eval_batches", timeout=5),
    model_case("evaluate itertools.cycle", lambda m: train.evaluate(m, itertools.cycle([(X, Y)]), F.cross_entropy),
               raises=ValueError, match=r"batches never ends", timeout=5),
    model_case("evaluate one (x, y) pair", lambda m: train.evaluate(m, (X, Y), F.cross_entropy),
               raises=TypeError, match=r"batches looks like one \(x, y\) pair.*\[\(x, y\)\]"),
    model_case("evaluate empty list", lambda m: train.evaluate(m, [], F.cross_entropy),
               raises=ValueError, match=r"batches is empty"),
    model_case("evaluate exhausted generator", lambda m: train.evaluate(m, _exhausted(), F.cross_entropy),
               raises=ValueError, match=r"yielded no batch.*already read once"),
    Case("evaluate finite generator: weighted mean", lambda: train.evaluate(
        nn.Linear(1, 1).requires_grad_(False).apply(lambda m: [p.zero_() for p in m.parameters()]),
        ((torch.zeros(n, 1), torch.full((n, 1), v)) for n, v in ((3, 1.0), (1, 3.0))), F.mse_loss),
        returns=lambda r: r[0] == pytest.approx((3 * 1 + 1 * 9) / 4) and math.isnan(r[1])),
    Case("evaluate a function as model", lambda: train.evaluate(lambda x: x, [(X, Y)], F.cross_entropy),
         raises=TypeError, match=r"model must be a torch\.nn\.Module"),
    model_case("evaluate device 'gpu'", lambda m: train.evaluate(m, [(X, Y)], F.cross_entropy, device="gpu"),
               raises=ValueError, match=r"device must be 'cpu', 'cuda'.*got 'gpu'"),
    model_case("evaluate device differs from the model's",
               lambda m: train.evaluate(m, [(X, Y)], F.cross_entropy, device="meta"),
               raises=ValueError, match=r"device='meta'.*parameters are on cpu.*model\.to\('meta'\)"),
    model_case("evaluate numpy batch", lambda m: train.evaluate(m, [(X.numpy(), Y)], F.cross_entropy),
               raises=TypeError, match=r"x of batches\[0\] must be a torch\.Tensor.*torch\.as_tensor"),
    model_case("evaluate mse broadcast (N, 1) vs (N,)", lambda m: train.evaluate(m, [(XR, YR)], F.mse_loss),
               make=lambda: nn.Linear(3, 1), raises=ValueError, match=r"\(16, 1\) but y has shape \(16,\).*squeeze"),
    model_case("evaluate loss per row", lambda m: train.evaluate(
        m, [(X, Y)], lambda out, y: F.cross_entropy(out, y, reduction="none")),
               raises=ValueError, match=r"loss_fn must return one number.*reduction='mean'"),
    model_case("evaluate empty batch", lambda m: train.evaluate(m, [(X[:0], Y[:0])], F.cross_entropy),
               raises=ValueError, match=r"batches\[0\] is empty"),
    model_case("evaluate loss_fn None", lambda m: train.evaluate(m, [(X, Y)], None),
               raises=TypeError, match=r"loss_fn must be a function"),

    # ---------------- fit: refused before any training ----------------
    model_case("fit eval on the endless lm stream", lambda m: fit(
        m, data.lm_stream_batches(TOKENS, 2, 5), rnn.lm_loss, eval_batches=data.lm_stream_batches(TOKENS, 2, 5)),
               make=TinyLM, raises=ValueError, match=r"eval_batches never ends.*data\.lm_eval_batches", timeout=5),
    model_case("fit eval on a one-shot generator", lambda m: fit(m, eval_batches=one_shot(2)),
               raises=TypeError, match=r"eval_batches is a one-shot iterator.*list"),
    model_case("fit optimizer of another model", lambda m: fit(m, opt=sgd(classifier())),
               raises=ValueError, match=r"optimizer was built for other parameters.*model\.parameters\(\)"),
    model_case("fit clip_grad_norm=-1", lambda m: fit(m, clip_grad_norm=-1),
               raises=ValueError, match=r"clip_grad_norm must be > 0.*or None.*got -1"),
    model_case("fit clip_grad_norm=0", lambda m: fit(m, clip_grad_norm=0),
               raises=ValueError, match=r"clip_grad_norm must be > 0.*got 0"),
    model_case("fit clip_grad_norm nan", lambda m: fit(m, clip_grad_norm=float("nan")),
               raises=ValueError, match=r"clip_grad_norm must be > 0"),
    model_case("fit clip_grad_norm '1.0'", lambda m: fit(m, clip_grad_norm="1.0"),
               raises=TypeError, match=r"clip_grad_norm must be a number"),
    model_case("fit one (x, y) pair", lambda m: fit(m, (X, Y)),
               raises=TypeError, match=r"train_batches looks like one \(x, y\) pair.*\[\(x, y\)\].*lambda: \(x, y\)"),
    model_case("fit empty batch", lambda m: fit(m, [(X, Y), (X[:0], Y[:0])]),
               raises=ValueError, match=r"train_batches\[1\] is empty"),
    model_case("fit rows of x and y differ", lambda m: fit(m, [(X, Y[:8])]),
               raises=ValueError, match=r"same number of rows.*x \(16, 3\) and y \(8,\)"),
    model_case("fit NaN parameters from an earlier run", lambda m: fit(m), make=_nan_model,
               raises=ValueError, match=r"already hold NaN.*previous run diverged.*Re-create the model"),
    model_case("fit steps=2.5", lambda m: fit(m, steps=2.5), raises=TypeError, match=r"steps must be an integer"),
    model_case("fit steps=10**9", lambda m: fit(m, steps=10**9),
               raises=ValueError, match=r"steps must be <= 10,000,000", timeout=5),
    model_case("fit eval_every=0", lambda m: fit(m, eval_every=0, eval_batches=[(X, Y)]),
               raises=ValueError, match=r"eval_every must be >= 1"),
    model_case("fit a Dataset of single examples", lambda m: fit(m, torch.utils.data.TensorDataset(X, Y)),
               raises=TypeError, match=r"Dataset of single examples.*DataLoader\(train_batches, batch_size="),
    model_case("fit eval on an empty DataLoader", lambda m: fit(m, eval_batches=torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X[:0], Y[:0]), batch_size=4)),
               raises=ValueError, match=r"eval_batches is empty \(no batch\)"),
    model_case("fit a single tensor", lambda m: fit(m, X), raises=TypeError, match=r"single Tensor.*\[\(x, y\)\]"),
    model_case("fit scheduler of another optimizer", lambda m: fit(
        m, scheduler=torch.optim.lr_scheduler.StepLR(sgd(classifier()), 10)),
               raises=ValueError, match=r"scheduler was built for another optimizer"),
    model_case("fit OneCycleLR shorter than steps", lambda m: (lambda opt: fit(
        m, opt=opt, steps=5, scheduler=torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)))(sgd(m)),
               raises=ValueError, match=r"3 of its total_steps=3 left but steps=5.*total_steps=steps"),
    model_case("fit all parameters frozen", lambda m: fit(m, opt=torch.optim.SGD(m.parameters(), lr=0.1)),
               make=_frozen, raises=ValueError, match=r"no trainable parameters"),
    model_case("fit device 'cuda' on a CPU machine", lambda m: fit(m, device="cuda"),
               raises=ValueError, match=r"device='cuda'.*(no CUDA GPU|model\.to)"),
    model_case("fit live='no'", lambda m: fit(m, live="no"), raises=TypeError, match=r"live must be True or False"),
    model_case("fit optimizer is a class", lambda m: fit(m, opt=torch.optim.SGD),
               raises=TypeError, match=r"optimizer must be a torch\.optim\.Optimizer.*model\.parameters\(\)"),

    # ---------------- fit: errors at the first step leave the model as it was ----------------
    model_case("fit NaN in the data", lambda m: fit(m, _nan_batch()), make=lambda: classifier("eval"),
               raises=ValueError, match=r"NaN or infinite values in x.*not the learning rate"),
    model_case("fit model returns (logits, state)", lambda m: fit(m), make=TupleModel,
               raises=TypeError, match=r"model returned a tuple of 2.*rnn\.lm_loss"),
    model_case("fit loss per row", lambda m: fit(m, loss_fn=lambda o, y: F.cross_entropy(o, y, reduction="none")),
               make=lambda: classifier("eval"), raises=ValueError, match=r"loss_fn must return one number.*\.mean\(\)"),
    model_case("fit mse broadcast (N, 1) vs (N,)", lambda m: fit(m, [(XR, YR)], F.mse_loss),
               make=lambda: nn.Linear(3, 1), raises=ValueError, match=r"output has shape \(16, 1\) but y.*\(16,\)"),
    model_case("fit loss without gradient", lambda m: fit(m, loss_fn=lambda o, y: F.cross_entropy(o.detach(), y)),
               raises=ValueError, match=r"loss does not depend on any trainable parameter.*detach"),
    model_case("fit function returning None", lambda m: fit(m, lambda: None),
               raises=TypeError, match=r"a batch of train_batches must be a pair \(x, y\)"),
    model_case("fit float loss", lambda m: fit(m, loss_fn=lambda o, y: 1.0),
               raises=TypeError, match=r"loss_fn must return a tensor.*got float.*\.item\(\)"),

    # ---------------- fit: errors during training, and right answers ----------------
    Case("fit one-shot generator runs out", lambda: fit_after(classifier(), 3),
         raises=ValueError, match=r"ran out after 3 batches, at step 4 of 10.*one-shot iterator.*list"),
    Case("fit divergence blames the learning rate", _diverge,
         raises=FloatingPointError, match=r"loss became (nan|inf) at step \d+: lower the learning rate"),
    Case("fit endless stream trains, lm_eval_batches evaluates", lambda: fit(
        TinyLM(), data.lm_stream_batches(TOKENS, 2, 5), rnn.lm_loss, steps=3,
        eval_batches=data.lm_eval_batches(TOKENS, 4, 5, max_batches=2), metric=train.accuracy),
         returns=lambda h: h.steps == [1, 2, 3] and h.eval_steps == [1, 2, 3] and 0 <= h.final_eval_metric <= 1, timeout=10),
    Case("fit clip_grad_norm=inf is no clipping", lambda: (_same_training(math.inf), _same_training(None)),
         returns=lambda r: all(torch.equal(a, b) for a, b in zip(*r))),
    Case("fit eval on a DataLoader", lambda: fit(
        classifier(), steps=2, eval_batches=torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=5)),
         returns=lambda h: h.eval_steps == [1, 2] and math.isfinite(h.final_eval_loss)),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)


def test_fit_restores_the_mode_when_it_stops_mid_training():
    model = classifier("eval")
    with pytest.raises(ValueError, match="ran out"):
        fit_after(model, 2)
    assert [m.training for m in model.modules()] == [False] * len(list(model.modules()))


def test_harness_compares_nan_snapshots_exactly():
    """The harness fix this suite needs: a model whose parameters are NaN is unchanged when nothing touched it, and a
    NaN that became a number (or the reverse) is still a change."""
    from badinput import same

    nan = torch.tensor([float("nan"), 1.0])
    assert same({"w": nan}, {"w": nan.clone()}) and same(float("nan"), float("nan"))
    assert not same(nan, torch.tensor([0.0, 1.0])) and not same(torch.tensor([0.0, 1.0]), nan)
    assert not same(nan, nan.double())
