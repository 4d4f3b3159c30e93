"""Checks that turn bad input into one clear error instead of a stack trace from deep inside torch."""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn


def check_images(images: object, name: str = "images", *, check_range: bool = True,
                 dtype: torch.dtype | None = None) -> Tensor:
    """Require a floating-point tensor of MNIST-shaped images ``(N, 1, 28, 28)`` with values in ``[0, 1]``, of
    ``dtype`` when given (the dtype of the weights the images will meet: a mismatch fails deep in the first layer).

    Returns ``images`` unchanged. The range check reads every value (and synchronises a GPU),
    so hot paths call this once per dataset, not once per batch.
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, 28, 28), got {type(images).__name__}")
    if not images.is_floating_point():
        hint = " (uint8 pixels? divide by 255 first)" if images.dtype == torch.uint8 else ""
        raise TypeError(f"{name} must be a floating-point tensor with values in [0, 1], got {images.dtype}{hint}")
    if dtype is not None and images.dtype != dtype:
        raise TypeError(f"{name} must be {dtype} like the model's weights, got {images.dtype} "
                        f"(use images.to({dtype}))")
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


def check_model(model: object, name: str = "model", *, trainable: bool = True) -> nn.Module:
    """Require an ``nn.Module``, with at least one trainable parameter if ``trainable`` (a model to train)."""
    if not isinstance(model, nn.Module):
        hint = " (a class? build an instance: Model())" if isinstance(model, type) else ""
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}{hint}")
    if trainable and not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{name} ({type(model).__name__}) has no trainable parameters")
    return model


def check_sequence_of_positive_ints(values: object, name: str) -> tuple[int, ...]:
    """Require a list or tuple of positive ints (``hidden_dims=(512, 128)``, not ``hidden_dims=128``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of positive ints, e.g. (512, 128), got {values!r}")
    return tuple(check_positive_int(value, f"each of {name}") for value in values)


def check_fraction(value: object, name: str) -> float:
    """Require a number in ``[0, 1)`` (a dropout rate)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_non_negative_number(value: object, name: str) -> float:
    """Require a finite number ``>= 0`` (a KL weight, a floor in nats); anything else is a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value
