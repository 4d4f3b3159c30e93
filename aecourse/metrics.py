"""Evaluating a trained model on a whole dataset, in batches, without gradients."""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .losses import LossFn, reconstruction_error
from .validation import check_images, check_model, check_positive_int


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


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The floating dtype of ``model``'s parameters (None for a model without any)."""
    parameter = next((p for p in model.parameters() if p.is_floating_point()), None)
    return parameter.dtype if parameter is not None else None


def _batches(images: Tensor, batch_size: int, device: torch.device) -> Iterator[Tensor]:
    """``images`` in slices of ``batch_size``, each moved to ``device`` (the whole set may not fit there)."""
    check_positive_int(batch_size, "batch_size")
    for batch in images.split(batch_size):
        yield batch.to(device)


def evaluate(model: nn.Module, loss_fn: LossFn, images: Tensor, *, batch_size: int = 1000) -> dict[str, float]:
    """Mean of each term ``loss_fn`` returns, over all ``images`` ``(N, 1, 28, 28)``, in eval mode on the model's
    device (the images are moved there a batch at a time).

    Returns ``{"loss": ...}`` (plus the other entries when ``loss_fn`` returns a dict). A term that is NaN or inf
    raises ``FloatingPointError``. The model's train/eval mode is restored afterwards.
    """
    check_model(model, trainable=False)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(model, batch) -> loss, got {type(loss_fn).__name__}")
    check_images(images, dtype=model_dtype(model))
    totals: dict[str, Tensor] = {}
    with eval_mode(model):
        for batch in _batches(images, batch_size, model_device(model)):
            terms = as_terms(loss_fn(model, batch), expected=totals.keys() if totals else None)
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value.detach() * len(batch)
    means = {name: float(total) / len(images) for name, total in totals.items()}
    for name, value in means.items():
        if not math.isfinite(value):
            raise FloatingPointError(f"evaluate: the term {name!r} is {value} on these images (NaN or inf in the "
                                     "model's output or weights, or a log of 0 in loss_fn)")
    return means


def reconstruction_errors(model: nn.Module, images: Tensor, kind: str = "mse", *,
                          batch_size: int = 1000) -> Tensor:
    """Per-image reconstruction error ``(N,)`` of ``model`` on ``images`` ``(N, 1, 28, 28)`` (see
    :func:`aecourse.losses.reconstruction_error`), computed in eval mode on the model's device and returned on the
    images' device. A NaN or inf error raises ``FloatingPointError``."""
    check_model(model, trainable=False)
    check_images(images, dtype=model_dtype(model))
    with eval_mode(model):
        errors = torch.cat([reconstruction_error(model(batch), batch, kind)
                            for batch in _batches(images, batch_size, model_device(model))]).to(images.device)
    bad = ~torch.isfinite(errors)
    if bool(bad.any()):
        raise FloatingPointError(f"reconstruction_errors: {int(bad.sum())} of {len(errors)} errors are NaN or inf "
                                 "(the model's output holds NaN or inf)")
    return errors


def latent_activity(model: nn.Module, images: Tensor, *, batch_size: int = 1000) -> Tensor:
    """How much each latent unit's posterior mean moves with the input: ``Var_x(E_q[z_i | x])``, ``(latent_dim,)``.

    Burda et al. (2015) call unit ``i`` *active* when this exceeds 0.01: an inactive unit's posterior is the same
    for every image, so the decoder cannot learn anything from it. ``model`` has ``posterior(x) -> (mu, logvar)``;
    ``images`` are ``(N, 1, 28, 28)`` in ``[0, 1]`` with ``N >= 2``.
    """
    check_model(model, trainable=False)
    if not callable(getattr(model, "posterior", None)):
        raise TypeError(f"latent_activity needs a model with posterior(x) -> (mu, logvar); "
                        f"{type(model).__name__} has none")
    check_images(images, dtype=model_dtype(model))
    if len(images) < 2:
        raise ValueError("latent_activity needs at least 2 images to measure a variance")
    with eval_mode(model):
        means = torch.cat([model.posterior(batch)[0].flatten(1).double()
                           for batch in _batches(images, batch_size, model_device(model))])
    if not bool(torch.isfinite(means).all()):
        raise FloatingPointError("latent_activity: the posterior means hold NaN or inf")
    return means.var(dim=0).float().cpu()


