"""Do seeded reruns agree on a GPU, and how far is a GPU run from the CPU's?

    python benchmarks/cuda_checks.py [--images 10000] [--json benchmarks/results/cuda_checks.json]

Trains the course's conv autoencoder (MSE) and conv VAE (negative ELBO) for one epoch with ``aecourse.fit``, twice
on the GPU with the same seed and once on the CPU, and reports the final training loss of each run, the largest
difference between the two GPU runs' weights, and the GPU-CPU difference in loss. ``seed_everything`` asks cuDNN
for deterministic kernels, but some GPU kernels (atomic adds in backward passes) still sum in varying order, so
"the same to rounding" is the promise: differences of the order of float32 rounding grown over one epoch.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import aecourse
from aecourse.files import write_atomically
from aecourse.losses import reconstruction_loss, vae_loss
from aecourse.models import ConvAutoencoder, ConvVAE


def train(kind: str, images: torch.Tensor, device: str) -> tuple[float, dict[str, torch.Tensor]]:
    aecourse.seed_everything(0)
    model, loss = ((ConvAutoencoder(latent_dim=32), reconstruction_loss("mse")) if kind == "conv_ae"
                   else (ConvVAE(latent_dim=32), vae_loss()))
    history = aecourse.fit(model, loss, images, epochs=1, batch_size=128, seed=0, device=device, progress=False)
    return history.train["loss"][-1], {name: value.detach().float().cpu() for name, value in
                                       model.state_dict().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: these checks compare GPU runs")
    images = aecourse.load_mnist("train")[0][: args.images]
    result = {}
    for kind in ("conv_ae", "conv_vae"):
        first_loss, first = train(kind, images, "cuda")
        second_loss, second = train(kind, images, "cuda")
        cpu_loss, _ = train(kind, images, "cpu")
        weight_gap = max(float((first[name] - second[name]).abs().max()) for name in first)
        result[kind] = {"gpu_loss": first_loss, "gpu_rerun_loss": second_loss, "cpu_loss": cpu_loss,
                        "rerun_loss_gap": abs(first_loss - second_loss), "rerun_weight_gap": weight_gap,
                        "gpu_cpu_loss_gap_percent": 100 * abs(first_loss - cpu_loss) / cpu_loss}
        print(f"{kind}: loss GPU {first_loss:.6f}, GPU rerun {second_loss:.6f}, CPU {cpu_loss:.6f}; largest weight "
              f"difference between the GPU runs {weight_gap:.2e}; GPU vs CPU "
              f"{result[kind]['gpu_cpu_loss_gap_percent']:.3f} %", flush=True)
    if args.json is not None:
        write_atomically(args.json, json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
