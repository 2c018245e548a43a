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
def test_first_convolution_trains_through_the_im2col_path_with_torchs_numbers():
    """prepare_model swaps the one-channel first convolution for cnncore.train.Conv2d on CPU; its
    forward values and gradients are nn.Conv2d's (the oracle) up to float rounding."""
    from torch import nn

    from cnncore.models import build_model
    from cnncore.train import Conv2d, init_weights, prepare_model

    gen = torch.Generator().manual_seed(0)
    oracle = init_weights(build_model("convnet"), gen)
    fast = prepare_model(
        init_weights(build_model("convnet"), torch.Generator().manual_seed(0)), torch.device("cpu")
    )
    kinds = [type(m) for m in fast.modules() if isinstance(m, nn.Conv2d)]
    assert kinds == [Conv2d, nn.Conv2d]  # only the one-channel layer changes
    assert fast.state_dict().keys() == oracle.state_dict().keys()
    names = [name for name, _ in fast.feature_maps(torch.zeros(1, 1, 28, 28))]
    assert names == [name for name, _ in oracle.feature_maps(torch.zeros(1, 1, 28, 28))]
    x = torch.rand(37, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (37,), generator=gen)
    grads = []
    for model in (oracle, fast):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        with torch.no_grad():
            grads[-1].append(model(x))
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    first = fast.conv_layers[0]
    assert first(x).grad_fn is not None and "SlowConv2D" in type(first(x).grad_fn).__name__
