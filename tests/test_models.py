"""cnncore.models: the lesson's network fixed, its variants, and the matched flattened net."""

import pytest
import torch

from cnncore.errors import UserError
from cnncore.models import MODEL_NAMES, ConvNet, FCNet, build_model, count_parameters, describe


def test_convnet_is_the_lessons_network():
    model = ConvNet()
    convs = [m for m in model.conv_layers if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 16, (5, 5)),
        (16, 32, (5, 5)),
    ]
    linear = model.fc_layers[-1]
    assert (linear.in_features, linear.out_features) == (12800, 10)
    assert count_parameters(model) == 141_258


def test_fcnet_matches_convnet_size():
    assert count_parameters(FCNet()) == 139_930
    assert abs(count_parameters(FCNet()) - count_parameters(ConvNet())) / 141_258 < 0.02


@pytest.mark.parametrize("name", list(MODEL_NAMES))
def test_every_model_returns_logits(name):
    model = build_model(name)
    out = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    # Logits, not probabilities: the lesson's softmax-before-CrossEntropyLoss bug stays fixed.
    assert not torch.allclose(out.sum(1), torch.ones(3))
    assert describe(model)["parameters"] == count_parameters(model)


def test_pooling_and_gap_variants_are_smaller_and_shaped_right():
    pool, gap = build_model("convnet-pool"), build_model("convnet-gap")
    assert pool.fc_layers[-1].in_features == 32 * 4 * 4
    assert gap.fc_layers[-1].in_features == 32
    assert count_parameters(gap) < count_parameters(pool) < count_parameters(ConvNet())


def test_feature_maps_and_hidden_activations():
    maps = ConvNet().feature_maps(torch.rand(2, 1, 28, 28))
    assert [name for name, _ in maps] == ["Conv2d", "ReLU", "Conv2d", "ReLU"]
    assert maps[-1][1].shape == (2, 32, 20, 20)
    assert FCNet().hidden_activations(torch.rand(2, 1, 28, 28)).shape == (2, 176)
    assert ConvNet().first_layer_filters().shape == (16, 1, 5, 5)


def test_unknown_model_lists_choices():
    with pytest.raises(UserError, match="convnet, convnet-pool, convnet-gap, fcnet"):
        build_model("resnet")


# Parameter counts as documented next to MODEL_NAMES in cnncore/models.py.
DOCUMENTED_PARAMETERS = {
    "convnet": 141_258,
    "convnet-pool": 18_378,
    "convnet-gap": 13_578,
    "fcnet": 139_930,
    "convnet-blurpool": 18_378,
    "convnet-circular": 13_578,
}


def test_every_model_has_its_documented_parameter_count():
    assert set(DOCUMENTED_PARAMETERS) == set(MODEL_NAMES)
    for name, count in DOCUMENTED_PARAMETERS.items():
        assert count_parameters(build_model(name)) == count, name


def test_blurpool_is_a_fixed_binomial_blur_then_every_second_pixel():
    from cnncore.models import BlurPool

    pool = BlurPool(3)
    assert count_parameters(pool) == 0 and "kernel" not in pool.state_dict()
    x = torch.rand(2, 3, 7, 6)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    weights = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    expected = torch.zeros(2, 3, 4, 3)
    for i in range(4):  # the definition, pixel by pixel, at every second position
        for j in range(3):
            window = padded[..., 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
            expected[..., i, j] = (
                sum(weights[a][b] * window[..., a, b] for a in range(3) for b in range(3)) / 16
            )
    assert torch.allclose(pool(x), expected, atol=1e-6)
    flat = torch.full((1, 3, 8, 8), 0.7)
    assert torch.allclose(pool(flat), torch.full((1, 3, 4, 4), 0.7))  # a blur keeps the mean


def test_blurpool_variant_has_the_pooled_variants_layers_plus_the_blur():
    blur, pool = build_model("convnet-blurpool"), build_model("convnet-pool")
    names = [type(m).__name__ for m in blur.conv_layers]
    assert names == ["Conv2d", "ReLU", "MaxPool2d", "BlurPool"] * 2
    assert all(
        m.stride in (1, (1, 1)) for m in blur.conv_layers if isinstance(m, torch.nn.MaxPool2d)
    )
    assert blur.conv_layers(torch.rand(1, 1, 28, 28)).shape == (1, 32, 4, 4)
    shapes = [tuple(p.shape) for p in blur.parameters()]
    assert shapes == [tuple(p.shape) for p in pool.parameters()]  # same weights, fixed blur


def _circular_shifts():
    gen = torch.Generator().manual_seed(0)
    return [(0, 1), (1, 0), (-3, 5), (13, -14), (27, 27)] + [
        tuple(torch.randint(-27, 28, (2,), generator=gen).tolist()) for _ in range(5)
    ]


def _assert_circular_invariant(model):
    model.eval()
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        base = model(x)
        for dy, dx in _circular_shifts():
            moved = model(torch.roll(x, shifts=(dy, dx), dims=(-2, -1)))
            assert torch.allclose(moved, base, atol=1e-5, rtol=1e-5), (dx, dy)
    return base


def test_circular_model_is_exactly_invariant_to_circular_shifts_untrained():
    torch.manual_seed(1)
    model = build_model("convnet-circular")
    convs = [m for m in model.conv_layers if isinstance(m, torch.nn.Conv2d)]
    assert all(c.padding_mode == "circular" and c.stride == (1, 1) for c in convs)
    assert model.conv_layers(torch.rand(1, 1, 28, 28)).shape == (1, 32, 28, 28)
    _assert_circular_invariant(model)
    # and it is not a model that ignores its input
    assert not torch.allclose(
        model(torch.rand(2, 1, 28, 28))[0], model(torch.rand(2, 1, 28, 28))[0]
    )


def test_circular_model_is_exactly_invariant_after_training(tiny_data):
    from cnncore.train import TrainConfig, Trainer

    config = TrainConfig(model="convnet-circular", epochs=1, max_batches=3, precision="fp32")
    result = Trainer(config, tiny_data).run()
    assert result.status == "finished"
    trained = result.model
    assert not torch.equal(
        trained.conv_layers[0].weight, build_model("convnet-circular").conv_layers[0].weight
    )
    _assert_circular_invariant(trained)


def test_lessons_convnet_is_not_invariant_to_circular_shifts():
    torch.manual_seed(0)
    model = build_model("convnet").eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(torch.roll(x, (0, 3), (-2, -1))), atol=1e-3)
