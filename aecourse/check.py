"""Checks for the coding exercises: each calls your function on known inputs and says exactly what is wrong.

    from aecourse import check
    check.squared_error_per_image(squared_error_per_image)

A check prints one line when everything passes and returns ``True``. When something is wrong it raises
:class:`CheckFailed` naming the input, what was expected (shape, value, gradient) and what your function returned.
A function that still raises ``NotImplementedError`` (the stub you start from) is reported, not treated as an error,
so a notebook with unsolved exercises still runs top to bottom.
"""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable

import torch
from torch import Tensor, nn

from . import losses
from .losses import kl_divergence, reconstruction_error


class CheckFailed(AssertionError):
    """Your function returned something other than what the exercise asks for; the message says what."""


def _keeps_random_state(check_fn: Callable) -> Callable:
    """Run a check inside ``torch.random.fork_rng``: building test models and inputs draws random numbers, and a
    check must not change what the learner's next ``torch.rand`` returns. Also require the learner's function (or
    class) itself as the argument, not the result of calling it."""
    @functools.wraps(check_fn)
    def wrapper(*args, **kwargs):
        fn = args[0] if args else next(iter(kwargs.values()), None)
        if not callable(fn):
            raise TypeError(f"check.{check_fn.__name__} needs your function (or class) itself, e.g. "
                            f"check.{check_fn.__name__}(my_function) without parentheses after it; "
                            f"got {type(fn).__name__}")
        with torch.random.fork_rng():
            return check_fn(*args, **kwargs)
    return wrapper


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


def _expect_number(name: str, case: str, result: object, hint: str = "") -> float:
    """A Python number, a NumPy scalar or a one-element tensor, as a float; anything else fails with ``hint``."""
    if isinstance(result, Tensor):
        if result.numel() != 1:
            raise CheckFailed(f"{name}({case}) should return one number, got a tensor of shape "
                              f"{tuple(result.shape)}{hint}")
        result = result.item()
    if not isinstance(result, numbers.Real) or isinstance(result, bool):   # NumPy scalars are numbers too
        raise CheckFailed(f"{name}({case}) should return a number, got {type(result).__name__}")
    return float(result)


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


def _name_known_mistake(name: str, result: Tensor, mistakes: list[tuple[Tensor, str]]) -> None:
    """Raise with the message of the first (wrong answer, message) pair that ``result`` matches."""
    for wrong, message in mistakes:
        if torch.allclose(result.to(wrong.dtype), wrong, rtol=1e-4, atol=1e-5):
            raise CheckFailed(f"{name}: {message}")


def _passed(name: str, what: str) -> bool:
    print(f"{name}: all checks pass ({what})")
    return True


@_keeps_random_state
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


@_keeps_random_state
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


@_keeps_random_state
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


@_keeps_random_state
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


@_keeps_random_state
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


