"""Seconds per epoch of ``aecourse.fit`` for an MLP autoencoder (784-512-128-32) on full MNIST, batch 128.

    python benchmarks/fit_speed.py [--epochs 3] [--device cpu|cuda|mps]

Prints one line per epoch and the median. The first epoch includes warm-up; the median is the figure to quote.
"""
from __future__ import annotations

import argparse
import platform
import statistics

import torch

import aecourse
from aecourse.losses import reconstruction_loss
from aecourse.models import MLPAutoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default=None, help="default: aecourse.get_device()")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else aecourse.get_device()
    aecourse.seed_everything(0)
    images, _ = aecourse.load_mnist("train", device)
    model = MLPAutoencoder(latent_dim=32, hidden_dims=(512, 128))
    history = aecourse.fit(model, reconstruction_loss("mse"), images, epochs=args.epochs, batch_size=128,
                           lr=1e-3, device=device, progress=False)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"device {aecourse.describe_device(device)}")
    for epoch, (seconds, loss) in enumerate(zip(history.seconds, history.train["loss"]), 1):
        print(f"epoch {epoch}: {seconds:.2f} s, train loss {loss:.2f}")
    print(f"median seconds per epoch: {statistics.median(history.seconds):.2f}")


if __name__ == "__main__":
    main()
