"""Reconstruction-based anomaly scores and their AUROC, as the anomaly-detection chapter writes them.

The chapter defines these functions in its own cells (the learner reads them there); they live here too because the
reference run ``benchmarks/anomaly_reference.py`` reuses them, and ``tests/test_chapter_models.py`` checks that the two
definitions agree.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .validation import check_bool, check_images, check_non_negative_number


def gaussian_blur(images: Tensor, width: float) -> Tensor:
    """Blur ``(N, 1, 28, 28)`` images with a Gaussian of standard deviation ``width`` pixels (zero padding, the
    kernel cut at 3 widths). ``width = 0`` returns the images unchanged. Values need not lie in ``[0, 1]`` (residuals
    are blurred too)."""
    check_images(images, check_range=False)
    width = check_non_negative_number(width, "width")
    if width == 0:
        return images
    radius = math.ceil(3 * width)                       # the kernel is cut at 3 widths
    gaussian = lambda offsets: torch.exp(-offsets.square() / (2 * width**2))
    pixels = torch.arange(28, dtype=images.dtype, device=images.device)
    offsets = pixels[:, None] - pixels[None, :]           # (28, 28): row i minus column j
    normalizer = gaussian(torch.arange(-radius, radius + 1, dtype=images.dtype)).sum()
    blur_matrix = gaussian(offsets) * (offsets.abs() <= radius) / normalizer
    # A 2-D Gaussian is a 1-D one down the columns times one along the rows: blur_matrix @ image @ blur_matrix.T.
    # Rows of blur_matrix cut off at the border are zero padding. Two 28 x 28 products beat a convolution here.
    return blur_matrix @ images @ blur_matrix.T


def anomaly_score(x_hat: Tensor, x: Tensor, width: float = 0.0, relative: bool = False) -> Tensor:
    """Reconstructions ``x_hat`` (any finite values: PCA's leave ``[0, 1]``) and images ``x`` in ``[0, 1]``, both
    ``(N, 1, 28, 28)`` -> scores ``(N,)``, higher meaning more anomalous: ``||G_w * (x_hat - x)||^2``, divided by ``||G_w * x||^2`` when ``relative`` (the fraction of the
    image's blurred energy left unexplained). A blank image has no energy to divide by: ``relative`` then raises
    rather than returning NaN or infinity."""
    check_images(x_hat, "x_hat", check_range=False)
    if not bool(torch.isfinite(x_hat).all()):
        raise ValueError("x_hat must be finite, got NaN or infinite values (a diverged model?)")
    check_images(x, "x")
    check_bool(relative, "relative")
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape, got {tuple(x_hat.shape)} and {tuple(x.shape)}")
    score = gaussian_blur(x_hat - x, width).square().flatten(1).sum(dim=1)
    if not relative:
        return score
    energy = gaussian_blur(x, width).square().flatten(1).sum(dim=1)
    if not bool((energy > 0).all()):
        blank = (energy <= 0).nonzero().flatten().tolist()[:5]
        raise ValueError(f"relative scores need images with some ink; images {blank} are blank (the score would divide by zero)")
    return score / energy


def auroc(scores: Tensor, labels: Tensor, normal_digit: int) -> float:
    """AUROC in percent of ``scores`` ``(N,)`` for telling the images whose ``labels`` ``(N,)`` are not
    ``normal_digit`` (the anomalies) from those that are: the probability that a random anomaly scores higher than a
    random normal image, ties counting one half (scikit-learn's ``roc_auc_score``)."""
    from sklearn.metrics import roc_auc_score   # imported here: only this function needs scikit-learn

    if not isinstance(scores, Tensor) or not isinstance(labels, Tensor):
        raise TypeError("scores and labels must be torch tensors of shape (N,)")
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(f"scores and labels must both have shape (N,), got {tuple(scores.shape)} and "
                         f"{tuple(labels.shape)}")
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("scores must be finite (a NaN or infinite score has no rank)")
    is_anomaly = (labels != normal_digit).cpu().numpy()
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError(f"AUROC needs both normal images (label {normal_digit}) and anomalies among the labels")
    return 100 * float(roc_auc_score(is_anomaly, scores.detach().cpu().double().numpy()))
