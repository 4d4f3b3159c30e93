"""The yardstick for generated images: a small MNIST classifier that ships with the package, and two scores on it.

- :func:`classifier_confidence`: the classifier's mean top-class probability on a set of images. Real test digits
  score close to 1 and blends of two digits lower, but uniform noise also scores close to 1 (the classifier is sure
  it sees an 8; tested): never report confidence without the distance below.
- :func:`frechet_distance`: the Fréchet distance between Gaussians fitted to the classifier's 128 features of two
  image sets (the idea of FID, Heusel et al. 2017, with an MNIST classifier in place of Inception). It is never
  exactly 0 for two finite samples, so always report its floor beside it: real training vs real test images.
- :func:`label_entropy`: the entropy of the histogram of the labels the classifier gives a set of images, ln 10 when
  all ten digits are equally common; a generator that forgets some digits (mode collapse) scores lower.
- :func:`sample_scores`: the Generation chapters' scores of one set of generated images in one call.

The classifier is trained by ``scripts/train_classifier.py`` and shipped as a state dict with its sha256; it is
loaded with ``torch.load(weights_only=True)``, which reads tensors and never runs code from the file.
"""
from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import torch
from torch import Tensor, nn

from .metrics import eval_mode, laplacian_variance, model_device
from .validation import check_images, check_positive_int

CLASSIFIER_PATH = Path(__file__).parent / "mnist_data" / "classifier.pt"
CLASSIFIER_SHA256 = "614f18e7d2067664233e4f259438e3504da1d334a884fd52625b0832a4e1aa18"
FEATURES = 128


class DigitClassifier(nn.Module):
    """Three conv blocks and two linear layers; ``features(x)`` is the 128-number layer the scores compare."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),    # -> 32 x 14 x 14
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),   # -> 64 x 7 x 7
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),   # -> 64 x 3 x 3
            nn.Flatten(),                                                                      # -> 576
            nn.Linear(64 * 3 * 3, FEATURES), nn.ReLU(),                                        # -> 128 features
        )
        self.head = nn.Linear(FEATURES, 10)                                                    # -> 10 logits

    def features(self, x: Tensor) -> Tensor:
        """``(N, 1, 28, 28)`` images in ``[0, 1]`` to ``(N, 128)`` features."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 1, 28, 28)`` images to ``(N, 10)`` logits."""
        return self.head(self.body(x))


@functools.lru_cache(maxsize=1)
def _load_state(path: Path, sha256: str) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"classifier weights not found at {path}; they ship with aecourse "
                                "(rebuild them with scripts/train_classifier.py)")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise ValueError(f"classifier weights {path} are corrupted or not the expected version: sha256 {digest}, "
                         f"expected {sha256}. Reinstall aecourse or rebuild them with scripts/train_classifier.py.")
    return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)


def load_classifier(device: torch.device | str | None = None, *, path: Path | str | None = None,
                    sha256: str | None = None) -> DigitClassifier:
    """The shipped classifier, checksum-verified, in eval mode, on ``device`` (default: the CPU)."""
    model = DigitClassifier()
    state = _load_state(Path(path) if path is not None else CLASSIFIER_PATH,
                        sha256 if sha256 is not None else CLASSIFIER_SHA256)
    model.load_state_dict(state)
    return model.eval().to("cpu" if device is None else device)


def _in_batches(classifier: nn.Module, images: Tensor, fn, batch_size: int = 1000) -> Tensor:
    check_images(images)
    check_positive_int(batch_size, "batch_size")
    device = model_device(classifier)
    with eval_mode(classifier):
        return torch.cat([fn(batch.to(device)).double().cpu() for batch in images.split(batch_size)])


def classifier_features(images: Tensor, classifier: DigitClassifier | None = None) -> Tensor:
    """The classifier's ``(N, 128)`` features of ``images`` ``(N, 1, 28, 28)`` in ``[0, 1]``, in float64."""
    classifier = load_classifier() if classifier is None else classifier
    return _in_batches(classifier, images, classifier.features)


def classifier_confidence(images: Tensor, classifier: DigitClassifier | None = None) -> float:
    """Mean over ``images`` of the classifier's top-class probability: near 1 for clear digits."""
    classifier = load_classifier() if classifier is None else classifier
    probabilities = _in_batches(classifier, images, lambda x: classifier(x).softmax(dim=1))
    return float(probabilities.max(dim=1).values.mean())


