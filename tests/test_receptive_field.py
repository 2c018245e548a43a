"""From a feature-map pixel to its arithmetic: the numbers equal the model's own forward pass."""

import pytest
import torch

from cnncore.analysis import receptive_field_arithmetic
from cnncore.models import build_model, standardize


@pytest.fixture(scope="module")
def digit(bundled):
    return bundled.test.images[0]


def forward_maps(model, image):
    """The model's own conv outputs and ReLU outputs: [(conv, relu)] per layer, each [C, H, W]."""
    maps = model.feature_maps(image.unsqueeze(0).float() / 255)
    convs = [a[0] for n, a in maps if n == "Conv2d"]
    relus = [a[0] for n, a in maps if n == "ReLU"]
    return list(zip(convs, relus, strict=True))


@pytest.mark.parametrize("name", ["convnet", "convnet-pool", "convnet-gap"])
@pytest.mark.parametrize("layer", [1, 2])
def test_dot_product_equals_the_models_activation(name, layer, digit):
    torch.manual_seed(1)
    model = build_model(name).eval()
    conv, relu = forward_maps(model, digit)[layer - 1]
    gen = torch.Generator().manual_seed(layer)
    for _ in range(12):
        ch = int(torch.randint(conv.shape[0], (1,), generator=gen))
        r, c = (int(v) for v in torch.randint(conv.shape[1], (2,), generator=gen))
        a = receptive_field_arithmetic(model, digit, layer, ch, r, c)
        assert a.pre_activation == pytest.approx(float(conv[ch, r, c]), abs=1e-5)
        assert a.activation == pytest.approx(float(relu[ch, r, c]), abs=1e-5)
        assert float(a.channel_sums.sum()) + a.bias == pytest.approx(a.pre_activation, abs=1e-6)
        assert a.window.shape == a.kernel.shape == (16 if layer == 2 else 1, 5, 5)


def test_first_layer_window_is_the_standardised_input(digit):
    model = build_model("convnet").eval()
    a = receptive_field_arithmetic(model, digit, 1, 0, 10, 7)
    expected = standardize(digit.float() / 255)[0, 10:15, 7:12]
    torch.testing.assert_close(a.window[0], expected)
    assert (a.top, a.left, a.size) == (10, 7, 5)


@pytest.mark.parametrize(
    ("name", "layer", "size"), [("convnet", 1, 5), ("convnet", 2, 9), ("convnet-pool", 2, 14)]
)
def test_receptive_field_is_exactly_the_pixels_that_matter(name, layer, size):
    """Changing a pixel inside the field changes the output pixel; any pixel outside does not."""
    torch.manual_seed(2)
    model = build_model(name).eval()
    image = (torch.rand(1, 28, 28) * 255).to(torch.uint8)
    a = receptive_field_arithmetic(model, image, layer, 5, 2, 3)
    assert a.size == size
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[a.top : a.top + size, a.left : a.left + size] = True
    base = forward_maps(model, image)[layer - 1][0][5, 2, 3]
    for y in range(28):
        for x in range(0, 28, 3 if not inside[y].any() else 1):
            changed = image.clone()
            changed[0, y, x] = 255 - changed[0, y, x]
            moved = forward_maps(model, changed)[layer - 1][0][5, 2, 3] != base
            assert bool(moved) == bool(inside[y, x]), (y, x)


def test_positions_outside_the_map_are_refused(digit):
    model = build_model("convnet").eval()
    with pytest.raises(ValueError):
        receptive_field_arithmetic(model, digit, 2, 0, 20, 0)  # conv 2's map is 20x20
    with pytest.raises(TypeError):
        receptive_field_arithmetic(build_model("fcnet"), digit, 1, 0, 0, 0)
