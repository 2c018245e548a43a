"""Markers on the live loss curve: a pause and a resume at the same batch share one label."""

from cnncore.plots.training import loss_figure


def history(markers):
    return {
        "steps": [1, 2, 3, 4],
        "losses": [2.3, 1.9, 1.2, 0.9],
        "val": [],
        "markers": markers,
        "test": None,
    }


def test_markers_at_one_batch_share_a_label_and_others_keep_theirs():
    fig = loss_figure(
        history(
            [
                {"kind": "pause", "step": 2},
                {"kind": "resume", "step": 2},
                {"kind": "lr", "step": 3, "lr": 0.0002, "old_lr": 0.001},
            ]
        )
    )
    labels = {a.x: a.text for a in fig.layout.annotations}
    assert labels == {2: "paused · resumed", 3: "lr 0.001 → 0.0002"}
    assert sorted(s.x0 for s in fig.layout.shapes) == [2, 2, 3]  # every marker keeps its line


def test_live_figures_built_as_dicts_are_valid_plotly():
    """The live panel's figures are built as plain dicts; every key they use must be one Plotly
    knows (validating a copy raises on an unknown property)."""
    import plotly.graph_objects as go

    from cnncore.plots.training import val_figure

    h = history([{"kind": "lr", "step": 3, "lr": 0.0002, "old_lr": 0.001}])
    h["val"] = [{"epoch": 1, "step": 4, "loss": 0.8, "accuracy": 0.71}]
    h["test"] = {"loss": 0.7, "accuracy": 0.73}
    for fig in (loss_figure(h, 0.5, log_y=True), val_figure(h), val_figure(history([]))):
        checked = go.Figure(fig.to_dict())  # raises ValueError on an invalid property
        assert checked.to_dict()["data"] == fig.to_dict()["data"]
    loss = loss_figure(h, 0.5, log_y=True)
    assert [t.name for t in loss.data] == [
        "loss (raw)",
        "loss (smoothed, w=0.5)",
        "validation loss",
    ]
    assert list(loss.data[0].y) == [2.3, 1.9, 1.2, 0.9] and loss.layout.yaxis.type == "log"
    texts = [a.text for a in val_figure(h).layout.annotations]
    assert texts == ["test 73.00%"]
    assert val_figure(history([])).layout.annotations[0].text == "appears after the first epoch"
