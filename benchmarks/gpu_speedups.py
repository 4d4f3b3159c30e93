"""What each way of speeding up a small model's training gains on a GPU, measured one step at a time.

    python benchmarks/gpu_speedups.py [--epochs 3] [--device cuda] [--no-compile]
                                      [--images 60000] [--json benchmarks/results/gpu_speedups.json]

The model is ``pipeline.VAE`` (the pytorch/examples MLP VAE, 784-400-20), batch 128, all 60,000 training images,
the loss ``pipeline.vae_loss``. Each row trains a fresh copy for one warm-up epoch and then ``--epochs`` timed
epochs, and reports the median seconds per epoch; every row visits the same 469 batches per epoch.

- ``tutorial``: a ``DataLoader`` over a per-sample ``ToTensor`` dataset, each batch copied to the GPU.
- ``resident``: the whole dataset on the GPU, batches drawn by index there; Adam as PyTorch builds it by default.
- ``fused``: the same with the fused AdamW kernel (one launch updates every parameter).
- ``fit_eager``: ``aecourse.fit`` step by step (``aecourse.train.CUDA_GRAPHS = False``): the two above plus its
  checks and bookkeeping.
- ``fit``: ``aecourse.fit`` as it runs on a GPU, replaying each full batch's step from one recorded CUDA graph
  (the loss is marked ``graph_safe``).
- ``bf16``: ``fused``, with the forward pass under bf16 autocast.
- ``cuda_graph``: the whole training step (forward, loss, backward, optimizer) captured once as a CUDA graph and
  replayed for every full batch: one launch per step instead of dozens.
- ``compiled``: ``fused``, with the loss (model and all) compiled by ``torch.compile``; the compile time, spent in
  the warm-up epoch, is reported beside it.

Small models are launch-bound on a GPU: a step is a few dozen tiny kernels, so what counts is how many times the
Python side launches work, not the arithmetic. The evaluation batch size is timed too (``evaluate`` on 10,000 images).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pipeline  # noqa: E402
import aecourse  # noqa: E402
from aecourse.data import MNIST_PATH  # noqa: E402
from aecourse.files import write_atomically  # noqa: E402
from aecourse.losses import kl_divergence  # noqa: E402

BATCH = 128
LABELS = {
    "tutorial": "`DataLoader` + per-sample `ToTensor`, batches copied to the GPU",
    "resident": "data resident on the GPU, batches by index; Adam (PyTorch's default for-each kernels)",
    "fused": "... fused AdamW (one kernel updates every parameter)",
    "fit_eager": "`aecourse.fit` step by step (the two above, plus its checks and bookkeeping)",
    "fit": "`aecourse.fit` as it runs on a GPU: each full batch's step replayed from one recorded CUDA graph",
    "bf16": "fused AdamW, forward under bf16 autocast",
    "cuda_graph": "fused AdamW, the whole step recorded by hand as one CUDA graph and replayed per batch",
    "compiled": "fused AdamW, loss and model through `torch.compile`",
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bf16_loss(model: nn.Module, batch: Tensor) -> Tensor:
    """``pipeline.vae_loss`` with the network's layers in bf16 (binary cross-entropy stays in fp32: autocast
    refuses it, since it is unsafe in half precision)."""
    with torch.autocast("cuda", dtype=torch.bfloat16):
        mu, logvar = model.posterior(batch)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        x_hat = model.decode(z)
    reconstruction = F.binary_cross_entropy(x_hat.float(), batch, reduction="sum") / len(batch)
    return reconstruction + kl_divergence(mu.float(), logvar.float()).mean()


def plain_loss(model: nn.Module, batch: Tensor) -> Tensor:
    return pipeline.vae_loss(model, batch)["loss"]


def epoch_orders(n: int, epochs: int, device: torch.device) -> list[list[Tensor]]:
    """The same shuffled batches for every row: ``epochs`` epochs of index tensors on ``device``."""
    generator = torch.Generator().manual_seed(0)
    return [list(torch.randperm(n, generator=generator).to(device).split(BATCH)) for _ in range(epochs)]


def eager_rows(images: Tensor, orders: list[list[Tensor]], device: torch.device, loss: Callable,
               optimizer_kind: str) -> list[float]:
    """Seconds per epoch of the plain loop over device-resident data."""
    aecourse.seed_everything(0)
    model = pipeline.VAE().to(device)
    if optimizer_kind == "fused":
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, fused=True)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds = []
    for order in orders:
        synchronize(device)
        start = time.perf_counter()
        for idx in order:
            optimizer.zero_grad(set_to_none=True)
            loss(model, images[idx]).backward()
            optimizer.step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def graph_rows(images: Tensor, orders: list[list[Tensor]], device: torch.device) -> list[float]:
    """Seconds per epoch with every full batch's step replayed from one captured CUDA graph."""
    aecourse.seed_everything(0)
    model = pipeline.VAE().to(device)
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, fused=True, capturable=True)
    except (RuntimeError, ValueError):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, capturable=True)
    static_idx = orders[0][0].clone()
    # warm up on a side stream (the optimizer's state and cuBLAS's workspaces are created outside the capture)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            plain_loss(model, images[static_idx]).backward()
            optimizer.step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = plain_loss(model, images[static_idx])
        static_loss.backward()
        optimizer.step()
    seconds = []
    for order in orders:
        synchronize(device)
        start = time.perf_counter()
        total = torch.zeros((), device=device)
        for idx in order:
            if len(idx) == BATCH:
                static_idx.copy_(idx)
                graph.replay()
                total += static_loss
            else:   # the last, smaller batch runs eagerly (a graph replays fixed shapes only)
                optimizer.zero_grad(set_to_none=False)
                plain_loss(model, images[idx]).backward()
                optimizer.step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    if not torch.isfinite(total):
        raise FloatingPointError("the CUDA-graph loop's loss is not finite")
    return seconds


