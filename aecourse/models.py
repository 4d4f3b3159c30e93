"""Autoencoders as ``nn.Module``s, and the one contract every model of the course meets.

Images are ``(N, 1, 28, 28)`` with values in ``[0, 1]`` everywhere in the course. Every model has:

- ``code_shape``: the shape of one code, ``(latent_dim,)`` or ``(channels, 7, 7)``;
- ``decode(z) -> x_hat``: codes ``(N, *code_shape)`` to images. A generator is anything with ``decode`` and
  ``code_shape`` (a VAE's decoder, a GAN's generator): its samples are ``decode(torch.randn(n, *code_shape))``;
- ``encode(x) -> z``: images to the code the model would use deterministically. A VAE's ``encode`` returns its
  posterior mean; the distribution itself, ``(mu, logvar)``, comes from a separate ``posterior(x)`` method;
- a VAE whose decoder is Bernoulli also has ``decode_logits(z)``, with ``decode(z) = sigmoid(decode_logits(z))``: its
  loss (:func:`aecourse.losses.vae_loss`) and likelihood (:mod:`aecourse.likelihood`) work from the logits, which
  stay exact where ``log(sigmoid(.))`` would underflow;
- ``forward(x) -> x_hat = decode(encode(x))``: the deterministic reconstruction, one tensor. So
  ``reconstruction_errors``, ``evaluate`` with ``reconstruction_loss`` and the plots take every model unchanged.

A loss that needs more than ``x_hat`` (a VAE's sampled code and KL term) calls these methods itself inside
``loss_fn(model, batch)``; ``fit`` sees one model, one loss, one optimizer. A conditional model takes the label as
a second argument, ``encode(x, y)`` and ``decode(z, y)``, and its loss passes it.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .validation import (check_bool, check_choice, check_fraction, check_positive_int,
                         check_sequence_of_positive_ints)

IMAGE_SHAPE = (1, 28, 28)
IMAGE_PIXELS = 28 * 28

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}
UPSAMPLING = ("nearest", "bilinear", "bed_of_nails", "transposed", "pixel_shuffle")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name: one of ``ACTIVATIONS``."""
    return ACTIVATIONS[check_choice(name, "activation", ACTIVATIONS)]()


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"parameter_count needs a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _autocast_on(device_type: str) -> bool:
    """Inside ``torch.autocast`` layers take mixed dtypes by design (float32 weights, bfloat16 activations)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:   # torch < 2.4 takes no device type
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _check_input(x: object, name: str, shape: tuple[int, ...], what: str, model: nn.Module) -> None:
    """One clear error for what would otherwise fail inside the first layer: type, shape, dtype, device."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {what}, got {type(x).__name__}")
    expected = "(N, " + ", ".join(map(str, shape)) + ")"
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"{name} must have shape {expected} {what}, got {tuple(x.shape)}")
    weight = next(model.parameters())
    if not x.is_floating_point() or (x.dtype != weight.dtype and not _autocast_on(x.device.type)):
        hint = " (uint8 pixels? divide by 255 first)" if x.dtype == torch.uint8 else f" (use .to({weight.dtype}))"
        raise TypeError(f"{name} must be {weight.dtype} like the model's weights, got {x.dtype}{hint}")
    if x.device != weight.device:
        raise ValueError(f"{name} is on {x.device} but the model is on {weight.device}; move one of them with .to()")


