"""Each exercise check passes a right answer, reports a stub, and explains a wrong answer precisely."""
import numpy as np
import pytest
import torch
from torch import nn

from aecourse import check
from aecourse.check import CheckFailed


def stub(*args):
    raise NotImplementedError


def test_squared_error_per_image():
    assert check.squared_error_per_image(lambda x_hat, x: (x_hat - x).square().sum(dim=(1, 2, 3))) is True
    assert check.squared_error_per_image(stub) is False
    with pytest.raises(CheckFailed, match=r"shape \(5,\), got \(\)"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat - x).square().sum())
    with pytest.raises(CheckFailed, match="averaged over the pixels"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat - x).square().mean(dim=(1, 2, 3)))
    with pytest.raises(CheckFailed, match="expected"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat - x).abs().sum(dim=(1, 2, 3)))
    with pytest.raises(CheckFailed, match="no gradient"):
        check.squared_error_per_image(lambda x_hat, x: (x_hat.detach() - x).square().sum(dim=(1, 2, 3)))
    with pytest.raises(CheckFailed, match="torch.Tensor"):
        check.squared_error_per_image(lambda x_hat, x: [0.0] * 5)


def polynomial_r2_reference(z, target, degree):
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures
    z, target = np.asarray(z), np.asarray(target)
    half = len(z) // 2
    model = make_pipeline(PolynomialFeatures(degree), LinearRegression()).fit(z[:half], target[:half])
    return float(r2_score(target[half:], model.predict(z[half:])))


def test_polynomial_r2():
    assert check.polynomial_r2(polynomial_r2_reference) is True
    assert check.polynomial_r2(stub) is False
    with pytest.raises(CheckFailed, match="degree 3"):   # ignores the degree: always linear
        check.polynomial_r2(lambda z, t, degree: polynomial_r2_reference(z, t, 1))
    with pytest.raises(CheckFailed, match="one number"):
        check.polynomial_r2(lambda z, t, degree: [1.0])


def dead_reference(model, images):
    fractions, a = [], images
    with torch.no_grad():
        for layer in [*model.encoder, *model.decoder]:
            a = layer(a)
            if isinstance(layer, nn.ReLU):
                fractions.append((a.amax(dim=0) == 0).float().mean().item())
    return fractions


def test_dead_fractions():
    assert check.dead_fractions(dead_reference) is True
    assert check.dead_fractions(stub) is False
    with pytest.raises(CheckFailed, match="expected"):   # counts units that are zero for *some* image
        check.dead_fractions(lambda m, x: [f * 0 + 0.5 for f in dead_reference(m, x)])
    with pytest.raises(CheckFailed, match="one fraction per ReLU layer"):
        check.dead_fractions(lambda m, x: dead_reference(m, x)[:1])


def stamps_reference(kernel, stride, size):
    side = (size - 1) * stride + kernel
    counts = torch.zeros(side, side)
    for i in range(size):
        for j in range(size):
            counts[i * stride:i * stride + kernel, j * stride:j * stride + kernel] += 1
    return counts


def test_stamp_counts():
    assert check.stamp_counts(stamps_reference) is True
    assert check.stamp_counts(stub) is False
    with pytest.raises(CheckFailed, match="shape"):
        check.stamp_counts(lambda k, s, n: torch.ones(n * s, n * s))
    with pytest.raises(CheckFailed, match="kernel=3, stride=2"):
        check.stamp_counts(lambda k, s, n: torch.ones((n - 1) * s + k, (n - 1) * s + k))


def test_transposed_output_size():
    assert check.transposed_output_size(lambda i, k, s, p, op: (i - 1) * s - 2 * p + k + op) is True
    assert check.transposed_output_size(stub) is False
    with pytest.raises(CheckFailed, match="PyTorch gives 14, your function 13"):
        check.transposed_output_size(lambda i, k, s, p, op: (i - 1) * s - 2 * p + k)
