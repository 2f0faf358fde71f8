"""CPU training step of the label-noise nets: float32 vs bfloat16 autocast, NCHW vs
channels-last memory (what ``learning/models.py`` uses: bfloat16 and channels-last where the
CPU computes bfloat16 in hardware, ``recipes.cpu_has_bf16``; float32 and NCHW elsewhere).

One SGD step on a batch of random uint8 images, one torch thread, CPU time per image; the
ratio is against float32 NCHW (the layout before). Prints a Markdown table.

    python benchmarks/train_speed.py [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from datacheck.learning.nets import SmallResNet, WhitenedNet
from datacheck.learning.recipes import DEFAULTS, Recipe, cpu_has_bf16
from datacheck.learning.training import optimizer

#: (net, width, thumbnail side, batch size): the CPU recipes' nets
NETS = (("whitened", 32, 32, 256), ("whitened", 48, 32, 256), ("whitened", 64, 32, 256),
        ("resnet", 16, 16, 128))


def ms_per_image(kind: str, width: int, side: int, batch: int, channels_last: bool, bf16: bool,
                 steps: int) -> float:
    torch.manual_seed(0)
    x = torch.randint(0, 256, (batch, 3, side, side), dtype=torch.uint8)
    y = torch.randint(0, 10, (batch,))
    net = (WhitenedNet if kind == "whitened" else SmallResNet)(3, 10, width)
    if kind == "whitened":
        net.whiten_from(x)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    epochs, lr, decay, smoothing = DEFAULTS[kind]  # the net's own optimizer and settings
    opt = optimizer(net, Recipe("cnn", kind, side, width, epochs, batch, lr, decay, smoothing,
                                 mirror=False))

    def step():
        xb = x.float() / 255
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(xb).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up: oneDNN picks its kernels
        step()
    started = time.process_time()
    for _ in range(steps):
        step()
    return (time.process_time() - started) / steps / batch * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"<!-- torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"hardware bfloat16: {cpu_has_bf16()}, {args.threads} thread(s) -->")
    print("| net | float32 NCHW | float32 channels-last | bfloat16 NCHW | "
          "bfloat16 channels-last | speed-up (bf16 + channels-last) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, width, side, batch in NETS:
        name = f"{'whitened net' if kind == 'whitened' else 'ResNet'} width {width}, {side} px"
        ms = [ms_per_image(kind, width, side, batch, cl, bf, args.steps)
              for bf in (False, True) for cl in (False, True)]
        cells = " | ".join(f"{m:.3f} ms" for m in ms)
        print(f"| {name} | {cells} | {ms[0] / ms[3]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
