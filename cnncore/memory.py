"""How much memory a training job will take, worked out before it starts; and the process's RSS.

``estimate_training_bytes(config, n_train)`` adds up what a ``Trainer`` holds:

- the float copy of the training images it makes (``n_train x 784 x 4`` bytes) and the labels;
- parameters, gradients, optimizer state (Adam: two moments; SGD: one momentum buffer) and the two
  weight copies a job publishes for the live page;
- one batch's activations: the outputs of every layer for one image (found by running the model
  on one image with forward hooks), times the batch size, times ``ACTIVATION_FACTOR`` for what
  autograd keeps for the backward pass and the gradients flowing back through it;
- a fixed ``RUNTIME_BYTES`` for the compute libraries' buffers;
- evaluation, which runs batches of ``EVAL_BATCH`` without gradients (only one layer's output and
  the next are alive at once, the larger of that and training counts).

``tests/test_memory.py`` checks it against the peak RSS a real Trainer reaches (within a factor).
"""

from __future__ import annotations

import functools
import os

import torch

from cnncore.models import build_model
from cnncore.train import EVAL_BATCH, TrainConfig

IMAGE_BYTES = 28 * 28 * 4  # one float32 image
ACTIVATION_FACTOR = 1.5  # forward outputs kept for the backward pass + the gradients through them
# The compute libraries' own buffers on a process's first training steps (thread pools, kernel
# workspaces): measured at ~150-200 MB here with a tiny batch, whatever the model.
RUNTIME_BYTES = 200_000_000


@functools.lru_cache(maxsize=16)
def _model_sizes(model_name: str) -> tuple[int, int, int]:
    """(parameter count, sum of every layer's output elements per image, largest output)."""
    model = build_model(model_name)
    params = sum(p.numel() for p in model.parameters())
    outputs: list[int] = []

    def hook(_module, inputs, output):
        shares_input = any(  # a view (Flatten) takes no memory of its own
            isinstance(i, torch.Tensor) and i.data_ptr() == output.data_ptr() for i in inputs
        )
        if isinstance(output, torch.Tensor) and not shares_input:
            outputs.append(output[0].numel())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, 28, 28))
    finally:
        for h in handles:
            h.remove()
    return params, sum(outputs), max(outputs, default=0)


def estimate_training_bytes(config: TrainConfig, n_train: int) -> int:
    """Bytes a TrainingJob for ``config`` on ``n_train`` training images will hold at its peak."""
    params, act_per_image, widest = _model_sizes(config.model)
    data = n_train * (IMAGE_BYTES + 8 + 8)  # float images, int64 labels, the shuffled order
    states = 2 if config.optimizer == "adam" else 1
    weights = params * 4 * (1 + 1 + states + 2)  # weights, grads, optimizer, 2 published copies
    batch = min(config.batch_size, max(n_train, 1))
    train = batch * (IMAGE_BYTES + act_per_image * 4 * ACTIVATION_FACTOR)
    evaluate = EVAL_BATCH * (IMAGE_BYTES + 2 * widest * 4)
    return int(RUNTIME_BYTES + data + weights + max(train, evaluate))


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (default: this one), from /proc; 0 where there is no /proc."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def mb(n_bytes: float) -> str:
    """A byte count as text: "512 MB" or "9.1 GB"."""
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"
