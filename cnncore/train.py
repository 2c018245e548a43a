"""The Trainer: epochs over preloaded batches, evaluation, events, and live control.

One Trainer serves the CLI (a tqdm bar listens to its events) and the app (a background job
listens). Between batches it honours a ``TrainControl``: stop, pause/resume, learning-rate change.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cnncore.data import Dataset, Split, to_float
from cnncore.errors import UserError
from cnncore.models import MODEL_NAMES, ConvNet, build_model

OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("auto", "bf16", "fp32")
EVAL_BATCH = 1024
MAX_LR = 10.0  # far above any useful rate for these models; mid-run changes obey it too
MAX_SEED = 2**32 - 1  # numpy's range: a seed that every generator here accepts
# 4,096 images per batch: ~0.7 GB of ConvNet activations (the issue measured ~9 GB at 50,000), and
# still 12 steps per epoch on the 50,000-image split; the lesson uses 256. A server's settings
# may set a lower cap.
MAX_BATCH_SIZE = 4096


@dataclass
class TrainConfig:
    """Everything that decides a training run. Defaults are the lesson's."""

    model: str = "convnet"  # a key of cnncore.models.MODEL_NAMES
    epochs: int = 3  # passes over the training split
    lr: float = 1e-3  # learning rate (the lesson's Adam default)
    batch_size: int = 256  # the lesson's batch size
    optimizer: str = "adam"  # "adam", or "sgd" (momentum 0.9)
    seed: int = 0  # initial weights and batch order; same seed + data + precision -> same run
    precision: str = (
        "auto"  # "auto" (bf16 autocast on CPUs with fast bf16, else fp32), "bf16", "fp32"
    )
    device: str = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda"
    max_batches: int = 0  # >0: stop each epoch after this many batches (tiny-budget/test mode)
    augment_shift: int = 0  # >0: shift each training image by a random (dx, dy) in [-s, s]

    def validate(self) -> TrainConfig:
        """Check every field; raise UserError naming the first bad one and what is allowed."""
        checks = [
            (self.model in MODEL_NAMES, f"model must be one of {', '.join(MODEL_NAMES)}"),
            (_is_int(self.epochs) and self.epochs >= 1, "epochs must be a whole number >= 1"),
            (_lr_ok(self.lr), LR_RULE),
            (
                _is_int(self.batch_size) and 1 <= self.batch_size <= MAX_BATCH_SIZE,
                f"batch size must be a whole number from 1 to {MAX_BATCH_SIZE}",
            ),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (
                _is_int(self.seed) and 0 <= self.seed <= MAX_SEED,
                f"seed must be a whole number from 0 to {MAX_SEED}",
            ),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (self.device in ("auto", "cpu", "cuda"), "device must be auto, cpu or cuda"),
            (_is_int(self.max_batches) and self.max_batches >= 0, "max_batches must be >= 0"),
            (
                _is_int(self.augment_shift) and 0 <= self.augment_shift <= 8,
                "augment_shift must be a whole number from 0 to 8",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UserError(
                "device cuda was asked for, but no CUDA GPU is available; use auto or cpu"
            )
        return self

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


LR_RULE = f"learning rate must be a number > 0 (and at most {MAX_LR:g})"


def _lr_ok(lr) -> bool:
    return _is_num(lr) and math.isfinite(lr) and 0 < lr <= MAX_LR


def warm_up() -> None:
    """Pay once, ahead of time, what a process's first optimizer costs: building one imports
    ``torch._dynamo`` (about 2 s on a 2-core AMD EPYC), which a first run would otherwise spend
    before its first batch. Idempotent and cheap after the first call."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matrix instructions (AMX or AVX-512 BF16). A hint only:
    ``auto`` precision is decided by measuring (``cnncore.speed.auto_precision``)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: torch.device, threads: int | None = None) -> str:
    """ "auto" -> what measured faster on this machine for a training step of the ConvNet
    (bf16 only where it is at least 10% faster than fp32; see ``cnncore.speed``)."""
    if precision != "auto":
        return precision
    from cnncore.speed import auto_precision

    return auto_precision(device, threads)[0]


def init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw the model's initial weights from ``generator`` with torch's own default
    initialisation (``reset_parameters`` of Conv and Linear: Kaiming-uniform weights with
    a=sqrt(5), biases uniform in +-1/sqrt(fan_in)), so a run's weights depend on its own seed
    only, never on the global generator another thread may be drawing from at the same time.
    Modules whose parameters start from constants (norms) keep them."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` for a one-channel image (the ConvNets' first layer) that trains faster on
    CPU: while gradients are being taken, in fp32 and without autocast, it runs PyTorch's own
    im2col + GEMM convolution (``thnn_conv2d``, the one PyTorch uses when oneDNN is off) instead
    of oneDNN, whose training-mode kernel for a single input channel is slow on AVX2 CPUs.
    Measured on a 2-core AMD EPYC (forward + backward of 256 images, best of 9): 12.0 vs 18.3 ms
    on 1 thread, 7.3 vs 11.7 ms on 2. Same sums, other order: results equal up to float
    rounding. Evaluation (no gradients) keeps oneDNN, which is the faster one there. Named
    ``Conv2d`` like its parent, so what names layers by class (feature maps, the pages) sees
    the same layer as before."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            self.padding_mode == "zeros"
            and self.groups == 1
            and self.dilation == (1, 1)
            and x.device.type == "cpu"
            and x.dtype == self.weight.dtype == torch.float32
            and torch.is_grad_enabled()
            and self.weight.requires_grad
            and not torch.is_autocast_enabled("cpu")
        ):
            return torch._C._nn.thnn_conv2d(
                x, self.weight, self.kernel_size, self.bias, self.stride, self.padding
            )
        return super().forward(x)


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The model on ``device``, in the layout that trains fastest there. On CPU, a ConvNet
    without pooling (the lesson's) computes in channels-last memory
    (``ConvNet._forward_channels_last``); in the others, the first convolution (one input
    channel) trains through ``cnncore.train.Conv2d``. Measured on a 2-core AMD EPYC, one
    training step of 256 images, paired with the previous code: channels-last about 1.18x as
    fast on 2 threads and 1.09x on 1 thread (its convolutions need no layout conversions, and
    oneDNN's channels-last kernels for both layers are faster in training than the default
    path's, most of all on 1 thread). Parameters and state_dict are unchanged."""
    if device.type == "cpu" and isinstance(model, ConvNet) and model.supports_channels_last:
        model.channels_last = True
    elif device.type == "cpu" and hasattr(torch._C._nn, "thnn_conv2d"):
        for m in model.modules():
            if type(m) is nn.Conv2d and m.in_channels == 1:
                m.__class__ = Conv2d
    return model.to(device)


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@dataclass
class Event:
    """Something the Trainer reports. ``kind``: start, batch, epoch, lr, pause, resume, end."""

    kind: str
    step: int  # batches done so far (over all epochs)
    epoch: int  # 1-based
    values: dict = field(default_factory=dict)


def cpu_seconds() -> float:
    """CPU time that trains: the calling thread's with one intra-op thread (in the app, a job's
    worker shares its process with page threads), else the whole process's."""
    return time.thread_time() if torch.get_num_threads() == 1 else time.process_time()


def cpu_share(cpu_started: float, seconds: float) -> float:
    """The fraction of ``seconds`` of training (pauses left out) that its threads had a core
    each: about 1 on a quiet machine, lower when other work took the cores."""
    threads = torch.get_num_threads()
    return (cpu_seconds() - cpu_started) / max(seconds * threads, 1e-9)


class TrainControl:
    """Thread-safe requests the Trainer honours between batches."""

    def __init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._lock = threading.Lock()
        self._lr: float | None = None

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused trainer so it can stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def set_lr(self, lr: float) -> None:
        if not _lr_ok(lr):
            raise UserError(LR_RULE)
        with self._lock:
            self._lr = float(lr)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def take_lr(self) -> float | None:
        with self._lock:
            lr, self._lr = self._lr, None
        return lr

    def wait_while_paused(self) -> None:
        self._running.wait()


@dataclass
class TrainResult:
    status: str  # "finished", "stopped" (by the user) or "diverged" (loss became NaN/inf)
    message: str
    model: nn.Module
    metrics: pd.DataFrame  # one row per recorded event (see Trainer.metrics)
    val_loss: float | None
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    images_per_s: float
    seconds: float
    precision: str = ""  # what was actually used: "bf16" or "fp32"
    device: str = ""


@torch.no_grad()
def evaluate(
    model: nn.Module, split: Split, device: torch.device | None = None, precision: str = "fp32"
) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in [0, 1]) of a model on a split, in batches."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(split), EVAL_BATCH):
        x = to_float(split.images[start : start + EVAL_BATCH]).to(device)
        y = split.labels[start : start + EVAL_BATCH].to(device)
        with autocast(device, precision):
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    model.train(was_training)
    n = max(len(split), 1)
    return total_loss / n, correct / n


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities float [N, 10] for uint8 or float images [N, 1, 28, 28]."""
    device = next(model.parameters()).device
    x = to_float(images) if images.dtype == torch.uint8 else images.float()
    was_training = model.training
    model.eval()
    out = (
        torch.cat(
            [
                F.softmax(model(x[i : i + EVAL_BATCH].to(device)).float(), dim=1).cpu()
                for i in range(0, len(x), EVAL_BATCH)
            ]
        )
        if len(x)
        else torch.empty(0, 10)
    )
    model.train(was_training)
    return out


class Trainer:
    """Trains ``config.model`` (or a given model) on ``data``; emits Events to ``on_event``.

    ``metrics`` collects one dict per row of the run's metrics.csv:
    step, epoch, kind (train/val/test/lr/pause/resume/stop), loss, accuracy, lr, seconds.
    """

    def __init__(
        self,
        config: TrainConfig,
        data: Dataset,
        model: nn.Module | None = None,
        on_event: Callable[[Event], None] | None = None,
        control: TrainControl | None = None,
        resume: dict | None = None,
    ):
        self.config = config.validate()
        self.data = data
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        # One generator per run, for its initial weights, batch order and augmentation: two runs
        # with one seed give the same weights even when they train at the same time.
        self.generator = torch.Generator().manual_seed(config.seed)
        if model is None:
            model = init_weights(build_model(config.model), self.generator)
        self.model = prepare_model(model, self.device)
        self.on_event = on_event or (lambda event: None)
        self.control = control or TrainControl()
        self.metrics: list[dict] = []
        params = self.model.parameters()
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=config.lr)
        else:
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=0.9)
        self._train_x = to_float(data.train.images).to(self.device)
        self._train_y = data.train.labels.to(self.device)
        n = len(data.train)
        per_epoch = math.ceil(n / config.batch_size)
        self.batches_per_epoch = (
            min(per_epoch, config.max_batches) if config.max_batches else per_epoch
        )
        self.total_batches = self.batches_per_epoch * config.epochs
        self.step = 0
        self._started = 0.0
        self._paused_seconds = 0.0
        # Resuming an interrupted run (``cnncore.runs.RunStore.resume`` reads the state its last
        # epoch end saved): the weights, optimizer and generator as they were, so the remaining
        # epochs are the ones an uninterrupted run would have trained, bit for bit.
        self.first_epoch, self._seconds_before, self._val = 1, 0.0, (None, None)
        if resume is not None:
            self.model.load_state_dict(resume["model"])
            self.optimizer.load_state_dict(resume["optimizer"])
            self.generator.set_state(resume["generator"])
            self.step, self.first_epoch = int(resume["step"]), int(resume["epoch"]) + 1
            self._seconds_before = float(resume.get("seconds") or 0.0)
            self._val = (resume.get("val_loss"), resume.get("val_accuracy"))
            self.metrics = [dict(row) for row in resume.get("metrics", [])]

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _record(self, kind: str, epoch: int, loss=None, accuracy=None, **values) -> None:
        row = {
            "step": self.step,
            "epoch": epoch,
            "kind": kind,
            "loss": loss,
            "accuracy": accuracy,
            "lr": self.lr,
            "seconds": round(self._seconds_before + self._elapsed(), 3),
        }
        self.metrics.append(row)
        self.on_event(Event(kind, self.step, epoch, {**row, **values}))

    def _elapsed(self) -> float:
        return time.perf_counter() - self._started - self._paused_seconds if self._started else 0.0

    def _between_batches(self, epoch: int) -> bool:
        """Apply control requests; True if training should stop."""
        lr = self.control.take_lr()
        if lr is not None and lr != self.lr:
            old = self.lr
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self._record("lr", epoch, old_lr=old)
        if self.control.paused and not self.control.stop_requested:
            self._record("pause", epoch)
            paused_at = time.perf_counter()
            self.control.wait_while_paused()
            self._paused_seconds += time.perf_counter() - paused_at
            self._record("resume", epoch)
        return self.control.stop_requested

    def run(self) -> TrainResult:
        cfg, model = self.config, self.model
        gen = self.generator
        self._started = time.perf_counter()
        cpu_started = cpu_seconds()
        self._record(
            "start",
            0,
            total_batches=self.total_batches,
            precision=self.precision,
            device=str(self.device),
            resumed_after=self.first_epoch - 1,
        )
        status, message = "finished", ""
        (val_loss, val_acc), epoch = self._val, cfg.epochs
        images = 0
        model.train()
        for epoch in range(self.first_epoch, cfg.epochs + 1):
            order = torch.randperm(len(self._train_y), generator=gen).to(self.device)
            for b in range(self.batches_per_epoch):
                if self._between_batches(epoch):
                    status, message = "stopped", f"stopped by the user after {self.step} batches"
                    break
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                x, y = self._train_x[idx], self._train_y[idx]
                if cfg.augment_shift:
                    from cnncore.invariance import random_shift

                    x = random_shift(x, cfg.augment_shift, gen)
                with autocast(self.device, self.precision):
                    loss = F.cross_entropy(model(x).float(), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.step += 1
                images += len(idx)
                loss_value = loss.item()
                rate = images / max(self._elapsed(), 1e-9)
                self._record(
                    "train",
                    epoch,
                    loss_value,
                    batch=b + 1,
                    batches_per_epoch=self.batches_per_epoch,
                    total_batches=self.total_batches,
                    images_per_s=rate,
                    seconds_left=(self.total_batches - self.step) * cfg.batch_size / rate,
                )
                if not math.isfinite(loss_value):
                    status = "diverged"
                    message = (
                        f"the loss became {loss_value} at batch {self.step}; training stopped. "
                        "Try a smaller learning rate."
                    )
                    break
            if status != "finished":
                break
            val_loss, val_acc = evaluate(model, self.data.val, self.device, self.precision)
            self._record("val", epoch, val_loss, val_acc)
        test_loss = test_acc = None
        if status != "diverged":
            test_loss, test_acc = evaluate(model, self.data.test, self.device, self.precision)
            self._record("test", min(cfg.epochs, max(1, epoch)), test_loss, test_acc)
        seconds = self._elapsed()
        if status == "finished" and self.first_epoch > 1:
            message = f"finished {cfg.epochs} epoch(s), resumed after epoch {self.first_epoch - 1}"
        elif status == "finished":
            message = f"finished {cfg.epochs} epoch(s) in {seconds:.1f} s"
            from cnncore.speed import record_run

            # later estimates learn from it, if it had the CPU to itself (on a GPU the host
            # thread mostly waits, so its CPU time says nothing about sharing)
            share = cpu_share(cpu_started, seconds) if self.device.type == "cpu" else 1.0
            record_run(cfg, self.data, seconds, self.precision, cpu_share=share)
        self._record("end", epoch, status=status, message=message)
        return TrainResult(
            status,
            message,
            model,
            pd.DataFrame(self.metrics),
            val_loss,
            val_acc,
            test_loss,
            test_acc,
            images / max(seconds, 1e-9),
            seconds,
            self.precision,
            str(self.device),
        )
