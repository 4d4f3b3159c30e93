"""The one training loop of the course: minibatch gradient descent on data that sits on the device."""
from __future__ import annotations

import copy
import math
import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data import minibatches
from .losses import LossFn
from .metrics import as_terms, eval_mode, evaluate, model_dtype
from .runtime import as_device, get_device
from .validation import check_choice, check_images, check_model, check_positive_int

LR_SCHEDULES = ("constant", "cosine")


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch.

    ``train["loss"][e]`` is the mean training loss over epoch ``e`` (``val`` likewise, on ``val_images``);
    other terms a ``loss_fn`` returns (a VAE's ``"kl"``) sit beside ``"loss"``. ``best_epoch`` is the epoch
    whose weights the model holds at the end (the last one, or the best validation epoch with ``patience``).
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    measured: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def epochs(self) -> int:
        return len(self.seconds)


def _append(log: dict[str, list[float]], terms: dict[str, float]) -> None:
    for name, value in terms.items():
        log.setdefault(name, []).append(value)


def _numbers(measured: dict) -> dict[str, float]:
    """``measure``'s dict as plain floats, or a clear error."""
    result = {}
    for name, value in measured.items():
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"measure must return a dict of numbers; entry {name!r} is {type(value).__name__}")
        if not math.isfinite(value):
            raise FloatingPointError(f"measure returned {name!r} = {value}")
        result[name] = float(value)
    return result


# On a GPU, fit records one training step of a loss marked graph_safe as a CUDA graph and replays it for every
# full batch (see _GraphedStep). False trains step by step everywhere (to compare, or to rule the graph out).
CUDA_GRAPHS = True
_EAGER_STEPS_BEFORE_GRAPH = 3   # real steps first: the optimizer's state and the GPU libraries' workspaces exist


def _adamw(params: list[nn.Parameter], lr: float | Tensor, weight_decay: float, *,
           capturable: bool = False) -> torch.optim.Optimizer:
    """AdamW, with the fused kernel where the device has one: it updates every parameter in one pass,
    which on a 2-core CPU makes an MLP autoencoder's epoch about a quarter faster. ``capturable`` (a GPU, with ``lr``
    a tensor on it) keeps the step count and learning rate on the GPU, so that a CUDA graph can replay the update."""
    extra = {"capturable": True} if capturable else {}
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True, **extra)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **extra)


