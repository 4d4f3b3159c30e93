"""Seconds per epoch of ``aecourse.fit`` against the conventional tutorial pipeline, same model, same run.

    python benchmarks/pipeline.py [--epochs 3] [--device cpu|cuda|mps] [--images 60000]

The model is the MLP VAE of pytorch/examples (784-400-20, ReLU, Adam at 1e-3, batch 128, summed BCE + KL).
The conventional pipeline is what learners copy from tutorials: a torchvision-style ``Dataset`` that turns each
uint8 image into a PIL image and applies ``transforms.ToTensor()`` one sample at a time, a ``DataLoader`` with
``shuffle=True`` (``num_workers=0``, the default), and ``.to(device)`` for every batch. ``aecourse.fit`` keeps the
whole float32 dataset on the device and draws shuffled index batches there. Both run in this process on the same
machine, alternating epoch by epoch so that a noisy machine slows both alike; the median epoch is reported.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import aecourse
from aecourse.data import MNIST_PATH
from aecourse.losses import graph_safe, kl_divergence


class VAE(nn.Module):
    """The pytorch/examples MNIST VAE: 784-400-(20 mean, 20 log-variance), decoder 20-400-784, sigmoid output,
    written to the course's model contract (see ``aecourse.models``)."""

    code_shape = (20,)

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.relu(self.fc1(x.view(-1, 784)))
        return self.fc21(h), self.fc22(h)                       # mu, logvar: (N, 20) each

    def encode(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.fc4(torch.relu(self.fc3(z)))).view(-1, 1, 28, 28)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


@graph_safe   # pure tensor work, so on a GPU fit replays its step as a CUDA graph
def vae_loss(model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
    """Negative ELBO per image: summed BCE over pixels plus KL, averaged over the batch."""
    mu, logvar = model.posterior(batch)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)     # reparameterised sample
    # summed over pixels as pytorch/examples does (reconstruction_error would also check the range on every batch)
    reconstruction = F.binary_cross_entropy(model.decode(z), batch, reduction="sum") / len(batch)
    kl = kl_divergence(mu, logvar).mean()
    return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}


class TutorialMNIST(Dataset):
    """What ``torchvision.datasets.MNIST(transform=ToTensor())`` does per item: uint8 array -> PIL -> tensor."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.transform = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.transform(Image.fromarray(self.images[index])), 0


def tutorial_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
                   device: torch.device) -> float:
    """One epoch written the tutorial way; returns its seconds."""
    start = time.perf_counter()
    model.train()
    for batch, _ in loader:
        batch = batch.to(device)
        optimizer.zero_grad()
        vae_loss(model, batch)["loss"].backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(epochs: int = 3, device: torch.device | str | None = None, n_images: int = 60_000) -> dict:
    """Time ``epochs`` epochs of each pipeline, interleaved; return medians, the ratio and the final losses."""
    device = aecourse.get_device() if device is None else torch.device(device)
    with np.load(MNIST_PATH) as archive:
        uint8_images = archive["train_images"][:n_images]
    images, _ = aecourse.load_mnist("train", device)
    images = images[:n_images]

    aecourse.seed_everything(0)
    ours = VAE()
    aecourse.seed_everything(0)
    tutorial = VAE().to(device)
    optimizer = torch.optim.Adam(tutorial.parameters(), lr=1e-3)
    loader = DataLoader(TutorialMNIST(uint8_images), batch_size=128, shuffle=True)

    fit_seconds, tutorial_seconds = [], []
    for epoch in range(epochs):
        history = aecourse.fit(ours, vae_loss, images, epochs=1, batch_size=128, lr=1e-3, seed=epoch,
                               device=device, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        fit_seconds.append(history.seconds[0])
        tutorial_seconds.append(tutorial_epoch(tutorial, optimizer, loader, device))
    fit_median, tutorial_median = statistics.median(fit_seconds), statistics.median(tutorial_seconds)
    return {"device": device.type, "epochs": epochs, "images": len(images),
            "fit_seconds": fit_median, "tutorial_seconds": tutorial_median, "ratio": fit_median / tutorial_median,
            "fit_loss": aecourse.metrics.evaluate(ours, vae_loss, images[:10_000])["loss"],
            "tutorial_loss": aecourse.metrics.evaluate(tutorial, vae_loss, images[:10_000])["loss"]}


def machine() -> str:
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{platform.machine()}, {torch.get_num_threads()} CPU threads{gpu}, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default=None, help="default: aecourse.get_device()")
    parser.add_argument("--images", type=int, default=60_000, help="train on the first N images")
    args = parser.parse_args()
    result = compare(args.epochs, args.device, args.images)
    print(f"machine: {machine()}")
    print(f"MLP VAE 784-400-20, batch 128, {result['images']} images, median of {result['epochs']} epochs "
          f"on {result['device']}")
    print(f"aecourse.fit:         {result['fit_seconds']:.2f} s/epoch (loss {result['fit_loss']:.1f})")
    print(f"DataLoader+ToTensor:  {result['tutorial_seconds']:.2f} s/epoch (loss {result['tutorial_loss']:.1f})")
    print(f"ratio fit / tutorial: {result['ratio']:.2f}")


if __name__ == "__main__":
    main()
