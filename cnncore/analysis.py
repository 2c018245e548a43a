"""What a trained (or training) model shows a learner: smoothed curves, its first-layer filters,
feature maps of one digit, the confusion matrix, per-class accuracy and its worst mistakes.

Pure functions over tensors and DataFrames; ``cnncore.plots.training`` draws what these return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from cnncore.data import Split
from cnncore.models import BlurPool, ConvNet, FCNet, build_model, standardize
from cnncore.train import predict_proba


def ema_debiased(values: list[float], weight: float) -> list[float]:
    """TensorBoard-style smoothing: ``s_t = w * s_(t-1) + (1 - w) * x_t`` with ``s_0 = 0``,
    divided by ``1 - w^t`` so the start is not pulled towards zero. ``weight`` in [0, 1); 0 is
    no smoothing. Non-finite values (a diverged loss) are passed through and not smoothed in."""
    if not 0 <= weight < 1:
        raise ValueError("smoothing weight must be in [0, 1)")
    out, s, n = [], 0.0, 0
    for x in values:
        if x is None or not math.isfinite(x):
            out.append(x)
            continue
        n += 1
        s = weight * s + (1 - weight) * x
        out.append(s / (1 - weight**n))
    return out


def model_from_state(name: str, state: dict[str, torch.Tensor]) -> nn.Module:
    """A ``name`` model (cnncore.models) with the given weights, in eval mode."""
    model = build_model(name)
    model.load_state_dict(state, strict=True)
    return model.eval()


def first_layer_filters(model: nn.Module) -> tuple[torch.Tensor, str]:
    """What the first layer looks for, as images: float [K, h, w] and a caption.
    ConvNet: the K 5x5 kernels of its first convolution. FCNet: the incoming weights of its first
    16 hidden units, each a 28x28 image (one "filter" the size of the whole digit)."""
    if isinstance(model, ConvNet):
        return model.first_layer_filters()[:, 0].float().cpu(), "first convolution's 5x5 kernels"
    if isinstance(model, FCNet):
        w = model.layers[1].weight.detach()[:16].float().cpu()
        return w.reshape(-1, 28, 28), "weights into the first 16 hidden units (28x28 each)"
    raise TypeError(f"no filters for {type(model).__name__}")


@torch.no_grad()
def feature_maps(model: nn.Module, image: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """(layer name, activations float [C, H, W]) after each layer, for one uint8 image
    [1, 28, 28]. FCNet's hidden layer is a vector; it is shown as a 16 x 11 grid."""
    x = image.unsqueeze(0).float().div(255.0)
    if isinstance(model, ConvNet):
        out, counts = [], {}
        for name, act in model.feature_maps(x):
            short = {"Conv2d": "conv", "MaxPool2d": "max pool"}.get(name, name)
            counts[short] = counts.get(short, 0) + 1
            out.append((f"{short} {counts[short]}", act[0].float().cpu()))
        return out
    if isinstance(model, FCNet):
        h = model.hidden_activations(x)[0].float().cpu()
        side = 11 if h.numel() % 11 == 0 else 1
        return [("hidden ReLU", h.reshape(1, -1, side))]
    raise TypeError(f"no feature maps for {type(model).__name__}")


@dataclass
class Evaluation:
    """A model on a split. ``probs``: float [N, 10]; ``preds``/``labels``: int64 [N];
    ``confusion``: int64 [10, 10], rows = true class, columns = predicted."""

    probs: torch.Tensor
    preds: torch.Tensor
    labels: torch.Tensor
    confusion: torch.Tensor

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.labels).float().mean()) if len(self.labels) else 0.0

    def per_class(self, classes: tuple[str, ...]) -> pd.DataFrame:
        """class, images, correct, accuracy."""
        total = self.confusion.sum(1)
        right = self.confusion.diag()
        acc = (right.float() / total.clamp(min=1).float()).tolist()
        return pd.DataFrame(
            {
                "class": list(classes),
                "images": total.tolist(),
                "correct": right.tolist(),
                "accuracy": acc,
            }
        )

    def mistakes(self, k: int = 12) -> list[int]:
        """Indices of up to ``k`` misclassified images, the most confidently wrong first."""
        wrong = (self.preds != self.labels).nonzero().flatten()
        confidence = self.probs[wrong, self.preds[wrong]]
        return wrong[confidence.argsort(descending=True)][:k].tolist()


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, n: int = 10) -> torch.Tensor:
    """int64 [n, n]: entry (i, j) counts images of class i predicted as j."""
    return torch.bincount(labels * n + preds, minlength=n * n).reshape(n, n)


def evaluate_split(model: nn.Module, split: Split) -> Evaluation:
    probs = predict_proba(model, split.images)
    preds = probs.argmax(1)
    labels = split.labels.cpu()
    return Evaluation(probs, preds, labels, confusion_matrix(labels, preds))