def tutorial_rows(uint8_images: np.ndarray, epochs: int, device: torch.device) -> list[float]:
    aecourse.seed_everything(0)
    model = pipeline.VAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(pipeline.TutorialMNIST(uint8_images), batch_size=BATCH, shuffle=True)
    return [pipeline.tutorial_epoch(model, optimizer, loader, device) for _ in range(epochs)]


def fit_rows(images: Tensor, epochs: int, device: torch.device, graphs: bool = True) -> list[float]:
    aecourse.train.CUDA_GRAPHS = graphs
    aecourse.seed_everything(0)
    model = pipeline.VAE()
    history = aecourse.fit(model, pipeline.vae_loss, images, epochs=epochs, batch_size=BATCH, lr=1e-3,
                           device=device, progress=False)
    aecourse.train.CUDA_GRAPHS = True
    return history.seconds


def evaluation_seconds(images: Tensor, device: torch.device, batch_size: int, repeats: int = 5) -> float:
    """Median seconds of ``aecourse.metrics.evaluate`` over ``images`` at ``batch_size``."""
    aecourse.seed_everything(0)
    model = pipeline.VAE().to(device)
    aecourse.metrics.evaluate(model, pipeline.vae_loss, images, batch_size=batch_size)   # warm-up
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        aecourse.metrics.evaluate(model, pipeline.vae_loss, images, batch_size=batch_size)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per row, after one warm-up epoch")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row (it compiles first)")
    parser.add_argument("--images", type=int, default=60_000, help="train on the first N images (smoke tests)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here (atomically)")
    args = parser.parse_args()
    device = aecourse.runtime.as_device(args.device)
    with np.load(MNIST_PATH) as archive:
        uint8_images = archive["train_images"][: args.images]
    images = aecourse.load_mnist("train", device)[0][: args.images]
    test_images, _ = aecourse.load_mnist("test", device)
    orders = epoch_orders(len(images), args.epochs + 1, device)
    rows: dict[str, float] = {}
    notes: list[str] = []
    evaluated: dict[str, float] = {}

    def save() -> None:
        result = {"machine": pipeline.machine(), "device": device.type, "epochs": args.epochs, "rows": rows,
                  "labels": {name: LABELS[name] for name in rows}, "notes": notes, "evaluate_seconds": evaluated}
        if args.json is not None:   # after every row: a run cut short still leaves what it measured
            write_atomically(args.json, json.dumps(result, indent=1))

    def record(name: str, seconds: list[float]) -> None:
        rows[name] = statistics.median(seconds[1:])   # the first epoch warms up (and compiles)
        print(f"{name:>10}: {rows[name]:.3f} s/epoch  ({LABELS[name]}; first epoch {seconds[0]:.3f} s)", flush=True)
        save()

    record("tutorial", tutorial_rows(uint8_images, args.epochs + 1, device))
    record("resident", eager_rows(images, orders, device, plain_loss, "default"))
    record("fused", eager_rows(images, orders, device, plain_loss, "fused"))
    record("fit_eager", fit_rows(images, args.epochs + 1, device, graphs=False))
    record("fit", fit_rows(images, args.epochs + 1, device))
    small, large = (evaluation_seconds(test_images, device, size) for size in (1_000, 10_000))
    notes.append(f"`evaluate` on 10,000 test images: {small * 1000:.1f} ms at batch 1,000, "
                 f"{large * 1000:.1f} ms at batch 10,000")
    print(notes[-1], flush=True)
    evaluated.update({"1000": small, "10000": large})
    save()
    if device.type == "cuda":
        record("bf16", eager_rows(images, orders, device, bf16_loss, "fused"))
        try:
            record("cuda_graph", graph_rows(images, orders, device))
        except Exception as error:
            notes.append(f"CUDA graph capture failed here: {type(error).__name__}: {str(error)[:120]}")
            print(notes[-1], flush=True)
        if not args.no_compile:
            compiled = torch.compile(plain_loss)
            try:
                seconds = eager_rows(images, orders, device, compiled, "fused")
                record("compiled", seconds)
                notes.append(f"`torch.compile` spent about {seconds[0] - rows['compiled']:.0f} s compiling "
                             "in its first epoch")
            except Exception as error:  # report, do not hide: the row says why it is missing
                notes.append(f"`torch.compile` failed here: {type(error).__name__}: {str(error)[:120]}")
                print(notes[-1], flush=True)
    save()
    for name, seconds in rows.items():
        print(f"{name:>10}: {rows['tutorial'] / seconds:6.1f}x the tutorial pipeline")


if __name__ == "__main__":
    main()
