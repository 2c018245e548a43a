"""cnncore.train: the Trainer learns, reports, obeys its controls, and is reproducible."""

import math
import threading

import pytest
import torch

from cnncore.errors import UserError
from cnncore.train import TrainConfig, TrainControl, Trainer, evaluate, predict_proba


def test_loss_falls_within_a_tiny_budget(tiny_data):
    result = Trainer(TrainConfig(epochs=3, batch_size=64), tiny_data).run()
    losses = result.metrics.query("kind == 'train'")["loss"].tolist()
    assert result.status == "finished"
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    assert result.val_accuracy > 0.6 and result.test_accuracy > 0.6


def test_events_cover_batches_epochs_and_test(tiny_data):
    events = []
    config = TrainConfig(epochs=2, batch_size=100, max_batches=4)
    Trainer(config, tiny_data, on_event=events.append).run()
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-2:] == ["test", "end"]
    assert kinds.count("train") == 8 and kinds.count("val") == 2
    last_batch = [e for e in events if e.kind == "train"][-1]
    assert last_batch.values["batch"] == 4 and last_batch.step == 8
    assert last_batch.values["images_per_s"] > 0 and last_batch.values["seconds_left"] == 0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_same_seed_same_result(tiny_data, precision):
    config = TrainConfig(epochs=1, batch_size=64, seed=3, precision=precision, max_batches=5)
    a, b = Trainer(config, tiny_data).run(), Trainer(config, tiny_data).run()
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(v, w), k
    other = Trainer(TrainConfig(**{**config.to_dict(), "seed": 4}), tiny_data).run()
    assert not torch.equal(a.model.fc_layers[-1].weight, other.model.fc_layers[-1].weight)


def test_stop_pause_resume_and_lr_change_between_batches(tiny_data):
    control = TrainControl()
    seen = []

    def on_event(event):
        seen.append(event)
        if event.kind == "train" and event.step == 2:
            control.set_lr(5e-4)
            control.pause()
            # Resume from another thread while the trainer waits.
            threading.Timer(0.2, control.resume).start()
        if event.kind == "train" and event.step == 5:
            control.stop()

    result = Trainer(
        TrainConfig(epochs=3, batch_size=32), tiny_data, on_event=on_event, control=control
    ).run()
    kinds = [e.kind for e in seen]
    assert result.status == "stopped" and "after 5 batches" in result.message
    assert kinds.index("lr") < kinds.index("pause") < kinds.index("resume")
    lr_event = seen[kinds.index("lr")]
    assert lr_event.values["old_lr"] == 1e-3 and lr_event.values["lr"] == 5e-4
    assert [e.values["lr"] for e in seen if e.kind == "train"][-1] == 5e-4
    assert result.metrics.query("kind == 'train'").shape[0] == 5
    assert result.test_accuracy is not None  # a stopped run is still evaluated and kept


def test_diverging_loss_stops_with_message(tiny_data):
    from cnncore.models import build_model

    model = build_model("convnet")
    with torch.no_grad():
        model.fc_layers[-1].weight[0, 0] = float("inf")  # as a blown-up update would leave it
    result = Trainer(TrainConfig(epochs=2, batch_size=32), tiny_data, model=model).run()
    assert result.status == "diverged"
    assert "smaller learning rate" in result.message
    losses = result.metrics.query("kind == 'train'")["loss"]
    assert not math.isfinite(losses.iloc[-1]) and len(losses) >= 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", 0.0, "learning rate"),
        ("lr", -1e-3, "learning rate"),
        ("lr", "fast", "learning rate"),
        ("epochs", 0, "epochs"),
        ("batch_size", 0, "batch size"),
        ("epochs", 2.5, "epochs"),
        ("model", "resnet", "model"),
        ("precision", "fp8", "precision"),
        ("seed", -1, "seed"),
    ],
)
def test_bad_config_is_refused_with_reason(field, value, message):
    with pytest.raises(UserError, match=message):
        TrainConfig(**{field: value}).validate()


def test_set_lr_refuses_nonsense():
    with pytest.raises(UserError):
        TrainControl().set_lr(-1)


def test_evaluate_and_predict_proba(tiny_data):
    result = Trainer(TrainConfig(epochs=1, max_batches=3), tiny_data).run()
    loss, acc = evaluate(result.model, tiny_data.test)
    assert 0 <= acc <= 1 and loss > 0
    probs = predict_proba(result.model, tiny_data.test.images[:7])
    assert probs.shape == (7, 10) and torch.allclose(probs.sum(1), torch.ones(7), atol=1e-5)


# ------------------------------------------------------------------------------ speed path
def _logits_and_gradients(model, x, y):
    model.zero_grad()
    logits = model(x)
    torch.nn.functional.cross_entropy(logits, y).backward()
    return [logits.detach()] + [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(
    ("name", "path"),
    [("convnet", "channels_last"), ("convnet-gap", "channels_last"), ("convnet-pool", "im2col")],
)
def test_prepared_models_compute_torchs_numbers_with_the_lessons_state_dict(name, path):
    """prepare_model on CPU: the ConvNets without pooling compute in channels-last memory, the
    others train their one-channel first convolution through cnncore.train.Conv2d. Either way
    the logits and every gradient are plain nn.Conv2d/nn.Linear's (the oracle: the unprepared
    model) up to float rounding, in training and in evaluation, and the state_dict has the
    same keys and NCHW-ordered, contiguous values."""
    from torch import nn

    from cnncore.models import build_model
    from cnncore.train import Conv2d, init_weights, prepare_model

    oracle = init_weights(build_model(name), torch.Generator().manual_seed(0))
    fast = prepare_model(
        init_weights(build_model(name), torch.Generator().manual_seed(0)), torch.device("cpu")
    )
    kinds = [type(m) for m in fast.modules() if isinstance(m, nn.Conv2d)]
    seen = []
    fast.conv_layers[-2].register_forward_hook(lambda m, i, out: seen.append(out))
    if path == "channels_last":
        assert kinds == [nn.Conv2d, nn.Conv2d] and fast.channels_last
    else:
        assert kinds == [Conv2d, nn.Conv2d] and not fast.channels_last
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(37, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (37,), generator=gen)
    expected, got = _logits_and_gradients(oracle, x, y), _logits_and_gradients(fast, x, y)
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    # the second convolution's output really was channels-last (or not)
    assert seen[0].is_contiguous(memory_format=torch.channels_last) == (path == "channels_last")
    with torch.no_grad():
        assert torch.allclose(fast.eval()(x), oracle.eval()(x), rtol=1e-4, atol=1e-5)
        strided = x.transpose(2, 3).contiguous().transpose(2, 3)  # same images, other strides
        assert torch.allclose(fast(strided), oracle(x), rtol=1e-4, atol=1e-5)
    state, lesson = fast.state_dict(), oracle.state_dict()
    assert state.keys() == lesson.keys()
    assert all(v.is_contiguous() and v.shape == lesson[k].shape for k, v in state.items())
    names = [name for name, _ in fast.feature_maps(torch.zeros(1, 1, 28, 28))]
    assert names == [name for name, _ in oracle.feature_maps(torch.zeros(1, 1, 28, 28))]
    if path == "im2col":
        first = fast.conv_layers[0]
        assert "SlowConv2D" in type(first(x).grad_fn).__name__