@dataclass
class FieldArithmetic:
    """How one pixel of a convolution's feature map was computed: the dot product of the kernel
    with the window of that convolution's input, plus the bias, then ReLU.

    ``window`` and ``kernel``: float [C_in, k, k] (layer 1: C_in = 1 and the window holds the
    *standardised* input pixels, since the model standardises inside; layer 2: the layer-1
    activations after ReLU (and pooling, if the model pools)). ``channel_sums``: float [C_in],
    each input channel's sum of products. The pixel's receptive field in the 28x28 input is
    rows ``top..top+size-1``, columns ``left..left+size-1``."""

    layer: int  # 1 = the first convolution, 2 = the second
    channel: int  # the output channel (which feature map)
    row: int
    col: int
    top: int
    left: int
    size: int
    window: torch.Tensor
    kernel: torch.Tensor
    channel_sums: torch.Tensor
    bias: float
    pre_activation: float  # sum of channel_sums + bias: the convolution's output
    activation: float  # after ReLU: what the feature map shows

    def top_channels(self, n: int = 3) -> list[int]:
        """The ``n`` input channels with the largest |sum| (they matter most), largest first."""
        return self.channel_sums.abs().argsort(descending=True)[:n].tolist()

    def equation(self, top: int = 3) -> str:
        """The dot product as text, like the convolution page's: layer 1 writes out all 25
        products; layer 2 writes out the ``top`` channels with the largest |sum|, sums the rest,
        then adds every channel's sum and the bias."""
        from cnncore.conv import fmt

        def products(ch: int) -> str:
            w, x = self.kernel[ch].flatten().tolist(), self.window[ch].flatten().tolist()
            pairs = zip(w, x, strict=True)
            return " + ".join(f"{fmt(k)}·{fmt(v)}" for k, v in pairs)

        pre, act = fmt(self.pre_activation, False), fmt(self.activation, False)
        if self.window.shape[0] == 1:
            lines = [f"{products(0)} + {fmt(self.bias)} (bias) = {pre}"]
        else:
            shown = self.top_channels(top)
            lines = [
                f"channel {ch}: {products(ch)} = {fmt(float(self.channel_sums[ch]), False)}"
                for ch in shown
            ]
            rest = [ch for ch in range(self.window.shape[0]) if ch not in shown]
            rest_sum = float(self.channel_sums[rest].sum()) if rest else 0.0
            if rest:
                lines.append(
                    f"the other {len(rest)} channels: "
                    + " + ".join(fmt(float(self.channel_sums[ch])) for ch in rest)
                    + f" = {fmt(rest_sum, False)}"
                )
            terms = [fmt(float(self.channel_sums[ch])) for ch in shown] + (
                [fmt(rest_sum)] if rest else []
            )
            lines.append(f"total: {' + '.join(terms)} + {fmt(self.bias)} (bias) = {pre}")
        lines.append(f"ReLU({pre}) = {act}")
        return "\n".join(lines)


def _conv_positions(model: ConvNet) -> list[int]:
    return [i for i, m in enumerate(model.conv_layers) if isinstance(m, nn.Conv2d)]


def arithmetic_supported(model: nn.Module) -> bool:
    """Whether ``receptive_field_arithmetic`` can write out this model's convolutions: a ConvNet
    whose convolutions are unpadded and whose only pooling is max pooling (the lesson's ConvNet
    and its pooled and GAP variants; not the circular-padding one, whose windows wrap round the
    frame, nor the blur-pooled one, whose field this does not trace)."""
    return isinstance(model, ConvNet) and all(
        tuple(m.padding) == (0, 0) if isinstance(m, nn.Conv2d) else not isinstance(m, BlurPool)
        for m in model.conv_layers
    )


def receptive_field_arithmetic(
    model: nn.Module, image: torch.Tensor, layer: int, channel: int, row: int, col: int
) -> FieldArithmetic:
    """The arithmetic behind output pixel (``row``, ``col``) of feature map ``channel`` of
    convolution ``layer`` (1 or 2) of a ConvNet, for one uint8 image [1, 28, 28]. Raises
    ValueError for positions outside the map (a page only offers valid ones)."""
    if not isinstance(model, ConvNet):
        raise TypeError(f"no convolutions in {type(model).__name__}")
    if not arithmetic_supported(model):
        raise TypeError("padded convolutions are not written out (their windows wrap round)")
    convs = _conv_positions(model)
    if layer not in (1, 2):
        raise ValueError("layer must be 1 or 2")
    at = convs[layer - 1]
    conv = model.conv_layers[at]
    with torch.no_grad():
        x = standardize(image.unsqueeze(0).float().div(255.0))
        for m in model.conv_layers[:at]:
            x = m(x)
    inp = x[0].float()  # [C_in, H, W]: what the convolution sees
    k = conv.kernel_size[0]
    h_out, w_out = inp.shape[1] - k + 1, inp.shape[2] - k + 1
    if not (0 <= channel < conv.out_channels and 0 <= row < h_out and 0 <= col < w_out):
        raise ValueError(f"no pixel ({row}, {col}) in map {channel} of conv {layer}")
    window = inp[:, row : row + k, col : col + k].clone()
    kernel = conv.weight.detach()[channel].float().clone()
    sums = (window * kernel).sum(dim=(1, 2))
    bias = float(conv.bias.detach()[channel]) if conv.bias is not None else 0.0
    pre = float(sums.sum()) + bias
    # Receptive field: grow by (k - 1) * jump per convolution, (2 - 1) * jump per 2x2 pooling,
    # where jump is the input-pixel distance between neighbouring positions of the layer.
    size, jump = 1, 1
    for m in model.conv_layers[: at + 1]:
        if isinstance(m, nn.Conv2d):
            size += (m.kernel_size[0] - 1) * jump
        elif isinstance(m, nn.MaxPool2d):
            size += (m.kernel_size - 1) * jump
            jump *= m.stride
    top, left = row * jump, col * jump
    return FieldArithmetic(
        layer, channel, row, col, top, left, size, window, kernel, sums, bias, pre, max(pre, 0.0)
    )
