"""aecourse.anomaly: the blur, the anomaly score and the AUROC of the anomaly-detection chapter."""
import math

import numpy as np
import pytest
import torch

from aecourse.anomaly import anomaly_score, auroc, gaussian_blur

IMAGES = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_gaussian_blur_matches_scipy_with_zero_padding():
    from scipy.ndimage import gaussian_filter
    for width in (0.5, 1.0, 2.0):
        ours = gaussian_blur(IMAGES, width).numpy()
        theirs = np.stack([gaussian_filter(image[0], width, mode="constant", truncate=math.ceil(3 * width) / width)
                           for image in IMAGES.numpy()])[:, None]
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_gaussian_blur_keeps_the_shape_and_the_mass_of_a_centred_dot():
    dot = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    dot[0, 0, 14, 14] = 1.0
    blurred = gaussian_blur(dot, 1.5)
    assert blurred.shape == dot.shape
    assert blurred.sum().item() == pytest.approx(1.0)                    # the kernel sums to 1, nothing falls off
    assert blurred[0, 0, 14, 14] == blurred.max()                        # peaked where the dot was
    assert torch.allclose(blurred, blurred.flip(-1).roll(1, -1))         # symmetric about column 14
    assert gaussian_blur(IMAGES, 0) is IMAGES                            # width 0: nothing to do


def test_anomaly_score_known_values():
    x = torch.zeros(2, 1, 28, 28, dtype=torch.float64)
    x[:, 0, 10:18, 10:18] = 1.0                          # 64 pixels of ink
    x_hat = x.clone()
    x_hat[1, 0, 10:18, 10:12] = 0.5                       # 16 pixels off by 0.5: squared error 16 * 0.25 = 4
    assert anomaly_score(x_hat, x).tolist() == [0.0, 4.0]
    assert anomaly_score(x_hat, x, relative=True).tolist() == [0.0, 4.0 / 64]
    # relative scores do not change when image and reconstruction are scaled together
    assert torch.allclose(anomaly_score(x_hat / 2, x / 2, 1.0, True), anomaly_score(x_hat, x, 1.0, True))


def test_blurred_score_forgives_a_one_pixel_shift_more_than_a_different_shape():
    x = torch.zeros(2, 1, 28, 28, dtype=torch.float64)
    x[:, 0, 6:22, 13] = 1.0                               # a vertical stroke
    shifted = x.roll(1, dims=-1)                          # the same stroke one pixel to the side
    other = torch.zeros_like(x)
    other[:, 0, 13, 6:22] = 1.0                           # a horizontal stroke
    plain_ratio = anomaly_score(shifted, x)[0] / anomaly_score(other, x)[0]
    blurred_ratio = anomaly_score(shifted, x, 1.0)[0] / anomaly_score(other, x, 1.0)[0]
    assert blurred_ratio < plain_ratio / 2


def test_anomaly_score_has_gradients():
    x_hat = IMAGES.clone().requires_grad_()
    anomaly_score(x_hat, IMAGES.flip(0), 1.0, True).sum().backward()
    assert x_hat.grad is not None and torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0


def test_auroc_known_values_and_agrees_with_pairs():
    labels = torch.tensor([0, 0, 1, 2, 3])
    assert auroc(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]), labels, 0) == 100.0     # anomalies all above
    assert auroc(torch.tensor([0.5, 0.4, 0.3, 0.2, 0.1]), labels, 0) == 0.0
    assert auroc(torch.ones(5), labels, 0) == 50.0                                   # all ties
    scores = torch.rand(200, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(2))
    normal, anomalous = scores[labels == 1], scores[labels != 1]
    pairs = (anomalous[:, None] > normal[None, :]).double().mean().item()
    assert auroc(scores, labels, 1) == pytest.approx(100 * pairs)
