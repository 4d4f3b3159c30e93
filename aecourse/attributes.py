"""Attributes of a digit image that need no labels: ink mass, slant, width and stroke thickness.

The embedding-space chapter measures what a direction in code space does to decoded images with these; the VAE
latent-space chapter writes ``ink_mass`` and ``slant`` out itself, and ``tests/test_attributes.py`` keeps the two the
same. All take ``(N, 1, 28, 28)`` images with values in ``[0, 1]`` and return ``(N,)``. Pixel
coordinates are ``u`` (column, to the right) and ``v`` (row, upwards); the moments are weighted by the pixel values:
``m = sum x``, centroid ``(u_bar, v_bar)``, ``mu_uv = sum x (u - u_bar)(v - v_bar)`` and so on.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .validation import check_images


def _checked(images: object, what: str) -> Tensor:
    images = check_images(images, "images")
    empty = images.sum(dim=(1, 2, 3)) <= 0
    if empty.any():
        raise ValueError(f"{what} needs ink: image {int(empty.nonzero()[0])} is all black (its sum is 0)")
    return images


def _central_moments(images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``m, mu_uu, mu_uv, mu_vv`` of each image, each ``(N,)``."""
    u = torch.arange(28.0, device=images.device, dtype=images.dtype).view(1, 1, 1, 28)
    v = -torch.arange(28.0, device=images.device, dtype=images.dtype).view(1, 1, 28, 1)
    mass = images.sum(dim=(1, 2, 3))
    du = u - ((images * u).sum(dim=(1, 2, 3)) / mass).view(-1, 1, 1, 1)
    dv = v - ((images * v).sum(dim=(1, 2, 3)) / mass).view(-1, 1, 1, 1)
    moment = lambda a, b: (images * a * b).sum(dim=(1, 2, 3))  # noqa: E731
    return mass, moment(du, du), moment(du, dv), moment(dv, dv)


def ink_mass(images: Tensor) -> Tensor:
    """``m(x) = sum_p x_p``: the total brightness, which grows with stroke thickness and size. ``(N,)``."""
    return check_images(images, "images").sum(dim=(1, 2, 3))


def slant(images: Tensor) -> Tensor:
    """``s(x) = mu_uv / mu_vv``: the slope of the regression of ``u`` on ``v``, how far the ink moves right per row
    upwards; positive for a digit leaning right, 0 for an upright one. ``(N,)``."""
    _, _, mu_uv, mu_vv = _central_moments(_checked(images, "slant"))
    return mu_uv / mu_vv


def width(images: Tensor) -> Tensor:
    """``w(x) = sqrt((mu_uu - mu_uv^2 / mu_vv) / m)``, in pixels: the horizontal spread of the ink left over once the
    slant is taken out (the residual standard deviation of ``u`` given ``v``), so leaning does not count as wide.
    ``(N,)``."""
    mass, mu_uu, mu_uv, mu_vv = _central_moments(_checked(images, "width"))
    return ((mu_uu - mu_uv.square() / mu_vv).clamp_min(0) / mass).sqrt()


def thickness(images: Tensor) -> Tensor:
    """``t(x) = 2 m / TV``, in pixels: the ink mass over half the total variation ``TV``, the summed length of the
    image's gradient (the image padded with black; the gradient taken on each 2 x 2 cell of pixels, as the mean of
    its two horizontal and its two vertical differences, which makes ``TV`` nearly the same for an edge in any
    direction). A stroke of width ``t`` and length ``L >> t`` has ``m = t L`` and ``TV ~ 2 (L + t)``, so ``t(x)`` is
    about its width, whatever its direction. ``(N,)``."""
    images = _checked(images, "thickness")
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    dx = ((padded[..., :-1, 1:] - padded[..., :-1, :-1]) + (padded[..., 1:, 1:] - padded[..., 1:, :-1])) / 2
    dy = ((padded[..., 1:, :-1] - padded[..., :-1, :-1]) + (padded[..., 1:, 1:] - padded[..., :-1, 1:])) / 2
    variation = (dx.square() + dy.square()).sqrt().sum(dim=(1, 2, 3))
    return 2 * images.sum(dim=(1, 2, 3)) / variation