class Autoencoder(nn.Module):
    """``forward(x) = decode(encode(x))``; subclasses build ``self.encoder`` and ``self.decoder`` and set
    ``self.code_shape``, the shape of one code (``(latent_dim,)`` or ``(channels, 7, 7)``)."""

    encoder: nn.Module
    decoder: nn.Module
    code_shape: tuple[int, ...]

    def encode(self, x: Tensor) -> Tensor:
        """``(N, 1, 28, 28)`` float images to codes ``(N, *code_shape)``."""
        _check_input(x, "images", IMAGE_SHAPE, "of MNIST images", self)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Codes ``(N, *code_shape)`` to ``(N, 1, 28, 28)`` images."""
        _check_input(z, "codes", self.code_shape, f"for this {type(self).__name__}", self)
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


class MLPAutoencoder(Autoencoder):
    """A funnel of fully connected layers: 784 -> hidden_dims -> latent_dim -> reversed(hidden_dims) -> 784.

    With ``activation="identity"`` and ``output_activation="identity"`` it is a linear autoencoder,
    whose optimum spans the same subspace as PCA (Baldi & Hornik, 1989).
    """

    def __init__(self, latent_dim: int = 32, hidden_dims: Sequence[int] = (512, 128), *,
                 activation: str = "relu", output_activation: str = "sigmoid",
                 batchnorm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive_int(latent_dim, "latent_dim")
        hidden_dims = check_sequence_of_positive_ints(hidden_dims, "hidden_dims")
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output_activation, "output_activation", ACTIVATIONS)
        check_bool(batchnorm, "batchnorm")
        dropout = check_fraction(dropout, "dropout")
        self.latent_dim = latent_dim
        self.code_shape = (latent_dim,)

        def hidden_layer(n_in: int, n_out: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if batchnorm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(make_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
            return layers

        widths = [IMAGE_PIXELS, *hidden_dims]
        encoder: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            encoder += hidden_layer(n_in, n_out)
        encoder.append(nn.Linear(widths[-1], latent_dim))
        self.encoder = nn.Sequential(*encoder)

        widths = [latent_dim, *reversed(hidden_dims)]
        decoder: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            decoder += hidden_layer(n_in, n_out)
        decoder += [nn.Linear(widths[-1], IMAGE_PIXELS), make_activation(output_activation),
                    nn.Unflatten(1, IMAGE_SHAPE)]
        self.decoder = nn.Sequential(*decoder)


class BedOfNails(nn.Module):
    """Upsample by ``factor`` by putting each value in the top-left corner of its block, zeros elsewhere."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = check_positive_int(factor, "factor")

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"BedOfNails expects feature maps (N, C, H, W), got {shape}")
        n, c, h, w = x.shape
        f = self.factor
        # keep x's memory layout: fit trains conv models channels_last, which is much faster on CPU
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        out = torch.empty(n, c, h * f, w * f, dtype=x.dtype, device=x.device, memory_format=layout).zero_()
        out[:, :, ::f, ::f] = x
        return out


def upsample_block(in_channels: int, out_channels: int, method: str) -> nn.Module:
    """Double the height and width of a feature map, the ``method`` way (one of ``UPSAMPLING``)."""
    check_positive_int(in_channels, "in_channels")
    check_positive_int(out_channels, "out_channels")
    check_choice(method, "upsampling", UPSAMPLING)
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    if method == "nearest":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv)
    if method == "bilinear":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), conv)
    if method == "bed_of_nails":
        return nn.Sequential(BedOfNails(2), conv)
    if method == "transposed":
        # kernel 3 with stride 2 overlaps unevenly: the classic source of checkerboard artifacts
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels * 4, kernel_size=3, padding=1), nn.PixelShuffle(2))