def fit(model: nn.Module, loss_fn: LossFn, train_images: Tensor, *, epochs: int, batch_size: int = 128,
        lr: float = 1e-3, val_images: Tensor | None = None, weight_decay: float = 0.0,
        lr_schedule: str = "constant", patience: int | None = None, seed: int = 0,
        device: torch.device | str | None = None, progress: bool = True,
        measure: Callable[[nn.Module], dict[str, float]] | None = None) -> History:
    """Train ``model`` to minimise ``loss_fn(model, batch)`` over ``train_images`` ``(N, 1, 28, 28)`` in ``[0, 1]``.

    Adam(W) with learning rate ``lr`` and decoupled ``weight_decay``; ``lr_schedule="cosine"`` anneals it to 0
    over the run. Each epoch visits every image once, in batches of ``batch_size`` (a last batch of one image joins
    the batch before it), in an order drawn from a generator seeded with ``seed``. ``seed`` also seeds every random
    draw made during training (dropout, a VAE's noise) without touching the global generator: a rerun with the same
    ``seed`` and the same initial weights (build the model after ``seed_everything``) repeats exactly on the CPU.
    ``loss_fn`` returns a scalar tensor or a dict of scalars with a ``"loss"`` entry (the one minimised).
    With ``val_images``, the validation loss is measured after every epoch; with ``patience`` as well, training
    stops after that many epochs without improvement and the model is left with its best weights.
    The model and data are moved to ``device`` (default: :func:`aecourse.get_device`). ``measure(model)``, if given,
    runs after every epoch with the model in eval mode and without gradients; the dict of numbers it returns is
    appended to ``History.measured`` (e.g. a test metric other than the loss). A loss term, validation term or
    measurement that becomes NaN or inf stops training with ``FloatingPointError``. Returns a :class:`History`.
    On a CUDA GPU, a ``loss_fn`` marked :func:`aecourse.losses.graph_safe` (the course's losses are) trains from one
    recorded CUDA graph after a few ordinary steps: the same arithmetic, many times fewer launches.
    """
    check_model(model)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(model, batch) -> loss, got {type(loss_fn).__name__}")
    if measure is not None and not callable(measure):
        raise TypeError(f"measure must be a function of the model returning a dict, got {type(measure).__name__}")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_choice(lr_schedule, "lr_schedule", LR_SCHEDULES)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr must be a positive number, got {type(lr).__name__} {lr!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise TypeError(f"weight_decay must be a non-negative number, got {type(weight_decay).__name__}")
    if not 0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if patience is not None:
        check_positive_int(patience, "patience")
        if val_images is None:
            raise ValueError("patience (early stopping) needs val_images to watch")
    device = get_device() if device is None else as_device(device)
    dtype = model_dtype(model)
    train_images = check_images(train_images, "train_images", dtype=dtype).to(device)
    if val_images is not None:
        val_images = check_images(val_images, "val_images", dtype=dtype).to(device)
    if any(isinstance(m, nn.BatchNorm1d) for m in model.modules()) and min(batch_size, len(train_images)) < 2:
        raise ValueError("a model with BatchNorm1d needs batches of at least 2 images (it normalises each feature "
                         f"over the batch); got batch_size={batch_size} and {len(train_images)} training images")
    model.to(device)
    if device.type == "cpu" and any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        # oneDNN's convolutions run about twice as fast on channels-last weights on a CPU (measured for the
        # ConvAutoencoder decoders); results are the same up to float rounding. GPUs keep the default layout.
        model.to(memory_format=torch.channels_last)

    # Every random draw during training (dropout masks, a VAE's noise) comes from `seed`, so a rerun with the same
    # seed and the same initial weights repeats exactly; the learner's own generators are left as they were.
    with _seeded_draws(seed, device), warnings.catch_warnings():
        # PyTorch warns that the gradient accumulators' streams differ between the steps before a CUDA graph and
        # the graph; the steps wait for each other, and graph and step by step train alike (tests/test_train.py)
        warnings.filterwarnings("ignore", message="The AccumulateGrad node's stream does not match",
                                category=UserWarning)
        with torch.cuda.device(device) if device.type == "cuda" else nullcontext():   # record on that GPU
            return _train(model, loss_fn, train_images, val_images, epochs=epochs, batch_size=batch_size, lr=lr,
                          weight_decay=weight_decay, lr_schedule=lr_schedule, patience=patience, seed=seed,
                          device=device, progress=progress, measure=measure)


@contextmanager
def _seeded_draws(seed: int, device: torch.device) -> Iterator[None]:
    """Inside the block, the CPU generator and ``device``'s generator are seeded from ``seed``; after it, both are
    back where they were. Only the device trained on is forked and seeded: other GPUs are not touched."""
    # fork_rng(device_type=None) fails on torch <= 2.11, so the CPU case leaves device_type at its default
    forked = (torch.random.fork_rng(devices=[device], device_type=device.type) if device.type in ("cuda", "mps")
              else torch.random.fork_rng(devices=[]))
    with forked:
        # a stream of its own: seed_everything(seed) before building the model used `seed` for the weights
        stream = seed + 0x5EED
        torch.random.default_generator.manual_seed(stream)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(stream)
        elif device.type == "mps":
            torch.mps.manual_seed(stream)
        yield


def _epoch_batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> list[Tensor]:
    """One epoch's index batches; a last batch of a single image joins the one before it, because BatchNorm cannot
    normalise one sample (and one image's gradient is mostly noise). Every image is still visited once."""
    batches = list(minibatches(n, batch_size, generator=generator, device=device))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _check_finite(terms: dict[str, float], where: str, lr: float) -> None:
    for name, value in terms.items():
        if not math.isfinite(value):
            raise FloatingPointError(f"{where} {name!r} became {value}; try a smaller lr (now {lr}) or check loss_fn "
                                     "(a log of 0, a division by 0, or weights that are already NaN)")


class _GraphedStep:
    """One training step (loss, backward, optimizer update, running sums of the loss terms) for batches of one size,
    recorded once as a CUDA graph and replayed: one launch per step instead of the dozens a small model's step makes,
    each of which costs the host more time than the GPU spends on it.

    The graph reads the batch through ``self.idx``, a fixed index tensor that :meth:`step` refills; the terms the
    loss returned are summed (times the batch size) into ``self.totals`` inside the graph.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, optimizer: torch.optim.Optimizer, images: Tensor,
                 idx: Tensor, names: Iterable[str], dtype: torch.dtype) -> None:
        self.idx, self.batch_size = idx.clone(), len(idx)
        # allocated before recording (a tensor made inside the graph would be made afresh at every replay), in the
        # dtype the step by step loop sums the terms in
        self.totals = {name: torch.zeros((), dtype=dtype, device=images.device) for name in names}
        self.graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)   # the gradients are then allocated in the graph's own memory
        with torch.cuda.graph(self.graph):
            terms = as_terms(loss_fn(model, images[self.idx]), expected=self.totals.keys())
            terms["loss"].backward()
            optimizer.step()
            for name, value in terms.items():
                self.totals[name].add_(value.detach() * self.batch_size)
        del terms, value   # the recorded autograd graph is no longer needed: the eager steps must not meet its nodes

    def reset(self) -> None:
        for total in self.totals.values():
            total.zero_()

    def step(self, idx: Tensor) -> None:
        self.idx.copy_(idx)
        self.graph.replay()


def _cosine_lr(base: float, step: int, total_steps: int) -> float:
    """CosineAnnealingLR's learning rate after ``step`` of ``total_steps`` steps (eta_min 0), in closed form."""
    return base * (1 + math.cos(math.pi * step / total_steps)) / 2


def _train(model: nn.Module, loss_fn: LossFn, train_images: Tensor, val_images: Tensor | None, *, epochs: int,
           batch_size: int, lr: float, weight_decay: float, lr_schedule: str, patience: int | None, seed: int,
           device: torch.device, progress: bool, measure: Callable[[nn.Module], dict[str, float]] | None) -> History:
    """The loop itself, for arguments :func:`fit` has checked."""
    n = len(train_images)
    batches = math.ceil(n / batch_size)
    steps_per_epoch = batches - (batches > 1 and n - (batches - 1) * batch_size == 1)   # as _epoch_batches merges
    # A CUDA graph replays the learning rate it recorded, so with a graph the rate is a tensor on the GPU that the
    # loop sets before each step; the step by step loop lets PyTorch's scheduler set it.
    graphing = (CUDA_GRAPHS and device.type == "cuda" and getattr(loss_fn, "graph_safe", False)
                and n // batch_size > _EAGER_STEPS_BEFORE_GRAPH)
    lr_tensor = torch.tensor(float(lr), device=device) if graphing else None
    optimizer = _adamw(list(model.parameters()), lr if lr_tensor is None else lr_tensor, weight_decay,
                       capturable=graphing)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
                 if lr_schedule == "cosine" and not graphing else None)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    best_val, best_state, since_best = math.inf, None, 0
    graphed: _GraphedStep | None = None
    eager_steps, global_step = 0, 0
    term_names: list[str] = []               # what the loss returned on its first step, kept for the graph
    term_dtype = train_images.dtype
    # the steps before the recording run on a side stream, as PyTorch's CUDA-graph recipe asks
    side_stream = torch.cuda.Stream(device) if graphing else None

    bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        totals: dict[str, Tensor] = {}
        if graphed is not None:
            graphed.reset()
        for idx in _epoch_batches(len(train_images), batch_size, generator, device):
            if lr_tensor is not None and lr_schedule == "cosine":
                lr_tensor.fill_(_cosine_lr(lr, global_step, epochs * steps_per_epoch))
            global_step += 1
            if graphing and graphed is None and eager_steps >= _EAGER_STEPS_BEFORE_GRAPH and len(idx) == batch_size:
                stream = torch.cuda.current_stream(device)
                try:
                    graphed = _GraphedStep(model, loss_fn, optimizer, train_images, idx, term_names, term_dtype)
                except Exception as error:  # a loss that cannot be recorded trains step by step, as before
                    # a failed recording can leave PyTorch's recording stream current: go back to the one we had
                    torch.cuda.set_stream(stream)
                    optimizer.zero_grad(set_to_none=True)   # drop what the recording allocated
                    graphing = False
                    warnings.warn(f"fit: this loss could not be recorded as a CUDA graph ({type(error).__name__}: "
                                  f"{error}); training step by step instead", RuntimeWarning, stacklevel=3)
            if graphed is not None and len(idx) == graphed.batch_size:
                graphed.step(idx)
                continue
            before_graph = graphing and graphed is None
            if before_graph:
                side_stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side_stream) if before_graph else nullcontext():
                terms = as_terms(loss_fn(model, train_images[idx]), expected=totals.keys() if totals else None)
                if not terms["loss"].requires_grad:
                    raise ValueError("loss_fn's 'loss' carries no gradient: it was computed under torch.no_grad(), "
                                     "detached, or rebuilt from .item()/numpy; return the tensor the model's output "
                                     "produced")
                # a graph recorded the gradients in its own memory: zero them there rather than dropping them
                optimizer.zero_grad(set_to_none=graphed is None)
                terms["loss"].backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                for name, value in terms.items():  # summed on the device: no GPU sync per step
                    totals[name] = totals.get(name, 0.0) + value.detach() * len(idx)
                if not term_names:
                    term_names, term_dtype = list(terms), terms["loss"].dtype
                del terms, value   # nothing may keep this step's autograd graph alive into a recording
            if before_graph:
                torch.cuda.current_stream(device).wait_stream(side_stream)
            eager_steps += 1
        if graphed is not None:
            for name, total in graphed.totals.items():
                totals[name] = totals.get(name, 0.0) + total
        train_terms = {name: float(total) / len(train_images) for name, total in totals.items()}
        _check_finite(train_terms, f"in epoch {epoch + 1}, the training term", lr)
        _append(history.train, train_terms)
        postfix = {"train": f"{train_terms['loss']:.4g}"}
        if val_images is not None:
            val_terms = evaluate(model, loss_fn, val_images)   # raises FloatingPointError for NaN or inf
            _append(history.val, val_terms)
            postfix["val"] = f"{val_terms['loss']:.4g}"
        history.seconds.append(time.perf_counter() - start)
        if measure is not None:
            with eval_mode(model):
                measured = measure(model)
            if not isinstance(measured, dict):
                raise TypeError(f"measure must return a dict of numbers, got {type(measured).__name__}")
            history.measured.append(_numbers(measured))
        bar.set_postfix(postfix)

        if patience is None:
            history.best_epoch = epoch
            continue
        if history.val["loss"][-1] < best_val:
            best_val, since_best, history.best_epoch = history.val["loss"][-1], 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