def gaussian_frechet_distance(mean_a: Tensor, cov_a: Tensor, mean_b: Tensor, cov_b: Tensor) -> float:
    """Squared 2-Wasserstein (Fréchet) distance between N(mean_a, cov_a) and N(mean_b, cov_b):
    ``|mean_a - mean_b|^2 + tr(cov_a + cov_b - 2 (cov_a^1/2 cov_b cov_a^1/2)^1/2)``, computed in float64."""
    mean_a, cov_a, mean_b, cov_b = (t.double() for t in (mean_a, cov_a, mean_b, cov_b))
    d = mean_a.shape[0]
    if mean_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise ValueError(f"expected means (d,) and covariances (d, d), got {tuple(mean_a.shape)}, "
                         f"{tuple(cov_a.shape)}, {tuple(mean_b.shape)}, {tuple(cov_b.shape)}")
    root_a = _psd_sqrt(cov_a)
    cross = _psd_sqrt(root_a @ cov_b @ root_a)   # symmetric: its trace equals tr((cov_a cov_b)^1/2)
    distance = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross.trace()
    return max(float(distance), 0.0)   # the distance is >= 0; a value just below comes from rounding


def _psd_sqrt(matrix: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues from rounding -> 0)."""
    matrix = (matrix + matrix.T) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance(features_a: Tensor, features_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features ``(N, d)`` and ``(M, d)``."""
    for name, features in (("features_a", features_a), ("features_b", features_b)):
        if not isinstance(features, Tensor) or features.ndim != 2 or len(features) < 2:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"{name} must be a (N, d) tensor with N >= 2, got {shape}")
        if not bool(torch.isfinite(features).all()):
            raise ValueError(f"{name} holds NaN or inf")
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"the two feature sets differ in width: {features_a.shape[1]} and {features_b.shape[1]}")
    a, b = features_a.double(), features_b.double()
    return gaussian_frechet_distance(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))


def label_histogram(images: Tensor, classifier: DigitClassifier | None = None) -> Tensor:
    """Share of ``images`` ``(N, 1, 28, 28)`` the classifier labels 0, 1, ..., 9: ``(10,)`` float64, summing to 1."""
    classifier = load_classifier() if classifier is None else classifier
    labels = _in_batches(classifier, images, lambda x: classifier(x).argmax(dim=1)).long()
    return torch.bincount(labels, minlength=10).double() / len(labels)


def histogram_entropy(shares: Tensor) -> float:
    """Entropy in nats of a histogram ``(K,)`` of shares summing to 1 (empty bins count 0): ``ln K`` when uniform."""
    if not isinstance(shares, Tensor) or shares.ndim != 1 or not shares.numel():
        raise ValueError(f"expected a (K,) tensor of shares, got "
                         f"{tuple(shares.shape) if isinstance(shares, Tensor) else type(shares).__name__}")
    shares = shares.double()
    if not bool(torch.isfinite(shares).all()) or bool((shares < 0).any()) or abs(float(shares.sum()) - 1) > 1e-6:
        raise ValueError(f"shares must be finite, non-negative and sum to 1, got sum {float(shares.sum()):.6g}")
    seen = shares[shares > 0]
    return float(-(seen * seen.log()).sum())


def label_entropy(images: Tensor, classifier: DigitClassifier | None = None) -> float:
    """Entropy (nats) of the classifier's label histogram of ``images``: ln 10 = 2.30 when every digit is as common."""
    return histogram_entropy(label_histogram(images, classifier))


def sample_scores(images: Tensor, reference_features: Tensor,
                  classifier: DigitClassifier | None = None) -> dict[str, float]:
    """The yardstick's scores of generated ``images`` ``(N, 1, 28, 28)`` in ``[0, 1]`` against real images.

    ``reference_features`` are :func:`classifier_features` of real test images (the Generation chapters use 5,000).
    Returns ``fd`` (Fréchet distance, lower is better; report its floor, real training images scored the same way),
    ``confidence`` (mean top-class probability), ``entropy`` (:func:`label_entropy`, nats) and ``sharpness``
    (mean :func:`aecourse.metrics.laplacian_variance`; real test digits score about 0.18). One classifier pass.
    """
    classifier = load_classifier() if classifier is None else classifier
    features = classifier_features(images, classifier)
    with torch.no_grad():
        logits = classifier.head(features.to(model_device(classifier), next(classifier.parameters()).dtype))
    probabilities = logits.double().softmax(dim=1).cpu()
    shares = torch.bincount(probabilities.argmax(dim=1), minlength=10).double() / len(images)
    return {"fd": frechet_distance(features, reference_features),
            "confidence": float(probabilities.max(dim=1).values.mean()),
            "entropy": histogram_entropy(shares),
            "sharpness": float(laplacian_variance(images).mean())}