class ConvAutoencoder(Autoencoder):
    """Strided convolutions down, ``upsampling`` blocks up: 1x28x28 -> C1x14x14 -> C2x7x7 -> ... -> 1x28x28.

    ``latent_dim=None`` keeps the spatial bottleneck (C2x7x7 feature maps); an int adds a linear layer to a
    vector code of that size and back.
    """

    def __init__(self, latent_dim: int | None = None, channels: tuple[int, int] = (16, 32), *,
                 upsampling: str = "transposed", activation: str = "relu",
                 output_activation: str = "sigmoid") -> None:
        super().__init__()
        if latent_dim is not None:
            check_positive_int(latent_dim, "latent_dim")
        channels = check_sequence_of_positive_ints(channels, "channels")
        if len(channels) != 2:
            raise ValueError(f"channels must be two ints (after the first and second conv), got {channels!r}")
        c1, c2 = channels
        check_choice(upsampling, "upsampling", UPSAMPLING)
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output_activation, "output_activation", ACTIVATIONS)
        self.latent_dim = latent_dim
        self.code_shape = (c2, 7, 7) if latent_dim is None else (latent_dim,)
        self.upsampling = upsampling

        encoder: list[nn.Module] = [
            nn.Conv2d(1, c1, kernel_size=3, stride=2, padding=1), make_activation(activation),   # -> c1 x 14 x 14
            nn.Conv2d(c1, c2, kernel_size=3, stride=2, padding=1), make_activation(activation),  # -> c2 x 7 x 7
        ]
        decoder: list[nn.Module] = []
        if latent_dim is not None:
            encoder += [nn.Flatten(), nn.Linear(c2 * 7 * 7, latent_dim)]
            decoder += [nn.Linear(latent_dim, c2 * 7 * 7), make_activation(activation), nn.Unflatten(1, (c2, 7, 7))]
        decoder += [
            upsample_block(c2, c1, upsampling), make_activation(activation),    # -> c1 x 14 x 14
            upsample_block(c1, 1, upsampling), make_activation(output_activation),  # -> 1 x 28 x 28
        ]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)


class VariationalAutoencoder(nn.Module):
    """A Gaussian encoder and a Bernoulli decoder under the course's contract (module docstring).

    Subclasses build ``self.encoder``, whose output ``(N, 2 * latent_dim)`` holds ``mu`` and ``logvar`` side by side,
    and ``self.decoder``, which maps codes ``(N, latent_dim)`` to logits ``(N, 1, 28, 28)``.
    """

    encoder: nn.Module
    decoder: nn.Module
    code_shape: tuple[int, ...]

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, 1, 28, 28)`` images to the mean and log-variance ``(N, latent_dim)`` of ``q(z | x)``."""
        _check_input(x, "images", IMAGE_SHAPE, "of MNIST images", self)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: Tensor) -> Tensor:
        """The posterior mean ``(N, latent_dim)``: the code the model would use deterministically."""
        return self.posterior(x)[0]

    def decode_logits(self, z: Tensor) -> Tensor:
        """Codes ``(N, latent_dim)`` to Bernoulli logits ``(N, 1, 28, 28)``."""
        _check_input(z, "codes", self.code_shape, f"for this {type(self).__name__}", self)
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """Codes ``(N, latent_dim)`` to images ``(N, 1, 28, 28)`` in ``[0, 1]``, the mean of ``p(x | z)``."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


class MLPVAE(VariationalAutoencoder):
    """784 -> hidden -> (mu, logvar) of a latent_dim Gaussian; latent_dim -> hidden -> 784 Bernoulli logits.

    The variational autoencoders chapter writes it out layer by layer; ``tests/test_chapter_models.py`` keeps the
    two the same function.
    """

    def __init__(self, latent_dim: int = 16, hidden: int = 256) -> None:
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        check_positive_int(hidden, "hidden")
        self.code_shape = (latent_dim,)
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(IMAGE_PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, IMAGE_PIXELS), nn.Unflatten(1, IMAGE_SHAPE))


class ConvVAE(VariationalAutoencoder):
    """Strided 4x4 convolutions 1x28x28 -> c1x14x14 -> c2x7x7 -> (mu, logvar); transposed convolutions back.

    Kernels of 4 with stride 2 overlap evenly, so the decoder draws no checkerboard.
    """

    def __init__(self, latent_dim: int = 32, channels: tuple[int, int] = (32, 64)) -> None:
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        channels = check_sequence_of_positive_ints(channels, "channels")
        if len(channels) != 2:
            raise ValueError(f"channels must be two ints (after the first and second conv), got {channels!r}")
        c1, c2 = channels
        self.code_shape = (latent_dim,)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, kernel_size=4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, kernel_size=4, stride=2, padding=1))
