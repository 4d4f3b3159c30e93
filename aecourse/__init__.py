"""aecourse: the helpers behind the course "Autoencoders, from linear to variational".

The names most chapters need are here at the top level; the modules hold the rest:
``data`` (MNIST), ``models``, ``losses``, ``train`` (the ``fit`` loop), ``metrics``, ``plot``, ``yardstick`` (a shipped
MNIST classifier and the scores for generated images built on it), ``likelihood`` (a VAE's importance-sampled
log-likelihood in nats), ``attributes`` (ink mass, slant, width and stroke thickness of an image), ``anomaly`` (reconstruction-based anomaly scores and their AUROC) and ``files`` (atomic
writes).
"""
from . import anomaly, attributes, check, data, files, likelihood, losses, metrics, models, plot, runtime, train, yardstick
from .data import load_mnist
from .runtime import budget, describe_device, get_device, glue, quick_mode, seed_everything
from .train import History, fit

__version__ = "0.1.0"
__all__ = ["anomaly", "attributes", "data", "files", "likelihood", "losses", "metrics", "models", "plot", "runtime", "train", "yardstick", "load_mnist",
           "budget", "describe_device", "get_device", "glue", "quick_mode", "seed_everything", "History", "fit"]
