"""The shared training loop and checkpoints."""
import math

import pytest
import torch
from torch import nn

from course_lib import checkpoint, train


def _regression(seed=0, n=256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return x, y


def test_fit_learns_and_records_history():
    torch.manual_seed(0)
    x, y = _regression()
    model = nn.Linear(3, 1)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)]  # an iterable: re-iterated each epoch
    hist = train.fit(model, batches, nn.functional.mse_loss, torch.optim.SGD(model.parameters(), lr=0.1),
                     steps=100, eval_batches=[(x, y)], eval_every=25, live=False)
    assert hist.steps == list(range(1, 101)) and len(hist.train_loss) == 100 == len(hist.grad_norm)
    assert hist.eval_steps == [25, 50, 75, 100]
    assert hist.final_eval_loss < 1e-3 < hist.eval_loss[0] or hist.final_eval_loss < hist.eval_loss[0]
    assert hist.final_eval_loss < 1e-3
    assert hist.seconds > 0
    assert math.isnan(hist.final_eval_metric)


def test_fit_with_callable_batches_metric_and_clipping():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(512, 2, generator=g)
    y = (x[:, 0] > x[:, 1]).long()
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    # with a tiny clip the first update of all parameters together is at most lr * clip long
    train.fit(model, lambda: (x[:64], y[:64]), nn.functional.cross_entropy, opt, steps=1, clip_grad_norm=1e-3,
              live=False)
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert float(step) <= 1.0 * 1e-3 + 1e-7
    hist = train.fit(model, lambda: (x[:256], y[:256]), nn.functional.cross_entropy,
                     torch.optim.Adam(model.parameters(), lr=0.02), steps=150, eval_batches=[(x[256:], y[256:])],
                     metric=train.accuracy, live=False)
    assert hist.final_eval_metric > 0.9


def test_fit_rejects_bad_arguments_and_divergence():
    model = nn.Linear(3, 1)
    x, y = _regression()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        train.fit(model, [(x, y)], nn.functional.mse_loss, opt, steps=0)
    with pytest.raises(ValueError, match="no batch"):
        train.fit(model, [], nn.functional.mse_loss, opt, steps=2, live=False)
    with pytest.raises(TypeError, match="pair"):
        train.fit(model, [x], nn.functional.mse_loss, opt, steps=2, live=False)
    big = torch.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.fit(model, [(x * 1e3, y)], nn.functional.mse_loss, big, steps=50, live=False)


def test_evaluate_weights_batches_by_size():
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(0.0)
    batches = [(torch.zeros(3, 1), torch.ones(3, 1)), (torch.zeros(1, 1), torch.full((1, 1), 3.0))]
    loss, _ = train.evaluate(model, batches, nn.functional.mse_loss)
    assert loss == pytest.approx((3 * 1 + 1 * 9) / 4)


def test_checkpoint_round_trip_and_damage(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    path = checkpoint.save(model, tmp_path / "m.safetensors")
    other = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    checkpoint.load(other, path)
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(checkpoint.CheckpointError, match="does not fit"):
        checkpoint.load(nn.Linear(4, 3), path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(checkpoint.CheckpointError, match="damaged"):
        checkpoint.load(other, path)
    (tmp_path / "m.safetensors.sha256").unlink()
    with pytest.raises(checkpoint.CheckpointError, match="no checksum"):
        checkpoint.load(other, path)
    with pytest.raises(checkpoint.CheckpointError, match="does not exist"):
        checkpoint.load(other, tmp_path / "none.safetensors")
    # a file that passes the checksum but is not safetensors at all
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    (tmp_path / "bad.safetensors.sha256").write_text(checkpoint._sha256(bad))
    with pytest.raises(checkpoint.CheckpointError, match="cannot be read"):
        checkpoint.load(other, bad)
