"""MNIST from the copy that ships with the package, and minibatches drawn from a tensor already on the device.

Why not ``torchvision.datasets.MNIST`` with a ``DataLoader``? MNIST is 47 MB as float32: it fits on any
device. Keeping it there and slicing random batches out of it avoids a Python call, a PIL image and a
``ToTensor`` per sample, which is most of an epoch's time for the small models in this course.
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .runtime import as_device
from .validation import check_choice, check_positive_int

MNIST_PATH = Path(__file__).parent / "mnist_data" / "mnist.npz"
MNIST_SHA256 = "d982058ed529d6fae902003aa4dfb3df53471e9c59b95850cfc0c1412a10b073"
SPLIT_SIZES = {"train": 60_000, "test": 10_000}


@functools.lru_cache(maxsize=2)
def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Verify the checksum and read all arrays (cached: a chapter loads both splits several times)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST data file not found at {path}. It ships inside the aecourse package; "
            "reinstall aecourse or rebuild the file with scripts/build_mnist.py."
        )
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_SHA256:
        raise ValueError(
            f"MNIST data file {path} is corrupted or not the expected version: sha256 {digest}, "
            f"expected {MNIST_SHA256}. Reinstall aecourse or rebuild it with scripts/build_mnist.py."
        )
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def load_mnist(split: str = "train", device: torch.device | str | None = None, *,
               path: Path | str | None = None) -> tuple[Tensor, Tensor]:
    """The official MNIST ``split`` ("train": 60,000 images, "test": 10,000), in the official order.

    Returns ``(images, labels)``: images float32 ``(N, 1, 28, 28)`` with values ``pixel / 255`` in ``[0, 1]``,
    labels int64 ``(N,)``, both on ``device`` (default: the CPU). ``path`` overrides the shipped file.
    """
    check_choice(split, "split", SPLIT_SIZES)
    device = torch.device("cpu") if device is None else as_device(device)
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    arrays = _read_npz(Path(path).resolve() if path is not None else MNIST_PATH)
    pixels = torch.from_numpy(arrays[f"{split}_images"])
    labels = torch.from_numpy(arrays[f"{split}_labels"])
    # Convert on the device: the uint8 copy is 4x smaller to move than the float copy.
    images = pixels.to(device).unsqueeze(1).float().div_(255.0)
    return images, labels.to(device).long()


def minibatches(n: int, batch_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Iterator[Tensor]:
    """Yield index tensors that cover ``range(n)`` once: one epoch of minibatches.

    With ``shuffle`` a fresh permutation is drawn from ``generator`` (a seeded ``torch.Generator`` on the
    CPU makes the order reproducible on every device); the last batch may be smaller. Index the data
    yourself, ``images[idx]``, so the data never leaves its device.
    """
    check_positive_int(n, "n")
    check_positive_int(batch_size, "batch_size")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(device)
    yield from order.split(batch_size)


def random_shift(images: Tensor, pixels: int, generator: torch.Generator | None = None) -> Tensor:
    """Each image of ``images`` ``(N, C, H, W)`` moved by its own random whole-pixel offset in ``[-pixels, pixels]``
    along each axis (data augmentation); pixels moved in from outside are 0, MNIST's background. ``pixels=0``
    returns ``images`` itself. Offsets come from ``generator`` (a CPU ``torch.Generator``) when given."""
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 0:
        raise ValueError(f"pixels must be a non-negative int, got {pixels!r}")
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor of shape (N, C, H, W), got {shape}")
    if pixels == 0:
        return images
    n, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (pixels, pixels, pixels, pixels))
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, n, 1), generator=generator).to(images.device)
    rows = dy + torch.arange(height, device=images.device)     # (N, H): the padded row that lands in each row
    cols = dx + torch.arange(width, device=images.device)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
