"""Data-parallel training with PyTorch's real engine: ``torch.distributed`` + ``DistributedDataParallel`` (notebook 11).

Each of the ``W`` processes (the *world*; each has a *rank* 0..W-1) holds a full copy of the model. At every step all
of them take the same global batch of ``B`` examples, and rank r keeps its own slice of ``B / W`` rows::

    rank r:   g_r = ∇ mean-loss over its B/W rows          (forward and backward, in parallel)
    all:      g   = (g_0 + ... + g_{W-1}) / W               (all-reduce: every process gets the sum, DDP divides by W)
    all:      θ  ← optimizer step with g                    (the same step everywhere, so the copies stay equal)

With equal slices, the mean of the slices' mean gradients is the mean gradient over the whole global batch, so W
processes take *the same steps* as one process on the global batch: only the rounding of the sums differs.
``DistributedDataParallel`` does the all-reduce during ``backward()``, bucket by bucket, overlapped with the rest of the
backward pass, and copies rank 0's weights to every process when it wraps the model.

Layers that compute statistics over the batch (``BatchNorm``) see only their rank's slice: the runs then differ unless
they are converted with ``nn.SyncBatchNorm``. The model here has none.

This module is the script that ``torchrun`` starts (``python -m torch.distributed.run``), one process per rank, on
this machine's loopback address only::

    python -m torch.distributed.run --nproc-per-node 2 --master-addr 127.0.0.1 --master-port 29511 \\
        -m course_lib.distributed --steps 20 --out run.pt

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` for each process, and
``init_process_group("gloo")`` connects them (gloo: the CPU backend; NCCL is the GPU one). On many machines the same
pattern runs with a few changes — NCCL, each process's model and batches on its own GPU (``LOCAL_RANK``), and gloo or
NCCL allowed onto the network interface instead of loopback: start ``torchrun --nnodes 4 --nproc-per-node 8
--rdzv-backend c10d --rdzv-endpoint <first machine>:29511`` on each of 4 machines, and the 32 processes find each other
there.

Every connection of a run started by :func:`launch` goes to this machine: the processes reach torchrun's rendezvous
store at 127.0.0.1, and gloo connects them over the loopback interface (``GLOO_SOCKET_IFNAME``). (The store, while it
runs, listens on its port on every interface of the machine; nothing outside is contacted.)

Without ``torchrun`` (no ``WORLD_SIZE`` set) the script trains in one process on the whole global batch: the reference
run. :func:`launch` runs either from Python and returns the final weights and the time the steps took.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def make_model(dtype: torch.dtype = torch.float32) -> nn.Module:
    """The model every run trains: 09's small CNN (no batch norm), seeded so that every rank starts the same."""
    from .cnn import SmallCNN

    torch.manual_seed(0)
    return SmallCNN(channels=16, hidden=64).to(dtype)


def global_batch(step: int, batch: int, dtype: torch.dtype, part: slice = slice(None)):
    """Rows ``part`` of global batch number ``step``: ``batch`` Fashion-MNIST training images (``(B, 1, 28, 28)`` in
    [0, 1]) and their labels, the same in every process (drawn with a generator seeded by the step)."""
    from .data import fashion_mnist

    if not hasattr(global_batch, "cache"):
        global_batch.cache = fashion_mnist("train")
    images, labels = global_batch.cache
    rows = torch.randint(len(images), (batch,), generator=torch.Generator().manual_seed(step))[part]
    return (images[rows].to(dtype) / 255)[:, None], labels[rows]


def train(steps: int, batch: int, lr: float = 0.05, dtype: torch.dtype = torch.float32) -> dict:
    """Train :func:`make_model` for ``steps`` SGD steps on global batches of ``batch`` examples. Inside ``torchrun``
    (``WORLD_SIZE`` > 1): DDP over the gloo backend, each rank on its slice. Returns (on every rank) the final weights
    and the seconds the steps took."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if batch % world:
        raise ValueError(f"batch ({batch}) must be a multiple of the number of processes ({world})")
    model = make_model(dtype)
    if world > 1:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        os.environ.setdefault("GLOO_SOCKET_IFNAME", LOOPBACK)  # gloo's own connections: the loopback interface only
        # reads MASTER_ADDR / MASTER_PORT / RANK / WORLD_SIZE, set by torchrun; a rank that never arrives is an error
        # after two minutes instead of gloo's default half hour
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
        model = DistributedDataParallel(model)  # broadcasts rank 0's weights; all-reduces gradients in backward()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    local = batch // world
    global_batch(0, world, dtype)  # read the data set once before the clock starts
    start = time.perf_counter()
    for step in range(steps):
        x, y = global_batch(step, batch, dtype, part=slice(rank * local, (rank + 1) * local))  # this rank's slice
        loss = F.cross_entropy(model(x), y)  # mean over the slice
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # with DDP: the gradients are averaged over the ranks here
        optimizer.step()
    seconds = time.perf_counter() - start
    plain = model.module if world > 1 else model
    result = {"world": world, "steps": steps, "batch": batch, "seconds": seconds,
              "state": {k: v.detach().clone() for k, v in plain.state_dict().items()}}
    if world > 1:
        dist.barrier()  # every rank is done with its last all-reduce before the connections close
        del model  # DDP's reducer holds the process group: let it go first
        dist.destroy_process_group()
    return result


LOOPBACK = "lo0" if sys.platform == "darwin" else "lo"  # the loopback network interface's name


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(processes: int, steps: int, batch: int, threads: int = 1, dtype: str = "float32",
           timeout: float = 600) -> dict:
    """Run :func:`train` in a fresh Python: with ``processes`` > 1 under ``torchrun`` on 127.0.0.1 (one process per
    rank, ``threads`` torch threads each), with 1 as a plain process. Returns rank 0's result: ``state`` (the final
    weights), ``seconds``, ``world``, ``steps``, ``batch``. Raises ``RuntimeError`` with the run's output if it fails."""
    for name, value in (("processes", processes), ("steps", steps), ("batch", batch), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if batch % processes:
        raise ValueError(f"batch ({batch}) must be a multiple of processes ({processes}): every rank gets an equal "
                         "slice")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.pt"
        script = ["-m", "course_lib.distributed", "--steps", str(steps), "--batch", str(batch), "--dtype", dtype,
                  "--threads", str(threads), "--out", str(out)]
        if processes > 1:
            command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
                       "--nnodes", "1", "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
                       *script]
        else:
            command = [sys.executable, *script]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": LOOPBACK,
               "PYTHONWARNINGS": "ignore"}
        for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):  # from an outer run, if any
            env.pop(name, None)
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   cwd=Path(__file__).resolve().parent.parent)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:  # a timeout, or Ctrl-C: torchrun stops its workers on SIGTERM; kill it if it does not
            process.terminate()
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
            raise
        if process.returncode != 0 or not out.exists():
            raise RuntimeError(f"the run failed (exit code {process.returncode}):\n{stdout[-2000:]}\n"
                               f"{stderr[-3000:]}")
        return torch.load(out, weights_only=True)


def max_difference(a: dict, b: dict) -> float:
    """The largest absolute difference between two state dicts with the same keys."""
    if a.keys() != b.keys():
        raise ValueError(f"the two runs' weights have different names: {sorted(a)} vs {sorted(b)}")
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256, help="the global batch, split between the processes")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", type=Path, required=True, help="where rank 0 saves the final weights and timing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = train(args.steps, args.batch, dtype=getattr(torch, args.dtype))
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save(result, args.out)
        print(json.dumps({k: v for k, v in result.items() if k != "state"}))


if __name__ == "__main__":
    main()