def as_terms(output: Tensor | dict[str, Tensor], expected: Iterable[str] | None = None) -> dict[str, Tensor]:
    """Normalise what a ``loss_fn`` returns to a dict with a scalar ``"loss"`` entry, or say what is wrong.

    ``expected``: the names the earlier batches returned; every batch must return the same ones, or the averages
    would treat a missing term as 0.
    """
    terms = output if isinstance(output, dict) else {"loss": output}
    if "loss" not in terms:
        got = sorted(terms) if isinstance(output, dict) else type(output).__name__
        raise ValueError(f"loss_fn returned a dict without a 'loss' entry (keys: {got})")
    for name, value in terms.items():
        if not isinstance(value, Tensor) or value.ndim != 0:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"loss_fn must return scalar tensors; entry {name!r} is {shape} "
                             "(did you forget .mean() over the batch? a float from .item() has no gradient)")
    if expected is not None and set(terms) != set(expected):
        raise ValueError(f"loss_fn must return the same terms for every batch: got {sorted(terms)} after "
                         f"{sorted(expected)} (a term returned only sometimes would be averaged as 0 elsewhere)")
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
    if not isinstance(mean, Tensor) or tuple(mean.shape) != (784,):
        raise ValueError(f"mean must be the (784,) tensor pca returned, got {getattr(mean, 'shape', type(mean).__name__)}")
    if not isinstance(components, Tensor) or components.ndim != 2 or components.shape[1] != 784:
        shape = tuple(components.shape) if isinstance(components, Tensor) else type(components).__name__
        raise ValueError(f"components must be (k, 784) rows from pca, got {shape}")
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
    if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point() or not images.numel():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"expected a non-empty float tensor of shape (N, C, H, W), got {shape}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("high_frequency_share got NaN or inf values; their spectrum is undefined")
    height, width = images.shape[-2:]
    min_cycles = min(height, width) // 2 if min_cycles is None else check_positive_int(min_cycles, "min_cycles")
    power = torch.fft.fft2(images.detach().double()).abs().square().sum(dim=(0, 1))   # (H, W), summed over images
    cycles_y = (torch.fft.fftfreq(height, device=power.device) * height).abs().round()
    cycles_x = (torch.fft.fftfreq(width, device=power.device) * width).abs().round()
    high = (cycles_y[:, None] >= min_cycles) | (cycles_x[None, :] >= min_cycles)
    total = power.sum()
    return float(power[high].sum() / total) if total > 0 else 0.0


def laplacian_variance(images: Tensor) -> Tensor:
    """Sharpness of each image ``(N, 1, 28, 28)`` in ``[0, 1]``: the variance of its discrete Laplacian, ``(N,)``.

    The Laplacian ``4 x[i, j] - x[i-1, j] - x[i+1, j] - x[i, j-1] - x[i, j+1]``, taken on the 26 x 26 interior pixels
    (no padding), is 0 where an image is flat or a linear ramp and large at crisp edges, so blurred images score low.
    A checkerboard of 0 and 1 pixels scores the most there is, 16. Float64.
    """
    check_images(images)
    x = images.detach().double()[:, 0]
    laplacian = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    return laplacian.flatten(1).var(dim=1, unbiased=False)


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
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"summarize needs a list of numbers (one per seed), got {type(values).__name__}")
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError) as error:
        raise TypeError(f"summarize needs a list of numbers (one per seed): {error}") from None
    if not values:
        raise ValueError("summarize needs at least one value (one per seed)")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"summarize got a non-finite value: {values}")
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return SeedSummary(mean, std, min(values), max(values), len(values))
