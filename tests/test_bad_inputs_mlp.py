"""Bad and edge-case inputs of ``course_lib.mlp`` (notebook 01), one table row per call a learner might make.

Each row asserts the exact outcome: the error type and a message naming the argument (and the fix), or the correct
result checked against a value computed by hand or by PyTorch. Rows that hand over parameters check they are left
unchanged (``state=``).
"""
import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from badinput import Case, ids, model_state, run_case
from course_lib import mlp

F64 = torch.float64


def _params(seed=0, D=4, H=5, C=3, dtype=F64):
    return mlp.init_params(D, H, C, seed=seed, dtype=dtype)


def _batch(B=6, D=4, dtype=F64):
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, D, dtype=dtype, generator=g), torch.tensor([0, 2, 1, 1, 0, 2])[:B]


def _snapshot(params):
    return lambda: {k: v.detach().clone() for k, v in params.items()}


def _forward(X=None, y=None, params=None):
    X0, y0 = _batch()
    return mlp.forward(_params() if params is None else params, X0 if X is None else X, y0 if y is None else y)


# --- large logits: a network whose logits are ±1000·tanh(10); the true loss is their difference, 2000·tanh(10) ----

def _saturated(dtype):
    params = {"W1": torch.eye(2, dtype=dtype), "b1": torch.zeros(2, dtype=dtype),
              "W2": 1000 * torch.eye(2, dtype=dtype), "b2": torch.zeros(2, dtype=dtype)}
    X, y = torch.tensor([[10.0, -10.0]], dtype=dtype), torch.tensor([1])
    return params, X, y


def _large_logit_loss(dtype):
    params, X, y = _saturated(dtype)
    return mlp.forward(params, X, y)[0]


def _is_margin(loss, dtype, rel):
    expected = 2000 * math.tanh(10)  # log(1 + e^-2000) is far below float precision
    return bool(torch.isfinite(loss)) and loss.dtype == dtype and abs(loss.item() - expected) <= rel * expected


def _large_logit_matches_torch():
    params, X, y = _saturated(F64)
    Z = torch.tanh(X @ params["W1"].T + params["b1"]) @ params["W2"].T + params["b2"]
    return mlp.forward(params, X, y)[0], nn.functional.cross_entropy(Z, y)


# --- numerical_gradient -----------------------------------------------------------------------------------------------

W = torch.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]], dtype=F64)


def _boom():
    raise RuntimeError("boom in the learner's f")


def _fails_on_second_call(param):
    calls = []

    def f():
        calls.append(1)
        if len(calls) == 2:  # while param[0] is at p - eps
            raise RuntimeError("boom in the learner's f")
        return (param ** 2).sum()
    return f


def _noncontiguous_gradient():
    base = W.clone()
    return mlp.numerical_gradient(lambda: (base ** 2).sum(), base.T), 2 * base.T


def _partial_gradient():
    p = W.clone()
    return mlp.numerical_gradient(lambda: (p ** 2).sum(), p, max_entries=2)


NUM_P = W.clone()  # rows that must leave this tensor exactly as it was
BIG_P = torch.zeros(64, 784, dtype=F64)  # W1 of notebook 01's hand-made network
LONG_P = torch.ones(10_001, dtype=F64)
LOG_P = torch.tensor([0.0, 1.0], dtype=F64)


# --- sgd_step ---------------------------------------------------------------------------------------------------------

SGD_P = _params(seed=3)
SGD_G = {k: torch.full_like(v, 0.5) for k, v in SGD_P.items()}


def _sgd(grads=None, lr=0.1, params=SGD_P):
    return mlp.sgd_step(params, SGD_G if grads is None else grads, lr)


