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
