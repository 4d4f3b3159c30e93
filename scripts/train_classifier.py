"""Train the MNIST classifier behind ``aecourse.yardstick`` and write its weights into the package.

    python scripts/train_classifier.py [--epochs 4] [--out aecourse/mnist_data/classifier.pt]

The classifier (``aecourse.yardstick.DigitClassifier``) is trained on the 60,000 training images, with each image
shifted by up to 2 pixels so that slightly off-centre generated digits are still recognised, then measured on the
10,000 test images (the target is at least 99.3 % accuracy). The state dict is written atomically with fixed
content (no pickled code: ``torch.load(weights_only=True)`` reads it), and the script prints the sha256 to paste
into ``CLASSIFIER_SHA256`` in ``aecourse/yardstick.py``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import aecourse
from aecourse.data import random_shift
from aecourse.files import write_atomically
from aecourse.yardstick import CLASSIFIER_PATH, DigitClassifier


def train(epochs: int, seed: int = 0) -> tuple[DigitClassifier, float]:
    """Adam with a one-cycle learning rate, batch 128; returns the model and its test accuracy."""
    aecourse.seed_everything(seed)
    train_images, train_labels = aecourse.load_mnist("train")
    test_images, test_labels = aecourse.load_mnist("test")
    model = DigitClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * -(-len(train_images) // 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(train_images), generator=generator).split(128):
            x = random_shift(train_images[idx], 2, generator)
            loss = F.cross_entropy(model(x), train_labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = test_accuracy(model, test_images, test_labels)
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    return model.eval(), accuracy


@torch.no_grad()
def test_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    predictions = torch.cat([model(batch).argmax(dim=1) for batch in images.split(1000)])
    return float((predictions == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=CLASSIFIER_PATH)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; expected the path of the .pt file to write")
    model, accuracy = train(args.epochs, args.seed)
    if accuracy < 0.993:
        raise SystemExit(f"test accuracy {accuracy:.4f} is below the 0.993 target; not writing {args.out}")
    buffer = io.BytesIO()
    # contiguous CPU float32 tensors only: the file then holds plain tensors that weights_only loading accepts
    torch.save({name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}, buffer)
    write_atomically(args.out, buffer.getvalue())
    print(f"wrote {args.out} ({len(buffer.getvalue()) / 1024:.0f} KB), test accuracy {accuracy:.4f}")
    print("sha256:", hashlib.sha256(buffer.getvalue()).hexdigest())


if __name__ == "__main__":
    main()
