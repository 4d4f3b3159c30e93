"""Autoencoders as ``nn.Module``s with one shape: ``encode(x) -> z``, ``decode(z) -> x_hat``, ``forward(x) -> x_hat``.

Images are ``(N, 1, 28, 28)`` with values in ``[0, 1]`` everywhere in the course. Later chapters (VAEs)
subclass :class:`Autoencoder` and change what ``encode`` returns; the training loop does not care.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .validation import check_choice, check_positive_int

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
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class Autoencoder(nn.Module):
    """``forward(x) = decode(encode(x))``; subclasses build ``self.encoder`` and ``self.decoder``."""

    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: Tensor) -> Tensor:
        """``(N, 1, 28, 28)`` images to codes."""
        if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"expected images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Codes to ``(N, 1, 28, 28)`` images."""
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
        for width in hidden_dims:
            check_positive_int(width, "each of hidden_dims")
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output_activation, "output_activation", ACTIVATIONS)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.latent_dim = latent_dim

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
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        f = self.factor
        # keep x's memory layout: fit trains conv models channels_last, which is much faster on CPU
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        out = torch.empty(n, c, h * f, w * f, dtype=x.dtype, device=x.device, memory_format=layout).zero_()
        out[:, :, ::f, ::f] = x
        return out


def upsample_block(in_channels: int, out_channels: int, method: str) -> nn.Module:
    """Double the height and width of a feature map, the ``method`` way (one of ``UPSAMPLING``)."""
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
        if len(channels) != 2:
            raise ValueError(f"channels must be two ints (after the first and second conv), got {channels!r}")
        c1, c2 = (check_positive_int(c, "each of channels") for c in channels)
        check_choice(upsampling, "upsampling", UPSAMPLING)
        check_choice(activation, "activation", ACTIVATIONS)
        check_choice(output_activation, "output_activation", ACTIVATIONS)
        self.latent_dim = latent_dim
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
