"""Data-parallel training (course_lib.distributed): 2 processes under torchrun, gloo on the loopback address, reach the
weights of one process on the same global batches."""
import torch

from course_lib import distributed


def test_two_ddp_processes_reach_the_single_process_weights():
    single = distributed.launch(1, steps=6, batch=32, dtype="float64")
    ddp = distributed.launch(2, steps=6, batch=32, dtype="float64")
    assert (single["world"], ddp["world"]) == (1, 2)
    start = distributed.make_model(torch.float64).state_dict()
    assert distributed.max_difference(start, single["state"]) > 1e-3  # the runs did train
    assert distributed.max_difference(single["state"], ddp["state"]) <= 1e-6


def test_a_rank_that_trained_alone_on_its_slice_would_differ():
    """The check above can fail: half of the global batch is not the same training."""
    half = distributed.launch(1, steps=6, batch=16, dtype="float64")
    single = distributed.launch(1, steps=6, batch=32, dtype="float64")
    assert distributed.max_difference(half["state"], single["state"]) > 1e-3
