"""course_lib.adding: the adding-problem race of notebook 04."""
import pytest
import torch
from torch import nn

from course_lib import adding


def test_initialisations_do_what_they_say():
    torch.manual_seed(0)
    W = adding.LastStepRegressor("RNN", hidden=16, init="orthogonal").rnn.weight_hh_l0.detach()
    assert torch.allclose(W @ W.T, torch.eye(16), atol=1e-5)  # every singular value 1
    W = adding.LastStepRegressor("RNN", hidden=16, init="identity").rnn.weight_hh_l0.detach()
    assert torch.equal(W, torch.eye(16))
    irnn = adding.LastStepRegressor("IRNN", hidden=16, init="identity").rnn  # Le et al. (2015)
    assert irnn.nonlinearity == "relu" and torch.equal(irnn.weight_hh_l0.detach(), torch.eye(16))
    assert not irnn.bias_ih_l0.any() and not irnn.bias_hh_l0.any()
    assert adding.LastStepRegressor("RNN", hidden=4).rnn.nonlinearity == "tanh"
    lstm = adding.LastStepRegressor("LSTM", hidden=8, init="forget_bias_1").rnn
    forget = lstm.bias_ih_l0[8:16] + lstm.bias_hh_l0[8:16]  # PyTorch's gate order: i, f, g, o
    assert torch.equal(forget.detach(), torch.ones(8))
    default = adding.LastStepRegressor("LSTM", hidden=8).rnn
    assert not torch.equal((default.bias_ih_l0[8:16] + default.bias_hh_l0[8:16]).detach(), torch.ones(8))


def test_bad_cell_or_initialisation_is_refused_by_name():
    with pytest.raises(ValueError, match="cell must be one of"):
        adding.LastStepRegressor("Transformer")
    with pytest.raises(ValueError, match="init for GRU must be one of"):
        adding.LastStepRegressor("GRU", init="orthogonal")


class _Solver(nn.Module):
    def forward(self, x):
        return (x[..., 0] * x[..., 1]).sum(1)


def test_heldout_mse_measures_and_refuses_the_wrong_output_shape():
    assert adding.heldout_mse(_Solver(), 30) == 0.0
    mean_only = adding.heldout_mse(lambda_module(lambda x: torch.ones(len(x))), 30)
    assert abs(mean_only - adding.MEAN_LEVEL) < 0.015  # predicting the mean: 1/6, measured on 2,000 sequences
    with pytest.raises(ValueError, match="one number per sequence"):
        adding.heldout_mse(nn.Linear(2, 1), 30)


def lambda_module(fn):
    class Wrapped(nn.Module):
        def forward(self, x):
            return fn(x)
    return Wrapped()


def test_fit_adding_trains_and_is_reproducible():
    model, history = adding.fit_adding("GRU", 10, 5, 1e-2, hidden=8)
    again, history_again = adding.fit_adding("GRU", 10, 5, 1e-2, hidden=8)
    assert history.eval_loss == history_again.eval_loss
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_best_settings_sums_over_lengths():
    runs = [{"cell": "RNN", "init": "default", "lr": 1e-3, "length": 20, "val_mse": 0.10},
            {"cell": "RNN", "init": "default", "lr": 1e-3, "length": 100, "val_mse": 0.17},
            {"cell": "RNN", "init": "orthogonal", "lr": 3e-3, "length": 20, "val_mse": 0.02},
            {"cell": "RNN", "init": "orthogonal", "lr": 3e-3, "length": 100, "val_mse": 0.18}]
    best = adding.best_settings(runs)
    assert best["RNN"] == {"init": "orthogonal", "lr": 3e-3, "val_mse": {20: 0.02, 100: 0.18}}
