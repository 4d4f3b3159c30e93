"""Evaluating a trained model on a whole dataset, in batches, without gradients."""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .losses import LossFn, reconstruction_error
from .validation import check_images, check_positive_int


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode and without gradients; its train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _batches(images: Tensor, batch_size: int):
    check_positive_int(batch_size, "batch_size")
    return images.split(batch_size)


def evaluate(model: nn.Module, loss_fn: LossFn, images: Tensor, *, batch_size: int = 1000) -> dict[str, float]:
    """Mean of each term ``loss_fn`` returns, over all ``images`` ``(N, 1, 28, 28)``, in eval mode.

    Returns ``{"loss": ...}`` (plus the other entries when ``loss_fn`` returns a dict).
    The model's train/eval mode is restored afterwards.
    """
    check_images(images)
    totals: dict[str, Tensor] = {}
    with eval_mode(model):
        for batch in _batches(images, batch_size):
            terms = as_terms(loss_fn(model, batch))
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value.detach() * len(batch)
    return {name: float(total) / len(images) for name, total in totals.items()}


def reconstruction_errors(model: nn.Module, images: Tensor, kind: str = "mse", *,
                          batch_size: int = 1000) -> Tensor:
    """Per-image reconstruction error ``(N,)`` of ``model`` on ``images`` ``(N, 1, 28, 28)`` (see
    :func:`aecourse.losses.reconstruction_error`), computed in eval mode on the model's device."""
    check_images(images)
    with eval_mode(model):
        return torch.cat([reconstruction_error(model(batch), batch, kind)
                          for batch in _batches(images, batch_size)])


def as_terms(output: Tensor | dict[str, Tensor]) -> dict[str, Tensor]:
    """Normalise what a ``loss_fn`` returns to a dict with a scalar ``"loss"`` entry, or say what is wrong."""
    terms = output if isinstance(output, dict) else {"loss": output}
    if "loss" not in terms:
        raise ValueError(f"loss_fn returned a dict without a 'loss' entry (keys: {sorted(terms)})")
    for name, value in terms.items():
        if not isinstance(value, Tensor) or value.ndim != 0:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"loss_fn must return scalar tensors; entry {name!r} is {shape} "
                             "(did you forget .mean() over the batch?)")
    return terms


def pca(images: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Principal component analysis of ``images`` ``(N, 1, 28, 28)``, computed exactly in float64.

    Returns ``(mean, components)``: the mean image flattened ``(784,)`` and the top-``k`` principal
    directions as orthonormal rows ``(k, 784)``, in order of decreasing variance.
    """
    check_images(images)
    check_positive_int(k, "k")
    x = images.detach().flatten(1).double()
    if k > x.shape[1]:
        raise ValueError(f"k must be at most {x.shape[1]} (pixels per image), got {k}")
    mean = x.mean(dim=0)
    centered = x - mean
    # eigh of the 784x784 scatter matrix is exact and far cheaper than an SVD of the N x 784 data
    eigenvalues, eigenvectors = torch.linalg.eigh(centered.T @ centered)
    components = eigenvectors[:, eigenvalues.argsort(descending=True)[:k]].T.contiguous()
    return mean.to(images.dtype), components.to(images.dtype)


def _project(images: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    """Flattened images ``(N, 784)`` projected onto ``mean + span(components)``, in float64."""
    x = images.detach().flatten(1).double()
    components = components.double()
    return (x - mean.double()) @ components.T @ components + mean.double()


def pca_reconstruct(images: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    """Reconstruct ``images`` ``(N, 1, 28, 28)`` from their projection onto ``(mean, components)`` from :func:`pca`.

    Pass ``components[:k]`` for a rank-``k`` reconstruction: the rows are sorted, so one ``pca`` call with the
    largest ``k`` serves every smaller one. Values are not clipped: they can fall slightly outside ``[0, 1]``.
    """
    check_images(images)
    return _project(images, mean, components).to(images.dtype).view_as(images)


def pca_reconstruction_errors(train_images: Tensor, images: Tensor, k: int) -> Tensor:
    """Per-image squared error ``(N,)`` of reconstructing ``images`` from their projection onto the top-``k``
    principal components of ``train_images``: the best any rank-``k`` linear map can do on the training data."""
    check_images(images)
    mean, components = pca(train_images, k)
    x = images.detach().flatten(1).double()
    return (x - _project(images, mean, components)).square().sum(dim=1).to(images.dtype)


def high_frequency_share(images: Tensor, min_cycles: int | None = None) -> float:
    """Share of the total energy (sum of squares) of ``images`` ``(N, C, H, W)`` at high spatial frequencies.

    A frequency counts as high when it makes at least ``min_cycles`` cycles across the image along either axis.
    The default, ``H // 2`` (14 for MNIST), keeps only the highest frequency there is: the pattern that flips sign
    from one pixel to the next, a checkerboard or stripes of period 2. Values may be signed (pass reconstruction
    errors ``x_hat - x``). Returns a number in ``[0, 1]``; 0 for images with no energy at all.
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"expected a float tensor of shape (N, C, H, W), got {shape}")
    height, width = images.shape[-2:]
    min_cycles = min(height, width) // 2 if min_cycles is None else check_positive_int(min_cycles, "min_cycles")
    power = torch.fft.fft2(images.detach().double()).abs().square().sum(dim=(0, 1))   # (H, W), summed over images
    cycles_y = (torch.fft.fftfreq(height, device=power.device) * height).abs().round()
    cycles_x = (torch.fft.fftfreq(width, device=power.device) * width).abs().round()
    high = (cycles_y[:, None] >= min_cycles) | (cycles_x[None, :] >= min_cycles)
    total = power.sum()
    return float(power[high].sum() / total) if total > 0 else 0.0


@dataclass(frozen=True)
class SeedSummary:
    """Mean and spread of one measurement repeated over seeds: ``str()`` gives ``"4.02 ± 0.05 (3.97–4.08, 3 seeds)"``."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return self.format(".2f")

    def format(self, spec: str = ".2f") -> str:
        return (f"{self.mean:{spec}} ± {self.std:{spec}} ({self.low:{spec}}–{self.high:{spec}}, "
                f"{self.n} seed{'s' if self.n != 1 else ''})")


def summarize(values: Sequence[float]) -> SeedSummary:
    """Mean, sample standard deviation (0 for one value), minimum and maximum of ``values`` (one per seed).

    Every value must be a finite number: a NaN from a diverged run is reported, never averaged away.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarize needs at least one value (one per seed)")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"summarize got a non-finite value: {values}")
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return SeedSummary(mean, std, min(values), max(values), len(values))
