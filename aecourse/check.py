"""Checks for the coding exercises: each calls your function on known inputs and says exactly what is wrong.

    from aecourse import check
    check.squared_error_per_image(squared_error_per_image)

A check prints one line when everything passes and returns ``True``. When something is wrong it raises
:class:`CheckFailed` naming the input, what was expected (shape, value, gradient) and what your function returned.
A function that still raises ``NotImplementedError`` (the stub you start from) is reported, not treated as an error,
so a notebook with unsolved exercises still runs top to bottom.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .losses import reconstruction_error


class CheckFailed(AssertionError):
    """Your function returned something other than what the exercise asks for; the message says what."""


def _started(name: str, call: Callable[[], object]) -> tuple[bool, object]:
    """Run ``call``; (False, None) if the learner's function is still the NotImplementedError stub."""
    try:
        return True, call()
    except NotImplementedError:
        print(f"{name}: not implemented yet (the stub raises NotImplementedError); write it and run this check again")
        return False, None


def _expect_tensor(name: str, case: str, result: object, shape: tuple[int, ...]) -> Tensor:
    if not isinstance(result, Tensor):
        raise CheckFailed(f"{name}({case}) should return a torch.Tensor of shape {shape}, "
                          f"got {type(result).__name__}")
    if tuple(result.shape) != shape:
        raise CheckFailed(f"{name}({case}) should return shape {shape}, got {tuple(result.shape)}")
    return result


def _expect_close(name: str, case: str, result: Tensor | float, expected: Tensor | float, *,
                  rtol: float = 1e-4, atol: float = 1e-5) -> None:
    result_t, expected_t = torch.as_tensor(result, dtype=torch.float64), torch.as_tensor(expected, dtype=torch.float64)
    if not torch.allclose(result_t, expected_t, rtol=rtol, atol=atol):
        diff = (result_t - expected_t).abs()
        where = (f" (largest difference {diff.max().item():.3g}, at flat index {int(diff.argmax())})"
                 if diff.numel() > 1 else "")
        raise CheckFailed(f"{name}({case}): expected {_short(expected_t)}, got {_short(result_t)}{where}")


def _short(values: Tensor) -> str:
    flat = values.flatten()
    shown = ", ".join(f"{v:.4g}" for v in flat[:6].tolist())
    return f"[{shown}{', ...' if flat.numel() > 6 else ''}]" if values.ndim else f"{values.item():.4g}"


def _passed(name: str, what: str) -> bool:
    print(f"{name}: all checks pass ({what})")
    return True


