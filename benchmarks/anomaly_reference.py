"""Reference run: the anomaly-detection chapter's one-class AUROC table at a larger training budget.

    python benchmarks/anomaly_reference.py [--epochs 100] [--seeds 0 1 2] [--latent-dim 8] [--width 1] [--absolute]
                                          [--device cpu|cuda|mps] [--json benchmarks/results/anomaly_reference.json]

The chapter trains each one-class autoencoder for 25 epochs (its CPU budget). This script repeats its protocol with
``--epochs`` of training: for each digit, the fully connected 784-256-64-8 autoencoder (``MLPAutoencoder``, the same
network as the chapter's ``OneClassAutoencoder``) trains on that digit's training images only (the last 5,000
training images, the chapter's validation split, are left out), with Adam, a cosine schedule and batch 256; all
10,000 test images are scored with the chapter's score (residual blurred with a Gaussian of width ``--width``, divided
by the blurred image's energy unless ``--absolute``), and the AUROC with that digit as normal is measured. PCA with 16
components, scored the same way, is measured beside it on the same images. The score's defaults are the ones the
chapter chooses on its validation images; the test images are only measured, never used to choose anything.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import aecourse
from aecourse.anomaly import anomaly_score, auroc
from aecourse.files import write_atomically
from aecourse.metrics import pca, pca_reconstruct, summarize
from aecourse.models import MLPAutoencoder

DEEP_SVDD_MEAN = 94.8   # Ruff et al. (2018), one-class Deep SVDD, mean over the ten digits
OCGAN_MEAN = 97.5       # Perera et al. (2019)


def squared_error_loss(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return (model(x) - x).square().flatten(1).sum(dim=1).mean()


@torch.no_grad()
def reconstruct(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(batch) for batch in images.split(2000)])


def run(epochs: int = 100, seeds: tuple[int, ...] = (0, 1, 2), latent_dim: int = 8, width: float = 1.0,
        relative: bool = True, device: str | None = None, n_per_digit: int | None = None,
        n_test: int | None = None) -> dict:
    device = aecourse.get_device() if device is None else torch.device(device)
    train_images, train_labels = aecourse.load_mnist("train", device)
    train_images, train_labels = train_images[:-5_000], train_labels[:-5_000]   # the chapter's validation split out
    test_images, test_labels = aecourse.load_mnist("test", device)
    test_images, test_labels = test_images[:n_test], test_labels[:n_test]
    start = time.perf_counter()
    ae, pca_auroc = {}, {}
    for digit in range(10):
        normal = train_images[train_labels == digit][:n_per_digit]
        pca_auroc[digit] = auroc(anomaly_score(pca_reconstruct(test_images, *pca(normal, 16)), test_images, width,
                                               relative), test_labels, digit)
        for seed in seeds:
            aecourse.seed_everything(seed)
            model = MLPAutoencoder(latent_dim, hidden_dims=(256, 64))
            aecourse.fit(model, squared_error_loss, normal, epochs=epochs, batch_size=256, lr=2e-3,
                         lr_schedule="cosine", seed=seed, device=device, progress=False)
            ae[digit, seed] = auroc(anomaly_score(reconstruct(model, test_images), test_images, width, relative),
                                    test_labels, digit)
        print(f"digit {digit}: autoencoder {np.mean([ae[digit, s] for s in seeds]):.2f}, PCA {pca_auroc[digit]:.2f} "
              f"({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    per_seed_means = summarize([float(np.mean([ae[digit, seed] for digit in range(10)])) for seed in seeds])
    return {"architecture": f"784-256-64-{latent_dim} (fully connected)", "epochs": epochs, "seeds": list(seeds),
            "score": f"blur width {width:g}, " + ("relative" if relative else "absolute"),
            "device": aecourse.describe_device(device).split(";")[0], "torch": torch.__version__,
            "machine": platform.machine(),
            "ae_by_digit": {str(d): float(np.mean([ae[d, s] for s in seeds])) for d in range(10)},
            "ae_sd_by_digit": {str(d): summarize([ae[d, s] for s in seeds]).std for d in range(10)},
            "pca_by_digit": {str(d): pca_auroc[d] for d in range(10)},
            "ae_mean": per_seed_means.mean, "ae_mean_sd": per_seed_means.std, "ae_mean_low": per_seed_means.low,
            "pca_mean": float(np.mean(list(pca_auroc.values()))),
            "test_images": len(test_images), "minutes_total": round((time.perf_counter() - start) / 60, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--width", type=float, default=1.0, help="blur width of the score, pixels (default 1)")
    parser.add_argument("--absolute", action="store_true", help="score the blurred error itself, not relative")
    parser.add_argument("--device", default=None)
    parser.add_argument("--n-per-digit", type=int, default=None, help="train on at most this many images per digit")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here (atomically)")
    args = parser.parse_args()
    for name in ("epochs", "latent_dim"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.width < 0:
        parser.error(f"--width must be at least 0, got {args.width}")
    result = run(args.epochs, tuple(args.seeds), args.latent_dim, args.width, not args.absolute, args.device,
                 args.n_per_digit)
    print(f"one-class MNIST, mean AUROC over digits ({result['architecture']}, {args.epochs} epochs, "
          f"{len(args.seeds)} seeds, {result['minutes_total']} min on {result['device']}): autoencoder "
          f"{result['ae_mean']:.2f} ± {result['ae_mean_sd']:.2f}, PCA {result['pca_mean']:.2f}; "
          f"Deep SVDD {DEEP_SVDD_MEAN}, OCGAN {OCGAN_MEAN} (published)")
    if args.json is not None:
        write_atomically(args.json, json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