@_keeps_random_state
def bce_per_image(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(x_hat, x)``: binary cross-entropy of each image, ``-sum(x log x_hat + (1 - x) log(1 - x_hat))``
    over its pixels, shape ``(N,)``, finite even where ``x_hat`` is exactly 0 or 1."""
    name = "bce_per_image"
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=generator)
    x_hat = (0.05 + 0.9 * torch.rand(4, 1, 28, 28, generator=generator)).requires_grad_()
    started, result = _started(name, lambda: fn(x_hat, x))
    if not started:
        return False
    case = "x_hat in (0.05, 0.95), x in [0, 1], shape (4, 1, 28, 28)"
    result = _expect_tensor(name, case, result, (4,))
    expected = reconstruction_error(x_hat.detach(), x, "bce")
    if torch.allclose(result.detach(), expected / 784, rtol=1e-4):
        raise CheckFailed(f"{name}: you averaged over the pixels; sum over them (one number per image)")
    if torch.allclose(result.detach(), -expected, rtol=1e-4):
        raise CheckFailed(f"{name}: the sign is flipped; cross-entropy is minus the log-likelihood, a positive number")
    _expect_close(name, case, result.detach(), expected, rtol=1e-4, atol=1e-3)
    if not result.requires_grad:
        raise CheckFailed(f"{name}: the result carries no gradient to x_hat; use torch operations only")
    result.sum().backward()
    expected_grad = (x_hat.detach() - x) / (x_hat.detach() * (1 - x_hat.detach()))
    _expect_close(f"{name} gradient", case, x_hat.grad, expected_grad, rtol=1e-3, atol=1e-3)
    # a saturated sigmoid outputs exactly 0 or 1: 0 * log(0) must not turn the loss into NaN
    black = torch.zeros(2, 1, 28, 28)
    saturated = torch.zeros(2, 1, 28, 28, requires_grad=True)
    edge = fn(saturated, black)
    if isinstance(edge, Tensor) and edge.requires_grad:
        edge.sum().backward()
        if saturated.grad is not None and not torch.isfinite(saturated.grad).all():
            raise CheckFailed(f"{name}(x_hat = x = all zeros): the loss is finite but its gradient is NaN or inf, "
                              "which would break training. Clamp x_hat itself, e.g. x_hat.clamp(1e-7, 1 - 1e-7), "
                              "before taking the logs")
        edge = edge.detach()
    if not isinstance(edge, Tensor) or not torch.isfinite(edge).all():
        raise CheckFailed(f"{name}(x_hat = x = all zeros) returned {edge!r}: log(0) gave -inf or NaN. Clamp the "
                          "arguments of the logs (e.g. x_hat.clamp(1e-7, 1 - 1e-7), or torch.log(...).clamp(min=-100) "
                          "as PyTorch's binary_cross_entropy does)")
    _expect_close(name, "x_hat = x = all zeros", edge, torch.zeros(2), atol=1e-3)
    return _passed(name, "shape, values, sum over pixels, gradient, finite at 0 and 1")


@_keeps_random_state
def decoder(make_decoder: Callable[[int], nn.Module]) -> bool:
    """Check ``make_decoder(latent_dim)``: a module mapping codes ``(N, latent_dim)`` to images ``(N, 1, 28, 28)``
    with every pixel in ``[0, 1]``, differentiable with respect to the code."""
    name = "decoder"
    started, module = _started(name, lambda: make_decoder(2))
    if not started:
        return False
    if not isinstance(module, nn.Module):
        raise CheckFailed(f"{name}: make_decoder(2) should return an nn.Module, got {type(module).__name__}")
    z = (20 * torch.randn(5, 2, generator=torch.Generator().manual_seed(0))).requires_grad_()
    out = module(z)
    case = "codes of shape (5, 2)"
    if isinstance(out, Tensor) and tuple(out.shape) == (5, 784):
        raise CheckFailed(f"{name}({case}) returned (5, 784): reshape to images, e.g. end with "
                          "nn.Unflatten(1, (1, 28, 28))")
    out = _expect_tensor(name, case, out, (5, 1, 28, 28))
    if out.min() < 0 or out.max() > 1:
        raise CheckFailed(f"{name}({case}): pixels range from {out.min().item():.3g} to {out.max().item():.3g}; "
                          "images live in [0, 1], so end with a sigmoid")
    out.square().sum().backward()
    if z.grad is None or not torch.isfinite(z.grad).all() or z.grad.abs().sum() == 0:
        raise CheckFailed(f"{name}: no gradient reaches the code; the decoder must be built from torch layers")
    linear_layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if len(linear_layers) < 2:
        raise CheckFailed(f"{name}: only {len(linear_layers)} linear layer(s); the exercise asks for a hidden layer "
                          "with a nonlinearity between the code and the pixels")
    _expect_tensor(name, "make_decoder(5) on codes of shape (3, 5)", make_decoder(5)(torch.zeros(3, 5)), (3, 1, 28, 28))
    return _passed(name, "shape, pixel range, gradient to the code, a hidden layer, another latent size")


@_keeps_random_state
def tied_autoencoder(model_class: Callable[[int], nn.Module]) -> bool:
    """Check ``model_class(latent_dim)``: a linear autoencoder with tied weights, ``x_hat = W^T (W x + b_e) + b_d``,
    holding exactly the parameters ``weight`` ``(latent_dim, 784)``, ``encoder_bias`` ``(latent_dim,)`` and
    ``decoder_bias`` ``(784,)``; ``forward`` maps ``(N, 1, 28, 28)`` to ``(N, 1, 28, 28)``."""
    name = "tied_autoencoder"
    started, model = _started(name, lambda: model_class(3))
    if not started:
        return False
    params = dict(model.named_parameters())
    wanted = {"weight": (3, 784), "encoder_bias": (3,), "decoder_bias": (784,)}
    if set(params) != set(wanted):
        raise CheckFailed(f"{name}: expected exactly the parameters {sorted(wanted)}, found {sorted(params)}; "
                          "tied weights mean the decoder has no weight matrix of its own")
    for key, shape in wanted.items():
        if tuple(params[key].shape) != shape:
            raise CheckFailed(f"{name}: {key} should have shape {shape}, got {tuple(params[key].shape)}")
    generator = torch.Generator().manual_seed(0)
    values = {key: torch.randn(shape, generator=generator) for key, shape in wanted.items()}
    x = torch.rand(4, 1, 28, 28, generator=generator)
    with torch.no_grad():
        for key, value in values.items():
            params[key].copy_(value)
    case = "latent_dim=3 on (4, 1, 28, 28) images"
    out = _expect_tensor(name, case, model(x), (4, 1, 28, 28))
    flat = x.flatten(1)
    code = flat @ values["weight"].T + values["encoder_bias"]
    expected = (code @ values["weight"] + values["decoder_bias"]).view_as(x)
    without_decoder_bias = (code @ values["weight"]).view_as(x)
    if torch.allclose(out, without_decoder_bias, atol=1e-4):
        raise CheckFailed(f"{name}({case}): the decoder bias is missing (x_hat = W^T z + b_d)")
    if torch.allclose(out, (flat @ values["weight"].T @ values["weight"] + values["decoder_bias"]).view_as(x),
                      atol=1e-4):
        raise CheckFailed(f"{name}({case}): the encoder bias is missing (z = W x + b_e)")
    _expect_close(name, case, out.detach(), expected, rtol=1e-4, atol=1e-4)
    out.sum().backward()
    if params["weight"].grad is None:
        raise CheckFailed(f"{name}: no gradient reaches weight")
    return _passed(name, "parameters, shapes, x_hat = W^T (W x + b_e) + b_d, gradient")


@_keeps_random_state
def pixel_shuffle(fn: Callable[[Tensor, int], Tensor]) -> bool:
    """Check ``fn(x, r)``: rearrange ``(N, C * r * r, H, W)`` into ``(N, C, H * r, W * r)`` exactly as
    ``nn.PixelShuffle(r)`` does (channel ``c * r * r + i * r + j`` becomes sub-pixel ``(i, j)`` of channel ``c``)."""
    name = "pixel_shuffle"
    for n, c, r, h, w in ((2, 1, 2, 3, 3), (1, 3, 2, 2, 4), (2, 2, 3, 2, 2)):
        x = torch.arange(n * c * r * r * h * w, dtype=torch.float32).view(n, c * r * r, h, w).requires_grad_()
        case = f"x of shape {tuple(x.shape)}, r={r}"
        started, result = _started(name, lambda: fn(x, r))
        if not started:
            return False
        result = _expect_tensor(name, case, result, (n, c, h * r, w * r))
        expected = nn.functional.pixel_shuffle(x.detach(), r)
        if not torch.equal(result.detach(), expected):
            swapped = expected.view(n, c, h, r, w, r).permute(0, 1, 2, 5, 4, 3).reshape(n, c, h * r, w * r)
            hint = (" (the two sub-pixel axes i and j are swapped)" if torch.equal(result.detach(), swapped) else
                    " (split the channels as (C, r, r), then permute to (N, C, H, r, W, r) before the final reshape)")
            raise CheckFailed(f"{name}({case}): the values are in the wrong places{hint}")
        result.sum().backward()
        if x.grad is None or not torch.equal(x.grad, torch.ones_like(x)):
            raise CheckFailed(f"{name}: every input value should reach the output exactly once (gradient of ones)")
    return _passed(name, "three shapes against nn.PixelShuffle, values and gradient")


@_keeps_random_state
def reparameterize(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(mu, logvar)``: one sample ``z = mu + exp(logvar / 2) * eps`` per row, ``eps ~ N(0, I)`` drawn inside,
    shape ``(N, latent_dim)``, with gradients reaching ``mu`` and ``logvar``."""
    name = "reparameterize"
    n, latent_dim = 20_000, 3
    mu = torch.tensor([1.0, -2.0, 0.0]).repeat(n, 1).requires_grad_()
    logvar = torch.log(torch.tensor([4.0, 0.25, 1.0])).repeat(n, 1).requires_grad_()
    torch.manual_seed(0)
    started, z = _started(name, lambda: fn(mu, logvar))
    if not started:
        return False
    case = "mu = [1, -2, 0], sigma = [2, 0.5, 1], 20,000 rows"
    z = _expect_tensor(name, case, z, (n, latent_dim))
    if not z.requires_grad:
        raise CheckFailed(f"{name}: z carries no gradient to mu and logvar. A distribution's .sample() or a "
                          ".detach() cuts the graph; draw eps = torch.randn_like(mu) and return mu + sigma * eps")
    mean, std = z.detach().mean(0), z.detach().std(0)
    if torch.allclose(std, torch.tensor([4.0, 0.25, 1.0]), rtol=0.05):
        raise CheckFailed(f"{name}: the spread of z is the variance exp(logvar), not the standard deviation; "
                          "sigma = exp(logvar / 2) = exp(0.5 * logvar)")
    if torch.allclose(std, torch.log(torch.tensor([4.0, 0.25, 1.0])).abs(), rtol=0.05, atol=0.05):
        raise CheckFailed(f"{name}: you used logvar itself as the standard deviation; sigma = exp(0.5 * logvar)")
    if float(std.max()) < 1e-6:
        if torch.allclose(z.detach()[0], mu.detach()[0]):
            raise CheckFailed(f"{name}: z has no randomness (every row equals mu); add sigma * eps with "
                              "eps = torch.randn_like(mu)")
        raise CheckFailed(f"{name}: every row got the same noise; draw eps with the shape of mu "
                          "(torch.randn_like(mu)), one independent draw per image and dimension")
    _expect_close(f"{name} mean over rows", case, mean, torch.tensor([1.0, -2.0, 0.0]), rtol=0, atol=0.06)
    _expect_close(f"{name} standard deviation over rows", case, std, torch.tensor([2.0, 0.5, 1.0]), rtol=0.05)
    eps = (z.detach() - mu.detach()) / torch.exp(0.5 * logvar.detach())
    z.sum().backward()
    if mu.grad is None or logvar.grad is None or not (mu.grad.any() and logvar.grad.any()):
        raise CheckFailed(f"{name}: no gradient reaches mu or logvar through z (torch.normal and .sample() draw "
                          "without one); write the sample as mu + sigma * eps with eps = torch.randn_like(mu)")
    _expect_close(f"{name} gradient dz/dmu", case, mu.grad[:5], torch.ones(5, latent_dim))
    _expect_close(f"{name} gradient dz/dlogvar", case, logvar.grad[:5],
                  0.5 * torch.exp(0.5 * logvar.detach()[:5]) * eps[:5], rtol=1e-3, atol=1e-4)
    return _passed(name, "shape, mean and spread of z, fresh noise per row, gradients to mu and logvar")


@_keeps_random_state
def gaussian_kl(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(mu, logvar)``: ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` of each row, summed over latent
    dimensions, shape ``(N,)``."""
    name = "gaussian_kl"
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 4, generator=generator)
    logvar = torch.randn(6, 4, generator=generator).requires_grad_()
    started, result = _started(name, lambda: fn(mu, logvar))
    if not started:
        return False
    case = "mu, logvar of shape (6, 4)"
    if isinstance(result, Tensor) and result.ndim == 0:
        raise CheckFailed(f"{name}({case}) returned one number: keep one KL per image (sum over dim=1 only); "
                          "the loss averages over images later")
    result = _expect_tensor(name, case, result, (6,))
    expected = kl_divergence(mu, logvar.detach())
    got = result.detach()
    hints = [(expected / 4, "you averaged over the latent dimensions; the KL of a diagonal Gaussian is a sum over "
                            "them (sum over dim=1)"),
             (-expected, "the sign is flipped: a KL divergence is never negative"),
             (2 * expected, "you forgot the factor 1/2"),
             (0.5 * (mu.square() + logvar.detach().exp().square() - 1 - 2 * logvar.detach()).sum(1),
              "you treated logvar as log sigma; it is log sigma^2, so sigma^2 = exp(logvar)")]
    _name_known_mistake(name, got, hints)
    _expect_close(name, case, got, expected)
    _expect_close(name, "mu = 0, logvar = 0", fn(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))
    if not result.requires_grad:
        raise CheckFailed(f"{name}: the result carries no gradient to logvar; use torch operations only")
    result.sum().backward()
    _expect_close(f"{name} gradient d/dlogvar", case, logvar.grad, 0.5 * (logvar.detach().exp() - 1))
    return _passed(name, "shape, values, zero at the prior, sum over latent dimensions, gradient")


@_keeps_random_state
def free_bits_kl(fn: Callable[[Tensor, Tensor, float], Tensor]) -> bool:
    """Check ``fn(mu, logvar, free_nats)``: the free-bits KL term of a batch, one number,
    ``sum_j max(free_nats, mean_n KL_nj)``, where ``KL_nj`` is image ``n``'s KL in latent dimension ``j``."""
    name = "free_bits_kl"
    generator = torch.Generator().manual_seed(0)
    # dimension 0 carries much information, dimension 1 some, dimensions 2 and 3 almost none
    scale = torch.tensor([2.0, 0.6, 0.05, 0.02])
    mu = (torch.randn(8, 4, generator=generator) * scale).requires_grad_()
    logvar = (torch.randn(8, 4, generator=generator) * scale * 0.3).requires_grad_()
    free_nats = 0.25
    started, result = _started(name, lambda: fn(mu, logvar, free_nats))
    if not started:
        return False
    case = "mu, logvar of shape (8, 4), free_nats = 0.25"
    kl_nj = 0.5 * (mu.detach().square() + logvar.detach().exp() - 1 - logvar.detach())   # (8, 4)
    expected = losses.free_bits_kl(mu.detach(), logvar.detach(), free_nats)
    if isinstance(result, Tensor) and result.ndim == 1:
        hint = (" (one per latent dimension: sum them)" if result.numel() == 4 else
                " (one per image: free bits average each dimension's KL over the batch before the floor)")
        raise CheckFailed(f"{name}({case}) should return one number, got shape {tuple(result.shape)}{hint}")
    result = _expect_tensor(name, case, result, ())
    got = result.detach()
    hints = [(kl_nj.clamp(min=free_nats).sum(1).mean(),
              "you applied the floor to each image's KL; free bits floor each dimension's KL averaged over the batch "
              "(mean over dim=0 first, then clamp(min=free_nats), then sum)"),
             (kl_nj.mean(0).clamp(max=free_nats).sum(), "max and min are swapped: the floor is max(free_nats, KL_j)"),
             ((kl_nj.mean(0) - free_nats).clamp(min=0).sum(),
              "that is the hinge max(0, KL_j - free_nats): the same gradient, but free bits charge "
              "max(free_nats, KL_j), free_nats more per dimension, so the loss still counts the floor"),
             (kl_nj.sum(1).mean(), "the floor per latent dimension is missing (a floor on the total KL does nothing "
                                   "here): clamp each dimension's batch-mean KL at free_nats, then sum")]
    for wrong, message in hints:
        if torch.allclose(got, wrong, rtol=1e-4, atol=1e-5) and not torch.allclose(expected, wrong):
            raise CheckFailed(f"{name}: {message}")
    _expect_close(name, case, got, expected)
    if not result.requires_grad:
        raise CheckFailed(f"{name}: the result carries no gradient to mu; use torch operations only")
    result.backward()
    below = kl_nj.mean(0) < free_nats
    if mu.grad is None or bool(mu.grad[:, below].abs().max() > 0):
        raise CheckFailed(f"{name}: dimensions whose batch-mean KL is below free_nats must get no gradient "
                          "(that is what makes their first free_nats free)")
    if not bool(mu.grad[:, ~below].abs().max() > 0):
        raise CheckFailed(f"{name}: dimensions above free_nats must get the KL's gradient")
    return _passed(name, "value, the floor per dimension on the batch mean, no gradient below the floor")


@_keeps_random_state
def slerp(fn: Callable[[Tensor, Tensor, float], Tensor]) -> bool:
    """Check ``fn(z_a, z_b, t)``: spherical interpolation between the rows of ``z_a`` and ``z_b`` ``(N, latent_dim)``,
    ``sin((1-t) W) / sin W * z_a + sin(t W) / sin W * z_b`` with ``cos W`` the cosine between the two rows."""
    name = "slerp"
    generator = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(2, 5, 16, generator=generator)
    started, result = _started(name, lambda: fn(z_a, z_b, 0.5))
    if not started:
        return False
    case = "z_a, z_b of shape (5, 16), t = 0.5"
    result = _expect_tensor(name, case, result, (5, 16))
    cos_w = torch.nn.functional.cosine_similarity(z_a, z_b, dim=1).unsqueeze(1)
    w = torch.acos(cos_w)
    expected = (torch.sin(0.5 * w) * z_a + torch.sin(0.5 * w) * z_b) / torch.sin(w)
    if torch.allclose(result, (z_a + z_b) / 2, atol=1e-5):
        raise CheckFailed(f"{name}({case}) returned the straight line's midpoint; slerp weights the two codes by "
                          "sin((1 - t) W) / sin W and sin(t W) / sin W")
    if torch.allclose(result, (0.5 * z_a + 0.5 * z_b) / torch.sin(w), atol=1e-5):
        raise CheckFailed(f"{name}: the weights need sin() of the angle: sin((1 - t) W) and sin(t W), not (1 - t) "
                          "and t")
    one_angle = torch.acos(torch.nn.functional.cosine_similarity(z_a.flatten(), z_b.flatten(), dim=0))
    if torch.allclose(result, (torch.sin(0.5 * one_angle) * (z_a + z_b)) / torch.sin(one_angle), atol=1e-5):
        raise CheckFailed(f"{name}: you used one angle for the whole batch; compute the angle W between each pair of "
                          "rows (cosine_similarity along dim=1)")
    _expect_close(name, case, result, expected)
    for t, end, which in ((0.0, z_a, "z_a"), (1.0, z_b, "z_b")):
        _expect_close(name, f"t = {t:g} (should return {which})", fn(z_a, z_b, t), end, atol=1e-4)
    # equal norms stay equal along the path
    unit_a, unit_b = z_a / z_a.norm(dim=1, keepdim=True), z_b / z_b.norm(dim=1, keepdim=True)
    _expect_close(f"{name} norm", "two unit vectors, t = 0.3", fn(unit_a, unit_b, 0.3).norm(dim=1), torch.ones(5),
                  atol=1e-4)
    return _passed(name, "values, both ends, one angle per row, norm kept between codes of equal norm")


@_keeps_random_state
def psnr(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(x_hat, x)``: the peak signal-to-noise ratio of each image in dB, ``10 log10(1 / MSE)`` with the MSE
    averaged over that image's pixels (values in ``[0, 1]``, so the peak is 1), shape ``(N,)``."""
    name = "psnr"
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=generator)
    # four noise levels, so that averaging over the batch too early shows up
    x_hat = x + torch.tensor([0.01, 0.05, 0.1, 0.3]).view(4, 1, 1, 1) * torch.randn(4, 1, 28, 28, generator=generator)
    started, result = _started(name, lambda: fn(x_hat, x))
    if not started:
        return False
    case = "x_hat, x of shape (4, 1, 28, 28)"
    if isinstance(result, Tensor) and result.ndim == 0:
        raise CheckFailed(f"{name}({case}) should return one PSNR per image, shape (4,), got one number: average "
                          "the squared error over each image's pixels only, and over images later if at all")
    result = _expect_tensor(name, case, result, (4,)).detach().double()
    mse = (x_hat - x).double().square().flatten(1).mean(dim=1)
    expected = 10 * torch.log10(1 / mse)
    _name_known_mistake(name, result, [
        (10 * torch.log10(255**2 / mse), "the peak is 255 in your formula; these images are in [0, 1], so the peak is 1"),
        (10 * torch.log10(1 / mse.sqrt()), "PSNR is 10 log10(peak^2 / MSE) = 20 log10(peak / RMSE); you mixed the two"),
        (20 * torch.log10(1 / mse), "PSNR is 10 log10(peak^2 / MSE) = 20 log10(peak / RMSE); you mixed the two"),
        (torch.log(1 / mse), "use log10 (decibels), not the natural log"),
        (10 * torch.log(1 / mse), "use log10 (decibels), not the natural log"),
        (10 * torch.log10(1 / (mse * 784)), "you summed the squared error over the pixels; PSNR uses its mean")])
    _expect_close(name, case, result, expected)
    return _passed(name, "shape, values, one number per image")


@_keeps_random_state
def hole_psnr(fn: Callable[[Tensor, Tensor, Tensor], float]) -> bool:
    """Check ``fn(filled, clean, mask)``: the PSNR in dB over the hole pixels (``mask == 1``) of all images, the squared
    error pooled over every hole pixel of every image before the logarithm. Inputs ``(N, 1, 28, 28)``, values in
    ``[0, 1]``; the result is one number (a float or a 0-d tensor)."""
    name = "hole_psnr"
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(3, 1, 28, 28, generator=generator)
    # holes of different sizes and fills of different quality, and errors outside the holes too, so that every
    # wrong way of averaging gives a different number
    mask = torch.zeros(3, 1, 28, 28)
    mask[0, :, 4:8, 4:8], mask[1, :, 5:17, 6:18], mask[2, :, 10:18, 3:11] = 1, 1, 1
    noise = torch.tensor([0.05, 0.2, 0.1]).view(3, 1, 1, 1) * torch.randn(3, 1, 28, 28, generator=generator)
    filled = clean + noise * mask + 0.3 * noise * (1 - mask)
    started, result = _started(name, lambda: fn(filled, clean, mask))
    if not started:
        return False
    case = "filled, clean, mask of shape (3, 1, 28, 28)"
    result = _expect_number(name, case, result, ": one number for all images; pool the squared error over every "
                                                "hole pixel of every image")
    error = (filled - clean).double().square()
    in_holes = (error * mask).sum()
    db = lambda mse: 10 * torch.log10(1 / mse)
    per_image = db((error * mask).flatten(1).sum(dim=1) / mask.flatten(1).sum(dim=1))
    _name_known_mistake(name, torch.tensor([float(result)], dtype=torch.float64), [
        (db(error.mean()).view(1), "you averaged the squared error over all pixels; only the hole pixels count"),
        (db((error * mask).mean()).view(1), "you divided the hole's squared error by the number of all pixels; "
         "divide by the number of hole pixels (mask.sum())"),
        (db((error * (1 - mask)).sum() / (1 - mask).sum()).view(1), "you scored the known pixels (mask == 0); the "
         "hole is where mask == 1"),
        (per_image.mean().view(1), "you averaged one PSNR per image; pool the squared error over all hole pixels "
         "first, then take the logarithm once (a perfectly filled hole would make a per-image PSNR infinite)"),
        (db(in_holes / len(clean)).view(1), "you divided by the number of images; divide by the number of hole pixels"),
        (db(in_holes).view(1), "you summed the squared error; PSNR uses its mean over the hole pixels"),
        ((10 * torch.log10(255**2 * mask.sum() / in_holes)).view(1),
         "the peak is 255 in your formula; these images are in [0, 1], so the peak is 1")])
    _expect_close(name, case, float(result), db(in_holes / mask.sum()).item())
    return _passed(name, "hole pixels only, pooled over images, one number")


@_keeps_random_state
def auroc(fn: Callable[[Tensor, Tensor], float]) -> bool:
    """Check ``fn(normal_scores, anomaly_scores)``: the area under the ROC curve, i.e. the probability that a random
    anomaly scores higher than a random normal image, a tie counting one half. Inputs are 1-D tensors ``(M,)`` and
    ``(K,)``; the result is one number in ``[0, 1]``."""
    name = "auroc"
    normal = torch.tensor([0.1, 0.4, 0.4, 0.7, 0.2])
    anomalous = torch.tensor([0.4, 0.9, 0.3, 0.8])
    started, result = _started(name, lambda: fn(normal, anomalous))
    if not started:
        return False
    case = "normal = [0.1, 0.4, 0.4, 0.7, 0.2], anomalous = [0.4, 0.9, 0.3, 0.8]"
    result = _expect_number(name, case, result)
    higher = (anomalous[:, None] > normal[None, :]).double().mean().item()
    ties = (anomalous[:, None] == normal[None, :]).double().mean().item()
    expected = higher + ties / 2
    _name_known_mistake(name, torch.tensor([float(result)], dtype=torch.float64), [
        (torch.tensor([1 - expected], dtype=torch.float64),
         "you computed P(normal scores higher); the AUROC of an anomaly score is P(anomaly scores higher)"),
        (torch.tensor([higher], dtype=torch.float64), "a tie between an anomaly and a normal image counts one half; "
         "you counted it as 0"),
        (torch.tensor([higher + ties], dtype=torch.float64), "a tie between an anomaly and a normal image counts one "
         "half; you counted it as 1 (>= instead of >)"),
        (torch.tensor([(anomalous.sum() > normal.sum()).double().item()], dtype=torch.float64),
         "compare every anomaly with every normal image (all M x K pairs), not the totals")])
    _expect_close(name, case, float(result), expected)
    # the same pairs in another order and of other sizes: the function must not depend on either
    normal2, anomalous2 = torch.rand(50), torch.rand(30) + 0.3
    expected2 = ((anomalous2[:, None] > normal2[None, :]).double().mean()).item()
    _expect_close(name, "50 normal, 30 anomalous random scores", float(fn(normal2[torch.randperm(50)], anomalous2)),
                  expected2)
    return _passed(name, "pairs, ties counted one half, direction, sizes")


@_keeps_random_state
def quantize(fn: Callable[[Tensor, Tensor, Tensor, int], tuple[Tensor, Tensor]]) -> bool:
    """Check ``fn(z, low, high, bits)``: a uniform quantizer with ``2**bits`` levels per dimension. ``z`` is ``(N, d)``,
    ``low`` and ``high`` are each dimension's range ``(d,)``; the result is the pair ``(symbols, z_hat)``, both
    ``(N, d)``: integer symbols ``round((clip(z, low, high) - low) / delta)`` in ``{0, ..., 2**bits - 1}`` with
    ``delta = (high - low) / (2**bits - 1)``, and the dequantized codes ``z_hat = low + symbols * delta``."""
    name = "quantize"
    generator = torch.Generator().manual_seed(0)
    low, high = torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([1.0, 4.0, 3.0])
    # values spread past both ends of every range, so that a missing clip shows
    z = (low + high) / 2 + (high - low) * 0.8 * torch.randn(40, 3, generator=generator)
    bits = 3
    started, result = _started(name, lambda: fn(z.clone(), low.clone(), high.clone(), bits))
    if not started:
        return False
    case = "z of shape (40, 3), low = [-1, 0, 2], high = [1, 4, 3], bits = 3"
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise CheckFailed(f"{name}({case}) should return a pair (symbols, z_hat) of tensors, got "
                          f"{type(result).__name__}{length}")
    symbols = _expect_tensor(f"{name} symbols", case, result[0], (40, 3))
    z_hat = _expect_tensor(f"{name} z_hat", case, result[1], (40, 3))
    levels = 2**bits
    if symbols.is_floating_point():
        raise CheckFailed(f"{name}({case}): the symbols are floats ({symbols.dtype}); an entropy coder sends integers, "
                          "so return them as integers, e.g. .long() after rounding")
    symbols_f = symbols.detach().double()

    def symbols_for(gaps: float, clip: bool = True, rounding: Callable[[Tensor], Tensor] = torch.round,
                    lo: Tensor = low, hi: Tensor = high) -> Tensor:
        values = z.clamp(lo, hi) if clip else z
        return rounding((values - lo) / ((hi - lo) / gaps)).double()

    if symbols_f.min() < 0 or symbols_f.max() > levels - 1:
        if torch.equal(symbols_f, symbols_for(levels)):
            raise CheckFailed(f"{name}: symbols up to {int(symbols_f.max())} with bits = {bits}: the {levels} levels "
                              f"have {levels - 1} gaps between them, so delta = (high - low) / (2**bits - 1)")
        raise CheckFailed(f"{name}({case}): symbols range from {int(symbols_f.min())} to {int(symbols_f.max())}, "
                          f"outside {{0, ..., {levels - 1}}}: clip z to [low, high] before quantizing "
                          "(z.clamp(low, high)), so that values beyond the range get the end levels")
    _name_known_mistake(name, symbols_f, [
        (symbols_for(levels - 2), f"your top symbol is {levels - 2}, so one of the {levels} levels is never used: "
         "2**bits levels have 2**bits - 1 gaps, delta = (high - low) / (2**bits - 1)"),
        (symbols_for(levels, rounding=torch.floor).clamp(0, levels - 1), "this is the midrise quantizer (floor "
         "into 2**bits cells of width (high - low) / 2**bits, reconstructed at the cells' centres); this exercise "
         "wants levels that include low and high: delta = (high - low) / (2**bits - 1), symbols = round(...)"),
        (symbols_for(levels, clip=True).clamp(0, levels - 1), "delta = (high - low) / 2**bits makes 2**bits gaps, "
         "one too many: 2**bits levels have 2**bits - 1 gaps between them, delta = (high - low) / (2**bits - 1)"),
        (symbols_for(levels - 1, rounding=torch.floor), "you rounded down (floor, or int()); round to the nearest "
         "level, torch.round"),
        (symbols_for(bits - 1), "bits is a number of bits: there are 2**bits levels, not bits levels"),
        (symbols_for(levels - 1, lo=low.min(), hi=high.max()), "you used one range for all dimensions; each "
         "dimension j has its own, low[j] to high[j] (low and high broadcast over the rows of z)")])
    expected_symbols = symbols_for(levels - 1)
    _expect_close(f"{name} symbols", case, symbols_f, expected_symbols)
    delta = (high - low) / (levels - 1)
    expected_z_hat = low + expected_symbols.float() * delta
    got = z_hat.detach().double()
    _name_known_mistake(name, got, [
        ((expected_symbols * delta).double(), "z_hat is missing the offset: dequantize with low + symbols * delta"),
        (z.clamp(low, high).double(), "z_hat is the clipped z, not its quantized level: the decoder only gets the "
         "symbols, so z_hat = low + symbols * delta"),
        (z.double(), "z_hat is z itself: the decoder only gets the symbols, so z_hat = low + symbols * delta")])
    _expect_close(f"{name} z_hat", case, got, expected_z_hat)
    # one bit: two levels, exactly low and high
    one_bit = fn(z.clone(), low.clone(), high.clone(), 1)
    if not isinstance(one_bit, (tuple, list)) or len(one_bit) != 2:
        raise CheckFailed(f"{name}(the same z, bits = 1) should return a pair (symbols, z_hat) too")
    one_case = "the same z, bits = 1 (two levels: every z_hat is low or high)"
    _expect_close(f"{name} symbols", one_case, _expect_tensor(name, one_case, one_bit[0], (40, 3)).double(),
                  symbols_for(1))
    _expect_close(f"{name} z_hat", one_case, _expect_tensor(name, one_case, one_bit[1], (40, 3)).detach(),
                  torch.where(symbols_for(1).bool(), high, low))
    return _passed(name, "integer symbols in range, clipping, 2**bits levels, rounding, per-dimension ranges, z_hat")


def _logit_loss_value(name: str, case: str, result: object, reduce_hint: str) -> Tensor:
    """The learner's loss as a (1,) float64 value, after checking it is one finite number that keeps its gradient."""
    if not isinstance(result, Tensor):
        raise CheckFailed(f"{name}({case}) should return a scalar torch.Tensor, got {type(result).__name__}: the "
                          "optimizer needs the loss's gradient, which a Python number (.item()) no longer has")
    if result.numel() != 1:
        raise CheckFailed(f"{name}({case}) should return one number, got a tensor of shape {tuple(result.shape)}: "
                          f"{reduce_hint}")
    value = result.detach().double().reshape(1)
    if not bool(torch.isfinite(value).all()):
        raise CheckFailed(f"{name}({case}) returned {value.item()}: compute the loss from the logits "
                          "(F.binary_cross_entropy_with_logits or F.logsigmoid), never log(sigmoid(...))")
    return value


@_keeps_random_state
def discriminator_loss(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(real_logits, fake_logits)``: a discriminator's binary cross-entropy, computed from logits, with the
    real samples labelled 1 and the fake ones 0, each half averaged over its own samples and the two halves added:
    ``mean_i(-log sigmoid(real_i)) + mean_j(-log(1 - sigmoid(fake_j)))`` (``2 ln 2`` when every logit is 0).
    The logits are ``(N, 1)`` and ``(M, 1)``; the result is a scalar tensor that keeps the gradient."""
    name = "discriminator_loss"
    real = torch.tensor([[2.0], [-1.0], [0.5], [3.0], [-0.3], [1.2]])
    fake = torch.tensor([[-2.5], [0.8], [-0.1], [1.5]])   # fewer fakes than reals: halves of different sizes
    real_in, fake_in = real.clone().requires_grad_(), fake.clone().requires_grad_()
    started, result = _started(name, lambda: fn(real_in, fake_in))
    if not started:
        return False
    case = "6 real logits [2, -1, 0.5, 3, -0.3, 1.2] and 4 fake logits [-2.5, 0.8, -0.1, 1.5], each (N, 1)"
    softplus = torch.nn.functional.softplus   # -log sigmoid(x) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x)
    real_terms, fake_terms = softplus(-real.double()), softplus(fake.double())
    expected = real_terms.mean() + fake_terms.mean()
    value = _logit_loss_value(name, case, result, "average each half over its samples and add the two means")
    sigmoid = torch.sigmoid
    _name_known_mistake(name, value, [
        ((softplus(real.double()).mean() + softplus(-fake.double()).mean()).view(1),
         "the labels are swapped: the real samples (drawn from the prior) are labelled 1, the fake ones (the "
         "encoder's codes) 0"),
        ((softplus(-sigmoid(real.double())).mean() + softplus(sigmoid(fake.double())).mean()).view(1),
         "you applied a sigmoid to the logits and then a with-logits loss (probabilities fed in as logits): "
         "binary_cross_entropy_with_logits applies the sigmoid itself, so give it the raw logits"),
        (real_terms.mean().view(1), "only the real term: add the fake samples' term, the mean of "
         "-log(1 - sigmoid(fake_logits)), i.e. the cross-entropy with label 0"),
        (fake_terms.mean().view(1), "only the fake term: add the real samples' term, the mean of "
         "-log sigmoid(real_logits), i.e. the cross-entropy with label 1"),
        ((real_terms.sum() + fake_terms.sum()).view(1), "you summed over the batch; take the mean over each half's "
         "samples, so that the loss does not grow with the batch size"),
        (expected.view(1) / 2, "you averaged the two halves; this exercise adds them: mean over the real samples + "
         "mean over the fake ones (2 ln 2 = 1.386 when the discriminator cannot tell them apart)"),
        (torch.cat([real_terms, fake_terms]).mean().view(1), "one mean over all real and fake logits together "
         "weights each half by its size (6 real, 4 fake here): average each half separately, then add the two"),
        (2 * torch.cat([real_terms, fake_terms]).mean().view(1), "one mean over all real and fake logits together "
         "weights each half by its size (6 real, 4 fake here): average each half separately, then add the two"),
        (-expected.view(1), "the sign is flipped: a cross-entropy is -log of a probability, so it is positive")])
    _expect_close(name, case, value, expected.view(1))
    if not result.requires_grad:
        raise CheckFailed(f"{name}({case}) returned the right value without a gradient: .item(), .detach() or "
                          "torch.tensor(...) cut the loss off from the logits; keep it a tensor computed from them")
    result.sum().backward()
    _expect_close(f"{name} gradient with respect to real_logits", case,
                  real_in.grad if real_in.grad is not None else torch.zeros_like(real),
                  -(1 - sigmoid(real.double())) / len(real))
    _expect_close(f"{name} gradient with respect to fake_logits", case,
                  fake_in.grad if fake_in.grad is not None else torch.zeros_like(fake),
                  sigmoid(fake.double()) / len(fake))
    # confident logits: sigmoid(40) rounds to 1 in float32, so a loss computed from probabilities breaks down
    big_real, big_fake = torch.tensor([[50.0], [-3.0]]), torch.tensor([[40.0], [-60.0]])
    big_case = "real logits [50, -3] and fake logits [40, -60] (a confident discriminator)"
    big = fn(big_real.clone(), big_fake.clone())
    if not isinstance(big, Tensor) or big.numel() != 1:
        raise CheckFailed(f"{name}({big_case}) should return a scalar tensor too")
    big_value = big.detach().double().reshape(1)
    big_expected = (softplus(-big_real.double()).mean() + softplus(big_fake.double()).mean()).view(1)
    from_probabilities = "computed from probabilities: sigmoid(40) rounds to 1 in float32 and log(1 - 1) = -inf"
    if not bool(torch.isfinite(big_value).all()):
        raise CheckFailed(f"{name}({big_case}) returned {big_value.item()}, {from_probabilities}: compute the loss "
                          "from the logits (F.binary_cross_entropy_with_logits or F.logsigmoid)")
    _name_known_mistake(name, big_value, [
        ((softplus(-big_real.double()).mean() + 100 / 2).view(1),
         f"{from_probabilities}, which F.binary_cross_entropy clips at 100: compute the loss from the logits "
         "(F.binary_cross_entropy_with_logits)")])
    _expect_close(name, big_case, big_value, big_expected, rtol=1e-3)
    return _passed(name, "labels, from logits, both halves, each averaged and added, gradient, confident logits")


@_keeps_random_state
def knn_accuracy(fn: Callable[[Tensor, Tensor, Tensor, Tensor, int], float]) -> bool:
    """Check ``fn(reference_codes, reference_labels, query_codes, query_labels, k)``: the fraction of queries whose
    predicted label is right, the prediction being the majority vote among the ``k`` reference codes nearest to the
    query by Euclidean distance, a tie between labels going to the smallest label. Codes are ``(M, d)`` and
    ``(Q, d)``, labels ``(M,)`` and ``(Q,)`` integers; the result is one number in ``[0, 1]``."""
    name = "knn_accuracy"
    generator = torch.Generator().manual_seed(3)
    centres = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    reference_labels = torch.randint(0, 4, (60,), generator=generator)
    reference = centres[reference_labels] + 0.9 * torch.randn(60, 2, generator=generator)
    query_labels = torch.randint(0, 4, (40,), generator=generator)
    queries = centres[query_labels] + 0.9 * torch.randn(40, 2, generator=generator)
    k = 5

    def accuracy(predicted: Tensor) -> float:
        return (predicted == query_labels).double().mean().item()

    order = torch.cdist(queries, reference).argsort(dim=1)          # (40, 60): nearest first
    votes = torch.nn.functional.one_hot(reference_labels[order[:, :k]], 4).sum(dim=1)
    farthest = torch.nn.functional.one_hot(reference_labels[order[:, -k:]], 4).sum(dim=1)

    def vote(indices: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(reference_labels[indices], 4).sum(dim=1).argmax(dim=1)

    expected = accuracy(votes.argmax(dim=1))
    # ties broken otherwise: by the label met first among the k nearest, or by the largest label
    nearest_labels = reference_labels[order[:, :k]]                  # (40, k)
    first_seen = torch.stack([(nearest_labels == label).float().argmax(dim=1) for label in range(4)], dim=1)
    first_seen[votes == 0] = k
    nearest_wins = accuracy((votes * (k + 1) - first_seen).argmax(dim=1))
    largest_wins = accuracy(3 - votes.flip(dims=[1]).argmax(dim=1))
    started, result = _started(name, lambda: fn(reference.clone(), reference_labels.clone(), queries.clone(),
                                                 query_labels.clone(), k))
    if not started:
        return False
    case = "60 reference codes and 40 queries in 2-d, 4 labels, k = 5"
    result = _expect_number(name, case, result, ": the accuracy over all queries")
    correct = expected * len(query_labels)
    tie_message = ("a tie between labels (as many votes each) goes to the smallest of them in this exercise, as "
                   "torch.bincount(...).argmax() does; yours went to another (the nearest code's label, or the "
                   "largest)")
    if any(abs(float(result) - wrong) < 1e-6 for wrong in (nearest_wins, largest_wins)):
        # a wrong tie rule can give the same accuracy here as an off-by-one k: tell them apart on a tie that an
        # off-by-one k (and skipping the nearest) does not meet. The 4 nearest say 3, 1, 1, 3: a 2 : 2 tie, won by 1.
        tie_reference = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0], [5.0, 0.0]])
        tie_result = float(fn(tie_reference, torch.tensor([3, 1, 1, 3, 0]), torch.zeros(1, 2), torch.tensor([1]), 4))
        if abs(tie_result - 1.0) > 1e-6:
            raise CheckFailed(f"{name}: {tie_message}")
    _name_known_mistake(name, torch.tensor([float(result)], dtype=torch.float64), [
        (torch.tensor([correct], dtype=torch.float64), f"you returned the number of correct queries ({correct:.0f}); "
         "the accuracy is that count divided by the number of queries, a fraction in [0, 1]"),
        (torch.tensor([100 * expected], dtype=torch.float64), "you returned a percentage; return the fraction in "
         "[0, 1]"),
        (torch.tensor([accuracy(farthest.argmax(dim=1))], dtype=torch.float64), "you voted among the k *farthest* "
         "reference codes: sort the distances in increasing order (topk(..., largest=False))"),
        (torch.tensor([accuracy(reference_labels[order[:, 0]])], dtype=torch.float64), "you used only the nearest "
         "reference code (1-NN): vote among the k nearest"),
        (torch.tensor([accuracy(reference_labels[order[:, k - 1]])], dtype=torch.float64), "you took the label of "
         "the k-th nearest reference code; the prediction is the majority vote among all k nearest"),
        # another number of neighbours: listed before the tie rules, whose wrong answers can coincide with these
        (torch.tensor([accuracy(vote(order[:, :k - 1]))], dtype=torch.float64), "you voted among k - 1 reference "
         "codes (an off-by-one): vote among the k nearest"),
        (torch.tensor([accuracy(vote(order[:, :k + 1]))], dtype=torch.float64), "you voted among k + 1 reference "
         "codes (an off-by-one): vote among the k nearest"),
        (torch.tensor([accuracy(vote(order[:, 1:k + 1]))], dtype=torch.float64), "you skipped the nearest neighbour "
         "(as if the query were one of the reference codes): the queries are not among the references, so the k "
         "nearest start with the very nearest"),
        *[(torch.tensor([wrong], dtype=torch.float64), tie_message) for wrong in (nearest_wins, largest_wins)]])
    _expect_close(name, case, float(result), expected)
    # another k, so that a k fixed inside the function shows
    three = torch.nn.functional.one_hot(reference_labels[order[:, :3]], 4).sum(dim=1)
    _expect_close(name, "the same codes, k = 3", float(fn(reference, reference_labels, queries, query_labels, 3)),
                  accuracy(three.argmax(dim=1)))
    # the distance: from the origin, (1.3, 1.3) labelled 1 is nearer than (2, 0) labelled 0 by Euclidean distance
    # (1.84 < 2) but farther by the Manhattan distance (2.6 > 2)
    metric_result = float(fn(torch.tensor([[2.0, 0.0], [1.3, 1.3]]), torch.tensor([0, 1]), torch.zeros(1, 2),
                             torch.tensor([1]), 1))
    if abs(metric_result) < 1e-6:
        raise CheckFailed(f"{name}: you used the Manhattan (L1) distance instead of Euclidean: from a query at the "
                          "origin, (1.3, 1.3) is nearer than (2, 0) by Euclidean distance (1.84 < 2) but not by the "
                          "sum of absolute differences (2.6 > 2); use torch.cdist(queries, references) (p = 2)")
    if abs(metric_result - 1.0) > 1e-6:
        raise CheckFailed(f"{name}: a query at the origin labelled 1, references (2, 0) labelled 0 and (1.3, 1.3) "
                          f"labelled 1, k = 1: the nearest is (1.3, 1.3), so the accuracy is 1.0, got "
                          f"{metric_result:.4g}")
    # a tie: the nearest code says 3, the second nearest 1; with k = 2 the vote is 1 : 1 and the smallest label wins
    tie_reference = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, -4.0]])
    tie_labels = torch.tensor([3, 1, 0, 2])
    tie_result = float(fn(tie_reference, tie_labels, torch.zeros(1, 2), torch.tensor([1]), 2))
    if abs(tie_result - 1.0) > 1e-6:
        raise CheckFailed(f"{name}: a query whose 2 nearest codes have labels 3 (nearer) and 1 is a tie, 1 vote "
                          "each; this exercise gives a tie to the smallest label (1), which is what "
                          "torch.bincount(...).argmax() does, so the accuracy for a query labelled 1 is 1.0, "
                          f"got {tie_result:.4g}")
    return _passed(name, "k nearest, majority vote, ties to the smallest label, a fraction")


@_keeps_random_state
def kl_sparsity(fn: Callable[[Tensor, float], Tensor]) -> bool:
    """Check ``fn(code, rho)``: the KL sparsity penalty of a batch of sigmoid codes ``(N, H)`` with values in
    ``(0, 1)``, one number (a 0-d tensor) in nats, ``sum_j KL(rho || rho_hat_j)``, where ``rho_hat_j`` is unit ``j``'s
    mean activation over the batch and ``KL(p || q) = p log(p / q) + (1 - p) log((1 - p) / (1 - q))`` is the KL
    divergence between two Bernoulli distributions."""
    name = "kl_sparsity"
    generator = torch.Generator().manual_seed(0)
    # units with different mean activations, some far from rho, so that every wrong formula gives another number
    code = torch.sigmoid(1.5 * torch.randn(8, 5, generator=generator) + torch.linspace(-3, 1, 5)).requires_grad_()
    rho = 0.1
    started, result = _started(name, lambda: fn(code, rho))
    if not started:
        return False
    case = "code of shape (8, 5), rho = 0.1"
    if not isinstance(result, Tensor):
        raise CheckFailed(f"{name}({case}) should return a torch.Tensor (a penalty to train with must carry a "
                          f"gradient), got {type(result).__name__}")
    if result.ndim != 0:
        raise CheckFailed(f"{name}({case}) should return one number, a 0-d tensor, got shape {tuple(result.shape)}: "
                          "sum KL(rho || rho_hat_j) over the units j (.sum() with no dim)")
    c = code.detach().double()
    kl = lambda p, q: p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))
    rho_hat = c.mean(dim=0)
    expected = kl(rho, rho_hat).sum()
    per_activation = ("you took one KL per activation (per image and unit); rho_hat_j is unit j's mean activation "
                      "over the batch, code.mean(dim=0), and the KL is taken of that mean")
    _name_known_mistake(name, result.detach().double().reshape(1), [(wrong.reshape(1), message) for wrong, message in [
        (kl(rho_hat, rho).sum(), "the KL's arguments are swapped: the penalty is KL(rho || rho_hat_j) = "
         "rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j)), the target rho first"),
        (kl(rho, rho_hat).mean(), "you averaged over the units; the penalty sums KL(rho || rho_hat_j) over them"),
        (kl(rho, c).sum(dim=1).mean(), per_activation),
        (kl(rho, c).sum(), per_activation),
        (kl(rho, c).mean(), per_activation),
        (kl(rho, c.mean(dim=1)).sum(), "you averaged over the units (dim=1); rho_hat_j is unit j's mean over the "
         "images of the batch, code.mean(dim=0)"),
        ((rho * torch.log(rho / rho_hat)).sum(), "the (1 - rho) log((1 - rho) / (1 - rho_hat_j)) term is missing: a "
         "KL between Bernoulli distributions has a term for 'on' and one for 'off'"),
        (((1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum(), "the rho log(rho / rho_hat_j) term is missing: a "
         "KL between Bernoulli distributions has a term for 'on' and one for 'off'"),
        (kl(rho, c.mean()), "you averaged over all entries, code.mean(); rho_hat_j is each unit's own mean over the "
         "batch, code.mean(dim=0), one per unit, and the KL is summed over the units"),
        (c.shape[1] * kl(rho, c.mean()), "you averaged over all entries, code.mean(); rho_hat_j is each unit's own "
         "mean over the batch, code.mean(dim=0), one per unit"),
        (expected / math.log(2), "you used log2 (bits); the penalty is in nats, the natural log (torch.log)"),
        (-expected, "the sign is flipped: a KL divergence is never negative")]])
    _expect_close(name, case, result.detach(), expected)
    # exactly 0 when every unit's mean activation is rho; a known value when it is not
    _expect_close(name, "every activation 0.3, rho = 0.3", fn(torch.full((4, 3), 0.3), 0.3).detach(), 0.0)
    _expect_close(name, "every activation 0.5, rho = 0.1, 5 units", fn(torch.full((6, 5), 0.5), 0.1).detach(),
                  5 * (0.1 * math.log(0.2) + 0.9 * math.log(1.8)))
    if not result.requires_grad:
        raise CheckFailed(f"{name}: the result carries no gradient to the code; use torch operations only")
    result.backward()
    gradient = (-rho / rho_hat + (1 - rho) / (1 - rho_hat)).expand_as(c) / len(c)
    _expect_close(f"{name} gradient d/dcode", case, code.grad, gradient)
    return _passed(name, "one number, batch means per unit, KL(rho || rho_hat) summed over units, nats, gradient")


@_keeps_random_state
def generator_loss(fn: Callable[[Tensor], Tensor]) -> bool:
    """Check ``fn(fake_logits)``: a GAN generator's non-saturating loss computed from the discriminator's logits of
    generated samples, ``mean_i(-log sigmoid(fake_i))`` (the fakes labelled 1, i.e. "call them real"; ``ln 2`` when
    every logit is 0). The logits are ``(N, 1)``; the result is a scalar tensor whose gradient reaches the logits."""
    name = "generator_loss"
    fake = torch.tensor([[-2.5], [0.8], [-0.1], [1.5], [-4.0]])
    fake_in = fake.clone().requires_grad_()
    started, result = _started(name, lambda: fn(fake_in))
    if not started:
        return False
    case = "5 fake logits [-2.5, 0.8, -0.1, 1.5, -4], shape (5, 1)"
    softplus, sigmoid = torch.nn.functional.softplus, torch.sigmoid   # -log sigmoid(x) = softplus(-x)
    f = fake.double()
    expected = softplus(-f).mean()
    value = _logit_loss_value(name, case, result, "average over the samples")
    minimax = ("the minimax form log(1 - D(G(z))): it saturates (its gradient vanishes) when the discriminator "
               "rejects the fakes; the non-saturating loss is -log D(G(z)), the fakes labelled 1")
    _name_known_mistake(name, value, [
        ((-softplus(f)).mean().view(1), f"you wrote {minimax}"),
        (softplus(f).mean().view(1), "the labels are swapped: that is the discriminator's term for fakes (label 0); "
         "the generator wants its samples called real, label 1: -log sigmoid(fake_logits)"),
        ((-softplus(-f)).mean().view(1), "the sign is flipped: the loss is -log sigmoid(fake_logits), positive, "
         "and the generator minimises it"),
        (softplus(-sigmoid(f)).mean().view(1), "you applied a sigmoid to the logits and then a with-logits loss "
         "(probabilities fed in as logits): binary_cross_entropy_with_logits applies the sigmoid itself"),
        (softplus(-f).sum().view(1), "you summed over the batch; take the mean over the samples, so that the loss "
         "does not grow with the batch size"),
        ((-softplus(f)).sum().view(1), f"you wrote {minimax}, and summed instead of averaging")])
    _expect_close(name, case, value, expected.view(1))
    if not result.requires_grad:
        raise CheckFailed(f"{name}({case}) returned the right value without a gradient: .detach() (of the fake "
                          "samples or of the logits), .item() or torch.tensor(...) cut the loss off from the "
                          "generator; the generator's loss must reach it through D(G(z))")
    result.sum().backward()
    _expect_close(f"{name} gradient with respect to fake_logits", case,
                  fake_in.grad if fake_in.grad is not None else torch.zeros_like(fake),
                  -(1 - sigmoid(f)) / len(f))
    # a confident discriminator: sigmoid(-120) underflows to 0 in float32, so a loss from probabilities breaks down
    big = torch.tensor([[-120.0], [3.0]])
    big_case = "fake logits [-120, 3] (a discriminator that confidently rejects the first fake)"
    big_result = fn(big.clone())
    if not isinstance(big_result, Tensor) or big_result.numel() != 1:
        raise CheckFailed(f"{name}({big_case}) should return a scalar tensor too")
    big_value = big_result.detach().double().reshape(1)
    from_probabilities = "computed from probabilities: sigmoid(-120) rounds to 0 in float32 and -log 0 = inf"
    if not bool(torch.isfinite(big_value).all()):
        raise CheckFailed(f"{name}({big_case}) returned {big_value.item()}, {from_probabilities}: compute the loss "
                          "from the logits (F.binary_cross_entropy_with_logits or F.logsigmoid)")
    _name_known_mistake(name, big_value, [
        (((100 + softplus(torch.tensor(-3.0, dtype=torch.float64))) / 2).view(1),
         f"{from_probabilities}, which F.binary_cross_entropy clips at 100: compute the loss from the logits "
         "(F.binary_cross_entropy_with_logits)")])
    _expect_close(name, big_case, big_value, softplus(-big.double()).mean().view(1), rtol=1e-3)
    return _passed(name, "non-saturating, labelled real, from logits, mean, gradient, confident logits")


class _Conditioner(nn.Module):
    """The check's conditioner: the first ``split`` entries -> (log-scales, shifts) for the other ``dim - split``."""

    def __init__(self, split: int, rest: int, generator: torch.Generator) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(split, 2 * rest, generator=generator, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(2 * rest, generator=generator, dtype=torch.float64))

    def forward(self, a: Tensor) -> tuple[Tensor, Tensor]:
        log_scale, shift = (a @ self.weight + self.bias).chunk(2, dim=1)
        return 1.5 * torch.tanh(log_scale), shift   # log-scales of both signs, some below -1 and above 1


@_keeps_random_state
def coupling_inverse(fn: Callable[[Tensor, Callable[[Tensor], tuple[Tensor, Tensor]], int],
                                  tuple[Tensor, Tensor]]) -> bool:
    """Check ``fn(z, conditioner, split)``: the inverse of an affine coupling layer and its log-determinant. The layer
    maps ``u`` to ``z`` by ``z[:, :split] = u[:, :split]`` and ``z[:, split:] = u[:, split:] * exp(s) + t`` with
    ``(s, t) = conditioner(u[:, :split])``; ``fn`` returns the pair ``(u, log_det)``: ``u`` ``(N, D)`` and
    ``log_det`` ``(N,)``, one ``log |det du/dz|`` per sample, which is ``-s.sum(dim=1)``."""
    name = "coupling_inverse"
    generator = torch.Generator().manual_seed(0)
    n, dim, split = 6, 5, 2
    conditioner = _Conditioner(split, dim - split, generator)
    z = 2 * torch.randn(n, dim, generator=generator, dtype=torch.float64)
    case = "z of shape (6, 5), split = 2, a conditioner (6, 2) -> log-scales s and shifts t, each (6, 3)"

    def call() -> object:
        try:
            return fn(z.clone(), conditioner, split)
        except NotImplementedError:
            raise
        except RuntimeError as error:   # a conditioner fed the wrong columns fails on its shapes
            raise CheckFailed(f"{name}({case}) raised {error!r}: call the conditioner on the conditioning half, "
                              "z[:, :split], which the layer left unchanged") from error

    started, result = _started(name, call)
    if not started:
        return False
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise CheckFailed(f"{name}({case}) should return a pair (u, log_det), got {type(result).__name__}{length}")
    u = _expect_tensor(f"{name} u", case, result[0], (n, dim)).detach().double()
    log_det = result[1]
    if isinstance(log_det, Tensor) and log_det.numel() == 1 and n > 1:
        raise CheckFailed(f"{name}({case}): log_det is one number for the whole batch; it is per sample, shape "
                          f"({n},): sum the log-scales over the dimensions only, -s.sum(dim=1)")
    if isinstance(log_det, Tensor) and tuple(log_det.shape) == (dim - split,):
        raise CheckFailed(f"{name}({case}): log_det has shape {tuple(log_det.shape)}, one entry per transformed "
                          f"dimension: you summed over the batch (dim=0); sum over the dimensions, one value per "
                          f"sample: -s.sum(dim=1)")
    if isinstance(log_det, Tensor) and tuple(log_det.shape) == (n, dim - split):
        raise CheckFailed(f"{name}({case}): log_det has one entry per transformed dimension, shape "
                          f"{tuple(log_det.shape)}; the log-determinant of a sample sums them: -s.sum(dim=1)")
    log_det = _expect_tensor(f"{name} log_det", case, log_det, (n,)).detach().double()
    with torch.no_grad():
        s, t = conditioner(z[:, :split])
        z1, z2 = z[:, :split], z[:, split:]
        u2 = (z2 - t) * torch.exp(-s)
    if not torch.allclose(u[:, :split], z1):
        raise CheckFailed(f"{name}({case}): u[:, :split] differs from z[:, :split]; the conditioning half passes "
                          "through the layer unchanged (only the other half is scaled and shifted), so the inverse "
                          "copies it too")
    _name_known_mistake(name, u[:, split:], [
        ((z2 - t) / s, "you divided by s; s is the log of the scale: the layer multiplied by exp(s), so the inverse "
         "divides by exp(s), (z2 - t) * torch.exp(-s)"),
        ((z2 - t) * s, "you multiplied by s; s is the log of the scale: the inverse divides by exp(s), "
         "(z2 - t) * torch.exp(-s)"),
        ((z2 - t) * torch.exp(s), "you multiplied by exp(s) again; the inverse undoes the scaling: "
         "(z2 - t) * torch.exp(-s)"),
        (z2 * torch.exp(-s) - t, "the shift is removed after the scaling is undone; the layer scaled first and "
         "shifted second, so the inverse subtracts t first: (z2 - t) * torch.exp(-s)"),
        (z2 * torch.exp(-s) + t, "undo the shift by subtracting it, and before the scaling: (z2 - t) * torch.exp(-s)"),
        ((z2 + t) * torch.exp(-s), "undo the shift by subtracting t, not adding it: (z2 - t) * torch.exp(-s)"),
        (z2 * torch.exp(-s), "the shift t is not undone: (z2 - t) * torch.exp(-s)"),
        (z2 - t, "the scaling is not undone: (z2 - t) * torch.exp(-s)")])
    _expect_close(f"{name} u", case, u[:, split:], u2)
    _name_known_mistake(name, log_det, [
        (s.sum(dim=1), "log_det has the wrong sign: the layer's own log-determinant is +sum(s); its inverse "
         "divides by exp(s), so log |det du/dz| = -s.sum(dim=1)"),
        (-torch.exp(s).sum(dim=1), "you summed exp(s); s is already the log of the scale, so log |det du/dz| = "
         "-s.sum(dim=1)"),
        (torch.exp(s).sum(dim=1), "you summed exp(s), with the wrong sign too; log |det du/dz| = -s.sum(dim=1)"),
        (-torch.exp(s).prod(dim=1), "that is minus the layer's own determinant (dz/du), not the log-determinant of "
         "the inverse: -s.sum(dim=1)"),
        (torch.exp(-s).prod(dim=1), "that is the determinant itself, not its log: -s.sum(dim=1)"),
        (-s.mean(dim=1), "you averaged the log-scales over the dimensions; the log-determinant sums them: "
         "-s.sum(dim=1)"),
        (-s.sum().expand(n), "every sample got the batch's total; the log-determinant is per sample: -s.sum(dim=1)")])
    _expect_close(f"{name} log_det", case, log_det, -s.sum(dim=1))
    # a known value: log-scale ln 2 and shift 1 everywhere, so u2 = (z2 - 1) / 2 and log_det = -3 ln 2
    known = fn(torch.tensor([[0.5, -1.0, 3.0, 5.0, -1.0]], dtype=torch.float64),
               lambda a: (torch.full((len(a), 3), math.log(2), dtype=a.dtype), torch.ones(len(a), 3, dtype=a.dtype)),
               2)
    known_case = "z = [[0.5, -1, 3, 5, -1]], split = 2, s = ln 2 and t = 1 everywhere"
    _expect_close(f"{name} u", known_case, known[0].detach(), torch.tensor([[0.5, -1.0, 1.0, 2.0, -1.0]]))
    _expect_close(f"{name} log_det", known_case, torch.as_tensor(known[1]).detach().reshape(-1),
                  torch.tensor([-3 * math.log(2)]))
    # the round trip: the layer applied to u gives z back
    with torch.no_grad():
        s_back, t_back = conditioner(u[:, :split])
        z_back = torch.cat([u[:, :split], u[:, split:] * torch.exp(s_back) + t_back], dim=1)
    _expect_close(f"{name} round trip", "the layer applied to your u", z_back, z)
    return _passed(name, "conditioning half unchanged, (z2 - t) * exp(-s), per-sample log_det = -sum(s), "
                   "known value, round trip")


@_keeps_random_state
def cvae_decoder_input(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(z, labels)``: a conditional VAE decoder's input, the codes ``z`` ``(N, d)`` followed by the labels
    ``(N,)`` (integers 0..9) as one-hot vectors, concatenated along the feature axis: ``(N, d + 10)``, floats,
    ``torch.cat([z, F.one_hot(labels, 10).float()], dim=1)``; the gradient must reach ``z``."""
    name = "cvae_decoder_input"
    generator = torch.Generator().manual_seed(0)
    labels = torch.tensor([3, 0, 7, 1, 3, 5])   # no 8 or 9 in this batch: the one-hot must still have 10 columns
    n = len(labels)
    for d in (3, 10):   # with d = 10, joining along the batch axis gives a tensor too, of the wrong shape
        z = torch.randn(n, d, generator=generator, requires_grad=True)
        case = f"z of shape ({n}, {d}), labels = {labels.tolist()}"
        try:
            started, result = _started(name, lambda: fn(z, labels.clone()))
        except RuntimeError as error:
            raise CheckFailed(f"{name}({case}) raised {type(error).__name__}: {error}. If torch.cat complained "
                              "about sizes, join along the feature axis, dim=1; dim=0 stacks along the batch") from None
        if not started:
            return False
        if not isinstance(result, Tensor):
            raise CheckFailed(f"{name}({case}) should return a torch.Tensor of shape ({n}, {d + 10}), "
                              f"got {type(result).__name__}")
        shape = tuple(result.shape)
        # With d = 10 the keys (n, d) and (n, 10) collide and the later hint, "z is missing", wins; the d = 3 case
        # runs first, so a missing label is named there, with its own hint.
        hints = {(n, d): "the labels are missing: the decoder must be conditioned, torch.cat([z, one_hot], dim=1)",
                 (n, 10): "z is missing: the decoder's input holds the code and the label, torch.cat([z, one_hot], "
                          "dim=1)",
                 (n, d + 1): "the label went in as one number (an integer column); a label is a category: "
                             "encode it one-hot, F.one_hot(labels, 10).float()",
                 (n, d + int(labels.max()) + 1): "the one-hot has as many columns as the batch's largest label + 1; "
                                                 "a batch may lack the 9s: F.one_hot(labels, num_classes=10)",
                 (2 * n, d): "you joined along the batch axis (dim=0); join along the features, dim=1"}
        if shape != (n, d + 10) and shape in hints:
            raise CheckFailed(f"{name}({case}) returned shape {shape}: {hints[shape]}")
        result = _expect_tensor(name, case, result, (n, d + 10))
        if not result.is_floating_point():
            # torch.cat promotes a float z and an integer one-hot to floats: only an integer z gets here
            raise CheckFailed(f"{name}({case}): the result is {result.dtype}: z was turned into integers; keep the "
                              "code as the floats it is, the decoder's Linear layer needs floats")
        one_hot = torch.nn.functional.one_hot(labels, 10).float()
        got = result.detach().float()
        _name_known_mistake(name, got, [
            (torch.cat([one_hot, z.detach()], dim=1), "the one-hot comes first; this course's decoder takes the code "
             "first and the label after it, torch.cat([z, one_hot], dim=1)")])
        _expect_close(name, case, got, torch.cat([z.detach(), one_hot], dim=1))
        if not result.requires_grad:
            raise CheckFailed(f"{name}: the result carries no gradient to z; use torch operations only (no .detach() "
                              "or NumPy), so that the encoder can be trained through the decoder")
    return _passed(name, "shape (N, d + 10), z first, one-hot labels with 10 columns, floats, gradient to z")


@_keeps_random_state
def vector_quantize(fn: Callable[[Tensor, Tensor, float], tuple[Tensor, Tensor, Tensor]]) -> bool:
    """Check ``fn(z_e, codebook, beta) -> (z_q, k, loss)`` for vectors ``z_e`` ``(N, D)`` and a codebook ``(K, D)``:
    ``k`` ``(N,)`` the index of each vector's nearest code (squared Euclidean distance), ``z_q = z_e + sg[e_k - z_e]``
    (value ``e_k``, gradient to ``z_e`` unchanged, none to the codebook) and ``loss`` the mean over the ``N``
    vectors of ``|sg[z_e] - e_k|^2 + beta |z_e - sg[e_k]|^2`` (codebook loss + commitment loss)."""
    name = "vector_quantize"
    generator = torch.Generator().manual_seed(0)
    n, K, d, beta = 7, 5, 3, 0.4
    z_e = torch.randn(n, d, generator=generator, dtype=torch.float64, requires_grad=True)
    codebook = torch.randn(K, d, generator=generator, dtype=torch.float64, requires_grad=True)
    case = f"z_e of shape ({n}, {d}), a codebook of shape ({K}, {d}), beta = {beta}"
    try:
        started, result = _started(name, lambda: fn(z_e, codebook, beta))
    except IndexError as error:
        raise CheckFailed(f"{name}({case}) raised IndexError: {error}. An index out of range, most often because "
                          "the minimum was taken over the wrong axis (an index k >= K counts vectors, not codes); "
                          "for distances of shape (N, K) take distances.argmin(dim=1)") from None
    if not started:
        return False
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise CheckFailed(f"{name} should return three things, (z_q, k, loss), got {type(result).__name__}")
    z_q, k, loss = result
    distances = (z_e.detach()[:, None, :] - codebook.detach()[None, :, :]).square().sum(-1)   # (N, K)
    expected_k = distances.argmin(dim=1)
    if isinstance(k, Tensor) and tuple(k.shape) == (K,):
        raise CheckFailed(f"{name}({case}): k has shape ({K},), one index per code; the minimum was taken over the "
                          "wrong axis (over the vectors): take it over the codes, distances.argmin(dim=1) for "
                          "distances of shape (N, K)")
    k = _expect_tensor(f"{name} k", case, k, (n,))
    _name_known_mistake(f"{name} k", k.double(), [
        (distances.argmax(dim=1).double(), "k holds the farthest codes; the nearest is the argmin, not the argmax")])
    if not torch.equal(k.long(), expected_k):
        raise CheckFailed(f"{name}({case}): expected k = {expected_k.tolist()}, got {k.tolist()}; the nearest code "
                          "minimises the squared distance summed over the D coordinates")
    e_k = codebook.detach()[expected_k]
    z_q = _expect_tensor(f"{name} z_q", case, z_q, (n, d))
    _name_known_mistake(f"{name} z_q", z_q.detach(), [
        (z_e.detach(), "z_q has the value of z_e: the stop-gradient is on the wrong side; z_q = z_e + (e_k - z_e)"
         ".detach() has the code's value and z_e's gradient")])
    _expect_close(f"{name} z_q", case, z_q.detach(), e_k)
    weights = torch.randn(n, d, generator=generator, dtype=torch.float64)
    if not z_q.requires_grad:
        raise CheckFailed(f"{name}: z_q carries no gradient; with the straight-through estimator the decoder's "
                          "gradient reaches z_e: z_q = z_e + (e_k - z_e).detach()")
    grad_z_e, grad_codebook = torch.autograd.grad((z_q * weights).sum(), [z_e, codebook], allow_unused=True,
                                                  retain_graph=True)
    if grad_z_e is None or not bool(grad_z_e.abs().gt(0).any()):
        raise CheckFailed(f"{name}: no gradient reaches z_e through z_q, so the encoder would never learn from the "
                          "reconstruction; use the straight-through estimator, z_q = z_e + (e_k - z_e).detach()")
    _expect_close(f"{name} gradient of z_q with respect to z_e", case, grad_z_e, weights)
    if grad_codebook is not None and bool(grad_codebook.abs().gt(0).any()):
        raise CheckFailed(f"{name}: z_q passes a gradient to the codebook; with the straight-through estimator the "
                          "codebook learns only from its own loss: z_q = z_e + (e_k - z_e).detach()")

    loss_value = _expect_number(f"{name} loss", case, loss, " (the mean over the vectors)")
    squared = (z_e.detach() - e_k).square().sum(dim=1)   # (N,)
    _name_known_mistake(f"{name} loss", torch.tensor(loss_value, dtype=torch.float64), [
        ((1 + beta) * squared.sum(), "the loss is summed over the vectors; take the mean over the N vectors"),
        ((1 + beta) * squared.mean() / d, "the loss is averaged over the D coordinates too; sum over them and take "
         "the mean over the vectors only"),
        (squared.mean(), "beta is missing: the loss is |sg[z_e] - e_k|^2 + beta |z_e - sg[e_k]|^2"),
        (2 * squared.mean(), "both terms have weight 1: the commitment term is weighted by beta")])
    _expect_close(f"{name} loss", case, loss_value, ((1 + beta) * squared).mean())
    if not (isinstance(loss, Tensor) and loss.requires_grad):
        raise CheckFailed(f"{name}: the loss carries no gradient; return a tensor built from z_e and the codebook")
    grad_z_e, grad_codebook = torch.autograd.grad(loss, [z_e, codebook], allow_unused=True)
    grad_z_e = torch.zeros_like(z_e) if grad_z_e is None else grad_z_e
    grad_codebook = torch.zeros_like(codebook) if grad_codebook is None else grad_codebook
    difference = z_e.detach() - e_k   # (N, D)
    want_z_e = 2 * beta * difference / n
    want_codebook = torch.zeros_like(codebook).index_add_(0, expected_k, -2 * difference / n)
    if (torch.allclose(grad_z_e, want_z_e / beta) and torch.allclose(grad_codebook, beta * want_codebook)):
        raise CheckFailed(f"{name}: the codebook and commitment terms are swapped (the stop-gradients on the wrong "
                          "sides): the codebook term |sg[z_e] - e_k|^2 moves the codes with weight 1, the "
                          "commitment term beta |z_e - sg[e_k]|^2 moves z_e")
    if (torch.allclose(grad_z_e, want_z_e * (1 + beta) / beta)
            and torch.allclose(grad_codebook, want_codebook * (1 + beta))):
        raise CheckFailed(f"{name}: no stop-gradient in the loss, so both terms move both z_e and the codes; use "
                          "z_e.detach() in the codebook term and e_k.detach() in the commitment term")
    if not bool(grad_codebook.abs().gt(0).any()):
        raise CheckFailed(f"{name}: the loss gives the codebook no gradient, so the codes never move; the codebook "
                          "term must not detach e_k: |z_e.detach() - e_k|^2")
    _expect_close(f"{name} gradient of the loss with respect to z_e", case, grad_z_e, want_z_e)
    _expect_close(f"{name} gradient of the loss with respect to the codebook", case, grad_codebook, want_codebook)
    # a known value: three codes in the plane, four vectors
    codebook = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z_e = torch.tensor([[0.9, 0.2], [0.1, -0.1], [0.2, 0.8], [1.2, 0.1]], dtype=torch.float64)
    known_case = "codes (0, 0), (1, 0), (0, 1); z_e = [[0.9, 0.2], [0.1, -0.1], [0.2, 0.8], [1.2, 0.1]]"
    z_q, k, _ = fn(z_e.clone(), codebook.clone(), 0.25)
    k = _expect_tensor(f"{name} k", known_case, k, (4,))
    if not torch.equal(k.long(), torch.tensor([1, 0, 2, 1])):
        raise CheckFailed(f"{name}({known_case}): expected k = [1, 0, 2, 1], got {k.tolist()}")
    _expect_close(f"{name} z_q", known_case, torch.as_tensor(z_q).detach(), codebook[[1, 0, 2, 1]])
    return _passed(name, "nearest code by argmin over the codes, straight-through z_q, codebook + beta * "
                   "commitment loss with the stop-gradients on the right sides")