def squared_error_per_image(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(x_hat, x)``: the squared error of each image, summed over its pixels, shape ``(N,)``."""
    name = "squared_error_per_image"
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 28, 28, generator=generator)
    x_hat = torch.rand(5, 1, 28, 28, generator=generator, requires_grad=True)
    started, result = _started(name, lambda: fn(x_hat, x))
    if not started:
        return False
    case = "x_hat, x of shape (5, 1, 28, 28)"
    result = _expect_tensor(name, case, result, (5,))
    expected = reconstruction_error(x_hat.detach(), x, "mse")
    if torch.allclose(result.detach(), expected / 784):
        raise CheckFailed(f"{name}: you averaged over the pixels; the course sums over them (and averages over "
                          "images only later, in the loss)")
    _expect_close(name, case, result.detach(), expected)
    _expect_close(name, "x, x", fn(x, x), torch.zeros(5))
    if not result.requires_grad:
        raise CheckFailed(f"{name}: the result carries no gradient to x_hat; use torch operations only "
                          "(no .detach(), .item() or NumPy) so the loss can be trained")
    result.sum().backward()
    _expect_close(f"{name} gradient", case, x_hat.grad, 2 * (x_hat.detach() - x))
    return _passed(name, "shape, values, zero for a perfect copy, gradient")


def polynomial_r2(fn: Callable[[Tensor, Tensor, int], float]) -> bool:
    """Check ``fn(z, target, degree)``: fit a polynomial of ``degree`` in the code ``z`` ``(N, 2)`` to ``target``
    ``(N,)`` on the first half of the rows and return the R² on the second half (a float)."""
    name = "polynomial_r2"
    generator = torch.Generator().manual_seed(0)
    z = torch.rand(400, 2, generator=generator) * 2 - 1
    noise = 0.01 * torch.randn(400, generator=generator)
    cases = [("target = 3 z1 - z2 + 1, degree 1", 3 * z[:, 0] - z[:, 1] + 1 + noise, 1, 0.99, 1.0),
             ("target = z1 * z2, degree 1", z[:, 0] * z[:, 1], 1, -0.2, 0.2),
             ("target = z1 * z2, degree 3", z[:, 0] * z[:, 1] + noise, 3, 0.99, 1.0)]
    for case, target, degree, low, high in cases:
        started, result = _started(name, lambda: fn(z, target, degree))
        if not started:
            return False
        if isinstance(result, Tensor) and result.numel() == 1:
            result = result.item()
        if not isinstance(result, (float, int)):
            raise CheckFailed(f"{name}({case}) should return one number (the R² on the held-out half), "
                              f"got {type(result).__name__}")
        if not low <= result <= high:
            raise CheckFailed(f"{name}({case}): expected an R² between {low} and {high}, got {result:.3f}")
    return _passed(name, "linear target, product with degree 1 and with degree 3")


def dead_fractions(fn: Callable[[nn.Module, Tensor], list[float]]) -> bool:
    """Check ``fn(model, images)``: per ReLU layer of an MLPAutoencoder, the fraction of units that output zero
    for every image."""
    from .models import MLPAutoencoder

    name = "dead_fractions"
    torch.manual_seed(0)
    model = MLPAutoencoder(latent_dim=4, hidden_dims=(8,)).eval()
    with torch.no_grad():   # 3 of the 8 encoder units and 2 of the 8 decoder units dead, the rest always alive
        for layer, n_dead in ((model.encoder[1], 3), (model.decoder[0], 2)):
            layer.weight.mul_(1e-3)
            layer.bias.fill_(1.0)
            layer.bias[:n_dead] = -1.0
    images = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    started, result = _started(name, lambda: fn(model, images))
    if not started:
        return False
    case = "a 784-8-4-8-784 autoencoder with 3 and 2 dead units"
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise CheckFailed(f"{name}({case}) should return a list with one fraction per ReLU layer (2 here), "
                          f"got {result!r}")
    _expect_close(name, case, [float(r) for r in result], [3 / 8, 2 / 8])
    return _passed(name, "a model with known dead units")


def stamp_counts(fn: Callable[[int, int, int], Tensor]) -> bool:
    """Check ``fn(kernel, stride, size)``: for a transposed convolution (no padding) of a ``size x size`` input,
    how many kernel stamps cover each output pixel; a tensor of the output's shape."""
    name = "stamp_counts"
    for kernel, stride, size in ((3, 2, 4), (4, 2, 4), (3, 1, 3), (5, 3, 2)):
        started, result = _started(name, lambda: fn(kernel, stride, size))
        if not started:
            return False
        side = (size - 1) * stride + kernel
        case = f"kernel={kernel}, stride={stride}, size={size}"
        result = _expect_tensor(name, case, result, (side, side))
        ones = torch.ones(1, 1, kernel, kernel)
        expected = nn.functional.conv_transpose2d(torch.ones(1, 1, size, size), ones, stride=stride)[0, 0]
        _expect_close(name, case, result.float(), expected)
    return _passed(name, "four kernel/stride/size settings")


def transposed_output_size(fn: Callable[[int, int, int, int, int], int]) -> bool:
    """Check ``fn(i, kernel, stride, padding, output_padding)``: the side of a ``ConvTranspose2d`` output."""
    name = "transposed_output_size"
    for i, k, s, p, op in ((7, 3, 2, 1, 1), (7, 4, 2, 1, 0), (5, 5, 3, 2, 2), (1, 2, 2, 0, 0), (10, 3, 1, 0, 0)):
        started, result = _started(name, lambda: fn(i, k, s, p, op))
        if not started:
            return False
        layer = nn.ConvTranspose2d(1, 1, kernel_size=k, stride=s, padding=p, output_padding=op)
        expected = layer(torch.zeros(1, 1, i, i)).shape[-1]
        if result != expected:
            raise CheckFailed(f"{name}(i={i}, kernel={k}, stride={s}, padding={p}, output_padding={op}): "
                              f"PyTorch gives {expected}, your function {result!r}")
    return _passed(name, "five settings against nn.ConvTranspose2d")
