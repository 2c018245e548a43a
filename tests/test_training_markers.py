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
