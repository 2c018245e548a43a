"""The lesson's networks: ``ConvNet`` (its CNN, fixed), ``FCNet`` (the flattened network), and
ConvNet variants for the translation experiments.

All models take float images [N, 1, 28, 28] in [0, 1] and return logits [N, 10] (no softmax:
``CrossEntropyLoss`` applies log-softmax itself, which is the lesson's main bug). Each model
standardises its input with MNIST's pixel mean and std first (as pytorch/examples' MNIST does):
measured on the real test set, this lifts FCNet from ~90.8% to ~91.9% and the ConvNet from ~96.2%
to ~96.5% after 10 epochs on the bundled digits. Doing it inside the model keeps a blank pixel 0
outside it, so shifting images with zero fill stays correct.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnncore.errors import UserError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def standardize(x: torch.Tensor) -> torch.Tensor:
    return (x - MNIST_MEAN) / MNIST_STD


# name -> what the UI shows. Trainable parameters (count_parameters, checked in tests):
#   convnet 141,258 · convnet-pool 18,378 · convnet-gap 13,578 · convnet-blurpool 18,378
#   (the same layers as convnet-pool; the blur is fixed) · convnet-circular 13,578 · fcnet 139,930
MODEL_NAMES = {
    "convnet": "ConvNet (the lesson's CNN)",
    "convnet-pool": "ConvNet with max pooling",
    "convnet-gap": "ConvNet with global-average-pooling head",
    "fcnet": "FCNet (flattened, fully connected)",
    "convnet-blurpool": "ConvNet with anti-aliased pooling (blur before subsampling)",
    "convnet-circular": "ConvNet, circular padding + global average pooling (shift-invariant)",
}


@dataclass
class ConvNetConfig:
    channels: tuple[int, int] = (16, 32)  # output channels of the two 5x5 convolutions
    kernel_size: int = 5  # the lesson's kernel
    pool: bool = False  # 2x2 max pooling after each convolution (28->24->12->8->4)
    head: str = "flatten"  # "flatten": Linear over every position (lesson); "gap": global average
    blur: bool = False  # with pool: anti-aliased (max-pool stride 1, binomial blur, subsample 2)
    padding: str = "valid"  # "valid" (lesson: maps shrink) or "circular" (wrap round: same size)


class BlurPool(nn.Module):
    """Blur, then keep every second pixel (Zhang 2019, "Making convolutional networks
    shift-invariant again"): a fixed 3x3 binomial filter [1, 2, 1]^T [1, 2, 1] / 16 applied to
    each channel (reflect padding), stride 2. Subsampling a blurred map aliases far less than
    subsampling a max-pooled one, so a one-pixel shift changes the output far less. No
    trainable parameters. float [N, C, H, W] -> [N, C, ceil(H / 2), ceil(W / 2)]."""

    def __init__(self, channels: int):
        super().__init__()
        row = torch.tensor([1.0, 2.0, 1.0])
        kernel = (row[:, None] * row[None, :]) / 16
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        return nn.functional.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=x.shape[1])


def _pool(channels: int, blur: bool) -> list[nn.Module]:
    """2x2 max pooling, stride 2; or its anti-aliased form: dense max (stride 1), blur, subsample."""
    if blur:
        return [nn.MaxPool2d(2, stride=1), BlurPool(channels)]
    return [nn.MaxPool2d(2)]


class ConvNet(nn.Module):
    """Conv(1,16,5) -> ReLU -> Conv(16,32,5) -> ReLU -> flatten (12,800) -> Linear(12800, 10)."""

    def __init__(self, config: ConvNetConfig | None = None):
        super().__init__()
        self.config = config = config or ConvNetConfig()
        c1, c2 = config.channels
        k = config.kernel_size
        if config.padding not in ("valid", "circular"):
            raise UserError(f"unknown padding {config.padding!r}; use 'valid' or 'circular'")
        pad = (
            {"padding": k // 2, "padding_mode": "circular"} if config.padding == "circular" else {}
        )
        pool1 = _pool(c1, config.blur) if config.pool else []
        pool2 = _pool(c2, config.blur) if config.pool else []
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, c1, k, **pad),
            nn.ReLU(),
            *pool1,
            nn.Conv2d(c1, c2, k, **pad),
            nn.ReLU(),
            *pool2,
        )
        if config.head == "gap":
            self.fc_layers = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c2, 10))
        elif config.head == "flatten":
            with torch.no_grad():  # the map size after the stack, whatever its layers
                side = self.conv_layers(torch.zeros(1, 1, 28, 28)).shape[-1]
            self.fc_layers = nn.Sequential(nn.Flatten(), nn.Linear(c2 * side * side, 10))
        else:
            raise UserError(f"unknown head {config.head!r}; use 'flatten' or 'gap'")
        # cnncore.train.prepare_model sets this on CPU for the layouts that support it
        self.channels_last = False

    @property
    def supports_channels_last(self) -> bool:
        """No pooling and no circular padding: every layer is a convolution or a ReLU."""
        return not self.config.pool and self.config.padding == "valid"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            self.channels_last
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        ):
            return self._forward_channels_last(x)
        return self.fc_layers(self.conv_layers(standardize(x)))

    def _forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """The same network computed with every activation in channels-last (NHWC) memory, where
        oneDNN's CPU convolutions need no layout conversions. The ReLUs act in place on the
        fresh convolution outputs, and the flatten head multiplies the NHWC activations by the
        Linear weight permuted to that order (a view of 12,800 activations instead of a copy).
        The parameters and state_dict stay the lesson's (NCHW order); the results equal
        ``forward``'s up to float rounding (the sums run in another order)."""
        x = standardize(x).contiguous()
        n, c, h, w = x.shape
        # one input channel: the NCHW tensor already is NHWC in memory; say so with strides
        x = (
            x.as_strided(x.shape, (c * h * w, 1, w * c, c))
            if c == 1
            else x.contiguous(memory_format=torch.channels_last)
        )
        for layer in self.conv_layers:
            x = F.relu_(x) if isinstance(layer, nn.ReLU) else layer(x)
        if self.config.head != "flatten":
            return self.fc_layers(x)
        linear = self.fc_layers[-1]
        n, c, h, w = x.shape
        weight = (
            linear.weight.view(-1, c, h, w).permute(0, 2, 3, 1).reshape(linear.out_features, -1)
        )
        return F.linear(x.permute(0, 2, 3, 1).reshape(n, -1), weight, linear.bias)

    def first_layer_filters(self) -> torch.Tensor:
        """The first convolution's weights: float [16, 1, 5, 5]."""
        return self.conv_layers[0].weight.detach()

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """(name, activation) after each layer of the convolutional stack, for one batch."""
        out = []
        x = standardize(x)
        for layer in self.conv_layers:
            x = layer(x)
            out.append((type(layer).__name__, x))
        return out


class FCNet(nn.Module):
    """Flatten (784) -> Linear(784, hidden) -> ReLU -> Linear(hidden, 10). hidden=176 gives
    139,930 parameters, about the ConvNet's 141,258, so comparisons are fair in size."""

    def __init__(self, hidden: int = 176):
        super().__init__()
        self.hidden = hidden
        self.layers = nn.Sequential(
            nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(standardize(x))

    @torch.no_grad()
    def hidden_activations(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer after ReLU: float [N, hidden]."""
        return self.layers[:3](standardize(x))


def build_model(name: str) -> nn.Module:
    """A fresh model by name (see MODEL_NAMES)."""
    if name == "convnet":
        return ConvNet()
    if name == "convnet-pool":
        return ConvNet(ConvNetConfig(pool=True))
    if name == "convnet-gap":
        return ConvNet(ConvNetConfig(head="gap"))
    if name == "convnet-blurpool":
        return ConvNet(ConvNetConfig(pool=True, blur=True))
    if name == "convnet-circular":
        # every layer commutes with a circular shift (circular padding, stride 1, no pooling)
        # and the global average forgets where: exactly invariant to circular shifts
        return ConvNet(ConvNetConfig(head="gap", padding="circular"))
    if name == "fcnet":
        return FCNet()
    raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(model: nn.Module) -> dict:
    """A JSON-friendly description (kind, config, parameter count) for run files and tables."""
    if isinstance(model, ConvNet):
        info = {"kind": "ConvNet", **asdict(model.config)}
    else:
        info = {"kind": type(model).__name__, "hidden": getattr(model, "hidden", None)}
    return {**info, "parameters": count_parameters(model)}