def _sgd_on_leaves():
    """Parameters that require grad (as in the autograd cell) are updated in place: θ - lr·g, exactly."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in SGD_P.items()}
    mlp.sgd_step(leaves, SGD_G, 0.2)
    return all(torch.equal(leaves[k].detach(), SGD_P[k] - 0.2 * SGD_G[k]) for k in SGD_P)


def _sgd_tensor_lr():
    params = {k: v.clone() for k, v in SGD_P.items()}
    mlp.sgd_step(params, SGD_G, torch.tensor(0.25, dtype=F64))
    return all(torch.equal(params[k], SGD_P[k] - 0.25 * SGD_G[k]) for k in SGD_P)


# --- MLP --------------------------------------------------------------------------------------------------------------

torch.manual_seed(0)
NET = mlp.MLP(784, (8,), 10)
NET_STATE = functools.partial(model_state, NET)
IMG = torch.rand(2, 28, 28)


def _channel_dim():
    x = torch.rand(2, 1, 28, 28)
    return NET(x), NET(x.reshape(2, -1))


CASES = [
    # forward: labels
    Case("forward: fewer labels than rows", lambda: _forward(y=torch.tensor([0, 2, 1, 1])), raises=ValueError,
         match=r"y has 4 labels but X has 6 rows"),
    Case("forward: more labels than rows", lambda: _forward(y=torch.tensor([0, 2, 1, 1, 0, 2, 1])), raises=ValueError,
         match=r"y has 7 labels but X has 6 rows"),
    Case("forward: label -1", lambda: _forward(y=torch.tensor([0, 2, 1, 1, 0, -1])), raises=ValueError,
         match=r"y must hold class ids in 0\.\.2.*-1\.\.2"),
    Case("forward: label = number of classes", lambda: _forward(y=torch.tensor([0, 2, 1, 1, 0, 3])), raises=ValueError,
         match=r"y must hold class ids in 0\.\.2.*0\.\.3"),
    Case("forward: float labels", lambda: _forward(y=torch.tensor([0.0, 2, 1, 1, 0, 2])), raises=TypeError,
         match=r"y must hold integer class ids.*y\.long\(\)"),
    Case("forward: one-hot labels", lambda: _forward(y=torch.eye(3)[torch.tensor([0, 2, 1, 1, 0, 2])]),
         raises=TypeError, match=r"y\.argmax\(dim=1\)"),
    Case("forward: (N, 1) labels", lambda: _forward(y=torch.tensor([[0], [2], [1], [1], [0], [2]])), raises=ValueError,
         match=r"y must have shape \(B,\) = \(6,\).*\(6, 1\).*y\.view\(-1\)"),
    Case("forward: labels as a list", lambda: _forward(y=[0, 2, 1, 1, 0, 2]), raises=TypeError,
         match=r"y must be a tensor.*torch\.as_tensor\(y, dtype=torch\.long\)"),
    # forward: inputs
    Case("forward: one (28, 28) image", lambda: mlp.forward(mlp.init_params(784, 4, 10), torch.rand(28, 28, dtype=F64),
                                                             torch.tensor([3])),
         raises=ValueError, match=r"X must have shape \(B, D\) with D=784.*\(28, 28\).*X\.reshape\(1, -1\)"),
    Case("forward: raw uint8 images (B, 28, 28)",
         lambda: mlp.forward(mlp.init_params(784, 4, 10), torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8),
                             torch.tensor([3, 1])),
         raises=TypeError, match=r"X has dtype torch\.uint8.*X\.reshape\(len\(X\), -1\)\.to\(torch\.float64\) / 255"),
    Case("forward: raw uint8 rows (B, 784)",
         lambda: mlp.forward(mlp.init_params(784, 4, 10), torch.randint(0, 256, (2, 784), dtype=torch.uint8),
                             torch.tensor([3, 1])),
         raises=TypeError, match=r"X has dtype torch\.uint8.*X\.to\(torch\.float64\) / 255"),
    Case("forward: float images not flattened",
         lambda: mlp.forward(mlp.init_params(784, 4, 10), torch.rand(2, 28, 28, dtype=F64), torch.tensor([3, 1])),
         raises=ValueError, match=r"X must have shape \(B, D\).*\(2, 28, 28\).*X\.reshape\(len\(X\), -1\)"),
    Case("forward: float32 X, float64 params", lambda: _forward(X=_batch(dtype=torch.float32)[0]), raises=TypeError,
         match=r"X has dtype torch\.float32 but the parameters are torch\.float64.*X\.to\(torch\.float64\)"),
    Case("forward: X as numpy", lambda: _forward(X=_batch()[0].numpy()), raises=TypeError,
         match=r"X must be a torch\.Tensor.*torch\.as_tensor\(X"),
    Case("forward: X as a list", lambda: _forward(X=_batch()[0].tolist()), raises=TypeError,
         match=r"X must be a torch\.Tensor.*got list"),
    Case("forward: wrong number of features", lambda: _forward(X=torch.zeros(6, 5, dtype=F64)), raises=ValueError,
         match=r"X must have shape \(B, D\) with D=4.*\(6, 5\)"),
    Case("forward: empty batch", lambda: _forward(X=torch.zeros(0, 4, dtype=F64), y=torch.zeros(0, dtype=torch.long)),
         raises=ValueError, match=r"X has no rows"),
    Case("forward: NaN in X", lambda: _forward(X=torch.full((6, 4), float("nan"), dtype=F64)), raises=ValueError,
         match=r"X contains NaN"),
    Case("forward: X on another device (meta)", lambda: _forward(X=torch.zeros(6, 4, dtype=F64, device="meta")),
         raises=ValueError, match=r"X is on meta but the parameters are on cpu.*X\.to\('cpu'\)"),
    # forward: params
    Case("forward: params lacks b2", lambda: _forward(params={k: v for k, v in _params().items() if k != "b2"}),
         raises=ValueError, match=r"params lacks \['b2'\]"),
    Case("forward: params as a list", lambda: _forward(params=list(_params().values())), raises=TypeError,
         match=r"params must be the dict that init_params returns.*list"),
    Case("forward: params of mismatched shapes",
         lambda: _forward(params={**_params(), "b1": torch.zeros(4, dtype=F64)}), raises=ValueError,
         match=r"params must have shapes W1 \(H, D\).*b1 \(4,\)"),
    # forward: correct results
    Case("forward: huge logits give the finite exact loss (float64)", lambda: _large_logit_loss(F64),
         returns=lambda loss: _is_margin(loss, F64, 1e-12)),
    Case("forward: huge logits give the finite exact loss (float32)", lambda: _large_logit_loss(torch.float32),
         returns=lambda loss: _is_margin(loss, torch.float32, 1e-6)),
    Case("forward: huge logits equal PyTorch's cross_entropy", _large_logit_matches_torch,
         returns=lambda pair: abs(pair[0].item() - pair[1].item()) <= 1e-9),
    Case("forward: moderate logits equal PyTorch's cross_entropy",
         lambda: (_forward()[0], nn.functional.cross_entropy(
             torch.tanh(_batch()[0] @ _params()["W1"].T + _params()["b1"]) @ _params()["W2"].T + _params()["b2"],
             _batch()[1])),
         returns=lambda pair: abs(pair[0].item() - pair[1].item()) <= 1e-12),
    # backward
    Case("backward: the loss instead of the cache", lambda: mlp.backward(_params(), _forward()[0]), raises=TypeError,
         match=r"cache must be the second value forward returns.*got Tensor"),
    Case("backward: cache of another network", lambda: mlp.backward(mlp.init_params(4, 7, 3), _forward()[1]),
         raises=ValueError, match=r"cache does not belong to these params"),
    Case("backward: arguments swapped", lambda: mlp.backward(_forward()[1], _params()), raises=ValueError,
         match=r"params lacks"),
    # numerical_gradient
    Case("numerical_gradient: f raises on its first call, param restored",
         lambda: mlp.numerical_gradient(_boom, NUM_P), raises=RuntimeError, match="boom",
         state=_snapshot({"p": NUM_P})),
    Case("numerical_gradient: f raises at p - eps, param restored",
         lambda: mlp.numerical_gradient(_fails_on_second_call(NUM_P), NUM_P), raises=RuntimeError, match="boom",
         state=_snapshot({"p": NUM_P})),
    Case("numerical_gradient: integer param", lambda: mlp.numerical_gradient(lambda: 0.0, torch.tensor([1, 2, 3])),
         raises=TypeError, match=r"param has dtype torch\.int64.*param\.double\(\)"),
    Case("numerical_gradient: f returns a vector", lambda: mlp.numerical_gradient(lambda: NUM_P * 2, NUM_P),
         raises=ValueError, match=r"f must return a scalar.*\(2, 3\).*\.sum\(\)", state=_snapshot({"p": NUM_P})),
    Case("numerical_gradient: f returns None", lambda: mlp.numerical_gradient(lambda: None, NUM_P),
         raises=TypeError, match=r"f must return a scalar.*NoneType", state=_snapshot({"p": NUM_P})),
    Case("numerical_gradient: f is not callable", lambda: mlp.numerical_gradient(3.0, NUM_P), raises=TypeError,
         match=r"f must be a function of no arguments"),
    Case("numerical_gradient: param is a list", lambda: mlp.numerical_gradient(lambda: 1.0, [1.0, 2.0]),
         raises=TypeError, match=r"param must be the tensor f reads"),
    Case("numerical_gradient: eps = 0", lambda: mlp.numerical_gradient(lambda: (NUM_P ** 2).sum(), NUM_P, eps=0),
         raises=ValueError, match=r"eps must be a small positive number"),
    Case("numerical_gradient: negative eps",
         lambda: mlp.numerical_gradient(lambda: (NUM_P ** 2).sum(), NUM_P, eps=-1e-6), raises=ValueError,
         match=r"eps must be a small positive number.*-1e-06"),
    Case("numerical_gradient: max_entries = -1",
         lambda: mlp.numerical_gradient(lambda: (NUM_P ** 2).sum(), NUM_P, max_entries=-1), raises=ValueError,
         match=r"max_entries must be an integer >= 1, got -1"),
    Case("numerical_gradient: f is NaN at p - eps (log at 0), param restored",
         lambda: mlp.numerical_gradient(lambda: torch.log(LOG_P).sum(), LOG_P), raises=ValueError,
         match=r"f returned a non-finite value.*entry 0", state=_snapshot({"p": LOG_P})),
    Case("numerical_gradient: 50,176 entries without max_entries",
         lambda: mlp.numerical_gradient(lambda: 0.0, BIG_P), raises=ValueError,
         match=r"param has 50,176 entries: checking all of them calls f 100,352 times.*max_entries=100",
         state=_snapshot({"p": BIG_P}), timeout=5),
    Case("numerical_gradient: max_entries=param.numel() lifts the limit",
         lambda: mlp.numerical_gradient(lambda: 3 * LONG_P[-1], LONG_P, max_entries=LONG_P.numel()),
         returns=lambda g: g.shape == (10_001,) and bool((g[:-1] == 0).all()) and abs(g[-1].item() - 3) < 1e-6,
         state=_snapshot({"p": LONG_P})),
    Case("numerical_gradient: a transposed (non-contiguous) param", _noncontiguous_gradient,
         returns=lambda pair: pair[0].shape == (3, 2) and (pair[0] - pair[1]).abs().max().item() < 1e-6),
    Case("numerical_gradient: max_entries=2 fills the first two entries only", _partial_gradient,
         returns=lambda g: (g.view(-1)[:2] - torch.tensor([2.0, -4.0], dtype=F64)).abs().max() < 1e-6
         and bool((g.view(-1)[2:] == 0).all())),
    Case("numerical_gradient: a 0-d param (d/dp p³ at 2 is 12)",
         lambda: mlp.numerical_gradient(lambda: NUM_0D ** 3, NUM_0D),
         returns=lambda g: g.shape == () and abs(g.item() - 12.0) < 1e-6),
    # sgd_step
    Case("sgd_step: gradients transposed", lambda: _sgd({k: v.T if v.ndim == 2 else v for k, v in SGD_G.items()}),
         raises=ValueError, match=r"grads\['W1'\] has shape \(4, 5\) but params\['W1'\] has \(5, 4\)",
         state=_snapshot(SGD_P)),
    Case("sgd_step: a bias gradient that would broadcast", lambda: _sgd({**SGD_G, "b1": torch.ones(1, dtype=F64)}),
         raises=ValueError, match=r"grads\['b1'\] has shape \(1,\) but params\['b1'\] has \(5,\)",
         state=_snapshot(SGD_P)),
    Case("sgd_step: a bad W2 leaves W1 untouched too", lambda: _sgd({**SGD_G, "W2": torch.ones(5, 3, dtype=F64)}),
         raises=ValueError, match=r"grads\['W2'\]", state=_snapshot(SGD_P)),
    Case("sgd_step: grads lacks keys", lambda: _sgd({"W1": SGD_G["W1"]}), raises=ValueError,
         match=r"grads must have the same keys as params", state=_snapshot(SGD_P)),
    Case("sgd_step: grads of None", lambda: _sgd({k: None for k in SGD_G}), raises=TypeError,
         match=r"grads\['W1'\] must be a tensor, got NoneType", state=_snapshot(SGD_P)),
    Case("sgd_step: NaN gradient", lambda: _sgd({**SGD_G, "b2": torch.full((3,), float("nan"), dtype=F64)}),
         raises=ValueError, match=r"grads\['b2'\] contains NaN.*lower the learning rate", state=_snapshot(SGD_P)),
    Case("sgd_step: negative lr (gradient ascent)", lambda: _sgd(lr=-0.1), raises=ValueError,
         match=r"lr \(the learning rate\) must be a positive number.*-0\.1", state=_snapshot(SGD_P)),
    Case("sgd_step: lr = 0", lambda: _sgd(lr=0), raises=ValueError, match=r"lr .*positive", state=_snapshot(SGD_P)),
    Case("sgd_step: lr NaN", lambda: _sgd(lr=float("nan")), raises=ValueError, match=r"lr .*got nan",
         state=_snapshot(SGD_P)),
    Case("sgd_step: lr as a string", lambda: _sgd(lr="0.1"), raises=ValueError, match=r"lr .*got '0\.1'",
         state=_snapshot(SGD_P)),
    Case("sgd_step: grads as a tuple", lambda: _sgd((SGD_G, None)), raises=TypeError,
         match=r"grads must be a dict", state=_snapshot(SGD_P)),
    Case("sgd_step: parameters that require grad", _sgd_on_leaves, returns=lambda ok: ok is True),
    Case("sgd_step: lr as a 0-d tensor", _sgd_tensor_lr, returns=lambda ok: ok is True),
    # init_params
    Case("init_params: d_in = 0", lambda: mlp.init_params(0, 5, 3), raises=ValueError,
         match=r"d_in must be an integer >= 1, got 0"),
    Case("init_params: hidden = -1", lambda: mlp.init_params(4, -1, 3), raises=ValueError,
         match=r"hidden must be an integer >= 1, got -1"),
    Case("init_params: classes = 2.5", lambda: mlp.init_params(4, 5, 2.5), raises=ValueError,
         match=r"classes must be an integer >= 1, got 2\.5"),
    Case("init_params: integer dtype", lambda: mlp.init_params(4, 5, 3, dtype=torch.int64), raises=TypeError,
         match=r"dtype must be a floating-point torch dtype.*int64"),
    Case("init_params: seed None", lambda: mlp.init_params(4, 5, 3, seed=None), raises=TypeError,
         match=r"seed must be an integer, got None"),
    Case("init_params: a trillion parameters", lambda: mlp.init_params(10**6, 10**6, 3), raises=ValueError,
         match=r"1,000,004,000,003 parameters.*limit of 250,000,000"),
    Case("init_params: NumPy sizes, float32", lambda: mlp.init_params(np.int64(4), 5, 3, dtype=torch.float32),
         returns=lambda p: {k: (tuple(v.shape), v.dtype) for k, v in p.items()} == {
             "W1": ((5, 4), torch.float32), "b1": ((5,), torch.float32), "W2": ((3, 5), torch.float32),
             "b2": ((3,), torch.float32)} and p["W1"].abs().max() <= 0.5 and p["W2"].abs().max() <= 5 ** -0.5),
    # MLP: construction
    Case("MLP: activation instance nn.ReLU()", lambda: mlp.MLP(4, (3,), 2, activation=nn.ReLU()), raises=TypeError,
         match=r"activation must be a class such as nn\.ReLU, not an instance.*activation=nn\.ReLU without"),
    Case("MLP: activation function torch.relu", lambda: mlp.MLP(4, (3,), 2, activation=torch.relu), raises=TypeError,
         match=r"activation must be a module class.*got relu.*nn\.ReLU for torch\.relu"),
    Case("MLP: activation as a string", lambda: mlp.MLP(4, (3,), 2, activation="relu"), raises=TypeError,
         match=r"activation must be a module class.*the string 'relu'"),
    Case("MLP: activation class that needs arguments", lambda: mlp.MLP(4, (3,), 2, activation=nn.Threshold),
         raises=TypeError, match=r"activation Threshold cannot be built without arguments.*functools\.partial"),
    Case("MLP: activation factory", lambda: mlp.MLP(4, (3,), 2, activation=functools.partial(nn.LeakyReLU, 0.1)),
         returns=lambda m: isinstance(m.net[2], nn.LeakyReLU) and m.net[2].negative_slope == 0.1),
    Case("MLP: hidden as an int", lambda: mlp.MLP(784, 256, 10), raises=TypeError,
         match=r"hidden must be a tuple of layer widths, got the int 256.*hidden=\(256,\)"),
    Case("MLP: a hidden layer of width 0", lambda: mlp.MLP(4, (3, 0), 2), raises=ValueError,
         match=r"hidden\[1\] must be an integer >= 1, got 0"),
    Case("MLP: d_in = 0", lambda: mlp.MLP(0, (3,), 2), raises=ValueError, match=r"d_in must be an integer >= 1"),
    Case("MLP: classes = 0", lambda: mlp.MLP(4, (3,), 0), raises=ValueError, match=r"classes must be an integer >= 1"),
    Case("MLP: a trillion parameters", lambda: mlp.MLP(784, (10**6, 10**6), 10), raises=ValueError,
         match=r"this MLP would have 1,000,796,000,010 parameters.*limit of 250,000,000"),
    # MLP: forward
    Case("MLP: one (28, 28) image", lambda: NET(torch.rand(28, 28)), raises=ValueError,
         match=r"d_in=784.*\(28, 28\).*x\.unsqueeze\(0\)", state=NET_STATE),
    Case("MLP: raw uint8 images", lambda: NET(torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8)), raises=TypeError,
         match=r"x has dtype torch\.uint8.*x\.float\(\) / 255", state=NET_STATE),
    Case("MLP: float64 images, float32 model", lambda: NET(IMG.double()), raises=TypeError,
         match=r"x has dtype torch\.float64 but the model's weights are torch\.float32.*x\.to\(torch\.float32\)",
         state=NET_STATE),
    Case("MLP: images of the wrong size", lambda: NET(torch.rand(2, 27, 27)), raises=ValueError,
         match=r"d_in=784.*\(2, 27, 27\) \(729 numbers per example\)", state=NET_STATE),
    Case("MLP: a 1-D input", lambda: NET(torch.rand(784)), raises=ValueError,
         match=r"x must be a batch.*\(784,\).*x\.unsqueeze\(0\)", state=NET_STATE),
    Case("MLP: numpy images", lambda: NET(IMG.numpy()), raises=TypeError,
         match=r"x must be a torch\.Tensor.*torch\.as_tensor", state=NET_STATE),
    Case("MLP: images on another device (meta)", lambda: NET(torch.rand(2, 28, 28, device="meta")), raises=ValueError,
         match=r"x is on meta but the model is on cpu.*x\.to\('cpu'\)", state=NET_STATE),
    Case("MLP: a channel dimension (B, 1, 28, 28) is flattened", _channel_dim,
         returns=lambda pair: pair[0].shape == (2, 10) and torch.equal(pair[0], pair[1]), state=NET_STATE),
    Case("MLP: an empty batch gives (0, classes)", lambda: NET(torch.rand(0, 28, 28)),
         returns=lambda out: out.shape == (0, 10), state=NET_STATE),
    # count_parameters
    Case("count_parameters: the dict of init_params", lambda: mlp.count_parameters(_params()), raises=TypeError,
         match=r"model must be an nn\.Module, got dict.*sum\(p\.numel\(\) for p in params\.values\(\)\)"),
    Case("count_parameters: frozen layers are not counted",
         lambda: mlp.count_parameters(_frozen_first_layer(mlp.MLP(4, (3,), 2))),
         returns=lambda n: n == 3 * 2 + 2),  # 4·3 + 3 of the first layer are frozen
    Case("count_parameters: MLP(4, (3,), 2)", lambda: mlp.count_parameters(mlp.MLP(4, (3,), 2)),
         returns=lambda n: n == 4 * 3 + 3 + 3 * 2 + 2),
]

NUM_0D = torch.tensor(2.0, dtype=F64)


def _frozen_first_layer(model):
    model.net[1].requires_grad_(False)
    return model


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
