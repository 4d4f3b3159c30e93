"""Checks that turn bad input into one clear error instead of a stack trace from deep inside torch."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def check_images(images: object, name: str = "images", *, check_range: bool = True) -> Tensor:
    """Require a float tensor of MNIST-shaped images ``(N, 1, 28, 28)`` with values in ``[0, 1]``.

    Returns ``images`` unchanged. The range check reads every value (and synchronises a GPU),
    so hot paths call this once per dataset, not once per batch.
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, 28, 28), got {type(images).__name__}")
    if not images.is_floating_point():
        hint = " (uint8 pixels? divide by 255 first)" if images.dtype == torch.uint8 else ""
        raise TypeError(f"{name} must be a floating-point tensor with values in [0, 1], got {images.dtype}{hint}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        hint = " (flattened? use images.view(-1, 1, 28, 28))" if images.ndim == 2 and images.shape[1] == 784 else ""
        raise ValueError(f"{name} must have shape (N, 1, 28, 28), got {tuple(images.shape)}{hint}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one image")
    if check_range and images.numel():
        low, high = torch.aminmax(images.detach())
        low, high = float(low), float(high)
        if not (0.0 <= low and high <= 1.0):  # also catches NaN
            raise ValueError(f"{name} must have values in [0, 1], got min {low:.4g} and max {high:.4g}")
    return images


def check_choice(value: str, name: str, choices: Iterable[str]) -> str:
    """Require ``value`` to be one of ``choices``; the error lists them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
