"""Parameter, FLOP and memory counts (course_lib.scale) against counts done by hand."""
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib import rnn, scale


def test_parameters_of_linear_conv_and_lstm_by_hand():
    assert scale.count_parameters(nn.Linear(5, 7)) == 5 * 7 + 7
    assert scale.count_parameters(nn.Conv2d(3, 8, 5)) == 8 * 3 * 5 * 5 + 8
    # nn.LSTM: four gates, each with W_ih (H, D_in), W_hh (H, H) and two biases
    assert scale.count_parameters(nn.LSTM(5, 7)) == 4 * (7 * 5 + 7 * 7 + 7 + 7)
    assert scale.count_parameters(nn.LSTM(5, 7, num_layers=2)) == 4 * (7 * 5 + 7 * 7 + 14) + 4 * (7 * 7 + 7 * 7 + 14)


def test_tied_weights_are_counted_once_and_frozen_ones_can_be_left_out():
    embedding = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight  # tied, as BERT's MLM head
    model = nn.ModuleDict({"embedding": embedding, "head": head})
    assert scale.count_parameters(model) == 40
    frozen = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    frozen[0].requires_grad_(False)
    assert scale.count_parameters(frozen, trainable_only=True) == 6
    assert scale.count_parameters(frozen) == 14


def test_flops_of_linear_and_conv_by_hand():
    assert scale.count_flops(nn.Linear(5, 7), torch.zeros(3, 5)) == 2 * 3 * 5 * 7
    # output maps: (10 + 2·1 - 3) / 1 + 1 = 10 with stride 1, (10 + 2·1 - 3) // 2 + 1 = 5 with stride 2
    assert scale.count_flops(nn.Conv2d(3, 8, 3, padding=1), torch.zeros(2, 3, 10, 10)) == 2 * 2 * 8 * 10 * 10 * 3 * 9
    assert scale.count_flops(nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.zeros(2, 3, 10, 10)) == \
        2 * 2 * 8 * 5 * 5 * 3 * 9


def test_lstm_flops_by_hand_for_torch_and_for_our_lstm():
    B, T, D, H = 3, 4, 5, 7
    by_hand = 2 * B * T * 4 * H * (D + H)
    assert scale.lstm_flops(B, T, D, H) == by_hand
    x = torch.zeros(B, T, D)
    torch_lstm = nn.LSTM(D, H, batch_first=True)
    with FlopCounterMode(display=False) as counter:  # why count_flops adds a formula: the fused kernel is invisible
        torch_lstm(x)
    assert counter.get_total_flops() == 0
    assert scale.count_flops(torch_lstm, x) == by_hand
    assert scale.count_flops(nn.LSTM(D, H), x.transpose(0, 1)) == by_hand  # time-first
    assert scale.count_flops(nn.LSTM(D, H, num_layers=2, batch_first=True), x) == \
        by_hand + 2 * B * T * 4 * H * (H + H)
    assert scale.count_flops(nn.LSTM(D, H, batch_first=True, bidirectional=True), x) == 2 * by_hand
    assert scale.lstm_flops(B, T, D, H, gates=3) == 2 * B * T * 3 * H * (D + H)
    # our from-scratch LSTM is made of matrix products, which FlopCounterMode sees: the same count
    assert scale.count_flops(rnn.LSTM(D, H), x) == by_hand


def test_training_memory_per_parameter():
    m = scale.training_memory(1_000)
    assert (m.weights, m.gradients, m.adam, m.total) == (4_000, 4_000, 8_000, 16_000)
    mixed = scale.training_memory(1_000, mixed_precision=True)
    assert (mixed.weights, mixed.gradients, mixed.adam, mixed.total) == (2_000, 2_000, 12_000, 16_000)


def test_recurrent_layers_are_counted_once_whether_or_not_the_counter_sees_inside():
    B, T, D, H = 3, 4, 5, 7
    x = torch.zeros(B, T, D)
    by_hand = 2 * B * T * 4 * H * (D + H)
    # float64 runs the LSTM as separate matrix products, which FlopCounterMode does count: nothing is added twice
    assert scale.count_flops(nn.LSTM(D, H, batch_first=True).double(), x.double()) == by_hand
    # two bidirectional layers: the second reads both directions' outputs, 2H wide
    assert scale.count_flops(nn.LSTM(D, H, num_layers=2, bidirectional=True, batch_first=True), x) == \
        2 * by_hand + 2 * (2 * B * T * 4 * H * (2 * H + H))
    assert scale.count_flops(nn.GRU(D, H, batch_first=True), x) == 2 * B * T * 3 * H * (D + H)
    assert scale.count_flops(nn.RNN(D, H, batch_first=True), x) == 2 * B * T * 1 * H * (D + H)
    assert scale.count_flops(nn.LSTM(D, H, batch_first=True), input=x) == by_hand  # passed by name


def test_counting_flops_leaves_batch_norm_statistics_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scale.count_flops(model, torch.randn(4, 1, 6, 6))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert model.training  # its mode is given back
