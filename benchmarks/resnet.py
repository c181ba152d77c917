"""Issue 12's headline run: a ResNet on Fashion-MNIST within 10 minutes of CPU training, measured.

The recipe (settled in ../shared/ISSUE-NOTES.md for #12, measured here): ``ResNet(depth=8, width=32)`` from
``course_lib.resnet``; the first 55,000 training images for training (5,000 kept for validation), inputs standardised
with the training images' mean and standard deviation; random horizontal flips only; SGD with Nesterov momentum 0.9 and
weight decay 5e-4 under a one-cycle schedule up to 0.2; cross-entropy with label smoothing 0.1; batch 128; 6.5 epochs;
``channels_last`` memory layout (faster for convolutions on this CPU). Validation accuracy after every epoch, and the
test accuracy (10,000 images never used for any choice) once, at the end. Writes ``benchmarks/resnet-results.json``.

    .venv/bin/python benchmarks/resnet.py            # about 10 minutes on 2 cores; run it alone
    .venv/bin/python benchmarks/resnet.py --epochs 1  # a quicker look

The course checkpoint that notebook 10 loads is the same recipe trained longer, with random shifts of up to 2 pixels
added to the flips (a longer run overfits without them). One command makes it (about 45 minutes on 2 cores, run alone):

    .venv/bin/python benchmarks/resnet.py --checkpoint

It writes ``data/pretrained/resnet8-fashion-mnist.safetensors`` with its ``.sha256`` and the training log beside it
(``resnet8-fashion-mnist.log.json``: validation accuracy by epoch, test accuracy once at the end).
"""
import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn

from course_lib import checkpoint, data, resnet, runtime, train

OUT = Path(__file__).with_name("resnet-results.json")
CHECKPOINT = Path(__file__).parent.parent / "data" / "pretrained" / "resnet8-fashion-mnist.safetensors"


def random_shift(x: torch.Tensor, pad: int, background: float, generator: torch.Generator) -> torch.Tensor:
    """Move every image by its own random offset of up to ``pad`` pixels in each direction (padding with the
    background value), the "random crop" augmentation. x: (B, 1, H, W)."""
    B, _, H, W = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=background)  # (B, 1, H+2p, W+2p)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, B), generator=generator)
    rows = dy[:, None] + torch.arange(H)  # (B, H): the rows each image keeps
    cols = dx[:, None] + torch.arange(W)  # (B, W)
    out = padded[torch.arange(B)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]  # (B, H, W)
    return out[:, None].contiguous(memory_format=torch.channels_last)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    with torch.no_grad(), train.eval_mode(model):
        correct = sum((model(x[k : k + batch]).argmax(1) == y[k : k + batch]).sum().item()
                      for k in range(0, len(x), batch))
    return correct / len(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=float, default=6.5)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--shift", type=int, default=0, help="random shifts of up to this many pixels (0: none)")
    parser.add_argument("--checkpoint", action="store_true",
                        help=f"the course checkpoint: 40 epochs with shifts of up to 2 pixels, saved to {CHECKPOINT}")
    args = parser.parse_args()
    if args.checkpoint:
        args.epochs, args.width, args.depth, args.shift = 40, 32, 8, 2
    threads = runtime.pick_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    images, labels = data.fashion_mnist("train")
    test_images, test_labels = data.fashion_mnist("test")
    pixels = images[:55_000].float() / 255
    mean, std = pixels.mean().item(), pixels.std().item()

    def prepare(raw: torch.Tensor) -> torch.Tensor:  # (N, 28, 28) uint8 -> (N, 1, 28, 28), standardised
        return ((raw.float() / 255 - mean) / std)[:, None].contiguous(memory_format=torch.channels_last)

    x_train, y_train = prepare(images[:55_000]), labels[:55_000]
    x_val, y_val = prepare(images[55_000:]), labels[55_000:]
    x_test, y_test = prepare(test_images), test_labels

    model = resnet.ResNet(args.depth, args.width).to(memory_format=torch.channels_last)
    batch = 128
    steps_per_epoch = len(x_train) // batch
    total_steps = math.ceil(args.epochs * steps_per_epoch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=total_steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    generator = torch.Generator().manual_seed(0)
    log, step, seconds = [], 0, 0.0
    while step < total_steps:
        order = torch.randperm(len(x_train), generator=generator)
        for k in range(steps_per_epoch):
            if step == total_steps:
                break
            start = time.perf_counter()
            idx = order[k * batch : (k + 1) * batch]
            x, y = x_train[idx], y_train[idx]
            flip = torch.rand(len(x), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)  # random horizontal flips
            if args.shift:
                x = random_shift(x, args.shift, background=-mean / std, generator=generator)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            seconds += time.perf_counter() - start
            step += 1
        log.append({"step": step, "epochs": round(step / steps_per_epoch, 2), "train_seconds": round(seconds, 1),
                    "val_accuracy": round(accuracy(model, x_val, y_val), 4)})
        print(log[-1], flush=True)
    test = accuracy(model, x_test, y_test)
    result = {"machine": platform.machine(), "cores": os.cpu_count(), "threads": threads,
              "torch": torch.__version__, "depth": args.depth, "width": args.width, "epochs": args.epochs,
              "shift": args.shift,
              "steps": total_steps, "batch": batch, "parameters": resnet.count_parameters(model),
              "train_seconds": round(seconds, 1), "train_minutes": round(seconds / 60, 2),
              "test_accuracy": round(test, 4), "log": log}
    print({k: v for k, v in result.items() if k != "log"})
    if args.checkpoint:
        model = model.to(memory_format=torch.contiguous_format)
        checkpoint.save(model, CHECKPOINT)
        log_path = CHECKPOINT.with_name("resnet8-fashion-mnist.log.json")
        log_path.write_text(json.dumps(result, indent=1) + "\n")
        print("written", CHECKPOINT, "and", log_path)
    elif args.epochs == 6.5 and args.width == 32 and args.depth == 8 and args.shift == 0:
        OUT.write_text(json.dumps(result, indent=1) + "\n")
        print("written", OUT)


if __name__ == "__main__":
    main()
