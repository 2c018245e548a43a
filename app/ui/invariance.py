"""Panels of the translation-invariance page: the comparison form, saved-run picking, the job
panel, results with downloads, shift-one-digit, equivariance and scrambled pixels. Every number
comes from cnncore; these functions only gather input and render."""

from __future__ import annotations

import streamlit as st
import torch

from app.ui.jobs import job_manager, job_panel, session_id
from app.ui.runs import pick_run, run_store
from cnncore import invariance as inv
from cnncore.data import to_float
from cnncore.errors import UserError
from cnncore.experiments import (
    MATCHED_PAIR,
    MAX_SEEDS,
    VARIANTS,
    CompareConfig,
    analyse,
    ink_region_start,
    run_comparison,
)  # fmt: skip
from cnncore.jobs import FunctionJob
from cnncore.models import MODEL_NAMES
from cnncore.plots import invariance as plots
from cnncore.train import predict_proba

CONV_KINDS = ("convnet", "convnet-pool", "convnet-gap")


def _submit(fn, name: str) -> None:
    job = job_manager().submit(FunctionJob(fn, session_id(), name))
    st.session_state["inv_job"] = job.id
    st.session_state.pop("inv_result", None)


def comparison_form(data) -> None:
    """Train a matched set here: models, epochs, seeds, shift range, augmentation."""
    with st.form("inv_train_form", border=True):
        c1, c2, c3 = st.columns(3)
        models = c1.multiselect("Models", list(MODEL_NAMES), default=list(MATCHED_PAIR),
                                format_func=MODEL_NAMES.get, key="inv_models",
                                help=f"The matched pair is {' and '.join(MATCHED_PAIR)}; "
                                f"variants: {', '.join(VARIANTS)}.")  # fmt: skip
        epochs = c1.number_input("Epochs (same for all)", 0, 100, 10, key="inv_epochs")
        max_shift = c2.number_input("Largest shift K (px)", 0, 28, 4, key="inv_max_shift",
                                    help=f"Curves for 0..K px, a grid over ±K, consistency C(K). "
                                    f"1 to {inv.MAX_SHIFT}.")  # fmt: skip
        seeds = c2.number_input("Seeds", 0, 20, 1, key="inv_seeds",
                                help=f"1 to {MAX_SEEDS}; several give mean with min–max bands.")  # fmt: skip
        augment = c3.number_input("Train with random shifts up to (px)", 0, 28, 0,
                                  key="inv_augment", help="0 = off. Both nets are then robust "
                                  "up to the trained range — and not beyond it.")  # fmt: skip
        grid = c3.checkbox("2-D grid of shifts", True, key="inv_grid")
        perm = c3.checkbox("Scrambled-pixel experiment (doubles training)", False, key="inv_perm")
        start = st.form_submit_button(
            "Train and compare", type="primary", icon=":material/play_arrow:"
        )
    if not start:
        return
    try:
        config = CompareConfig(models=tuple(models), epochs=int(epochs), seeds=int(seeds),
                               max_shift=int(max_shift), augment_shift=int(augment), grid=grid,
                               permutation=perm,
                               # tests set this hidden budget (batches per epoch) to stay tiny
                               max_batches=int(st.session_state.get("inv_max_batches", 0)),
                               ).validate()  # fmt: skip
    except UserError as exc:
        st.error(f"{exc}. Nothing was started.")
        return
    store = run_store()  # the trained models are kept as runs: a refresh loses nothing
    _submit(lambda report, control: run_comparison(data, config, report, control, store=store),
            f"compare {', '.join(config.models)}")  # fmt: skip


def saved_runs_form(data) -> None:
    """Measure two saved runs (a ConvNet kind and the FCNet) on the current test split."""
    c1, c2, c3 = st.columns([2, 2, 1])
    with c1:
        conv_id = pick_run("CNN run", "inv_conv_run", CONV_KINDS)
    with c2:
        fc_id = pick_run("Flattened-net run", "inv_fc_run", ("fcnet",))
    max_shift = c3.number_input("Largest shift K (px)", 0, 28, 4, key="inv_runs_max_shift")
    if not st.button("Measure these runs", disabled=not (conv_id or fc_id), key="inv_measure"):
        return
    try:
        inv.check_max_shift(int(max_shift), low=1)
        models = {}
        for run_id in (r for r in (conv_id, fc_id) if r):
            info = run_store().info(run_id)
            trained_on = (info.summary or {}).get("data", "")
            if "fashion" in str(trained_on) and "fashion" not in data.source:
                raise UserError(f"run {info.name!r} was trained on {trained_on}, but the page's "
                                f"digits are {data.source}; pick a run trained on MNIST digits")  # fmt: skip
            model, config = run_store().load_model(run_id)
            models[(f"{config.model} ({info.name})", 0)] = model
    except UserError as exc:
        st.error(f"{exc}. Nothing was measured.")
        return
    k = int(max_shift)
    _submit(
        lambda report, control: analyse(models, data.test, k, True, report, control),
        "measure saved runs",
    )


def job_progress() -> None:
    """The comparison job's panel, polled while it runs; its result lands in session state."""
    job_id = st.session_state.get("inv_job")
    if job_id is None:  # after a browser refresh: this tab's latest comparison, if any
        mine = [j for j in job_manager().jobs(session_id()) if isinstance(j, FunctionJob)]
        if mine:
            job_id = st.session_state["inv_job"] = mine[-1].id
    job = job_manager().get(job_id) if job_id else None
    if job is None:
        return

    @st.fragment(run_every=0.7 if not job.done else None)
    def panel():
        snap = job.snapshot()
        if snap["done"]:
            if job.result is not None and "inv_result" not in st.session_state:
                st.session_state["inv_result"] = job.result
                st.rerun(scope="app")
            if snap["status"] == "stopped":
                st.info(f"Comparison stopped: {snap['message']}")
            elif snap["status"] != "finished":
                st.error(snap["error"] or snap["message"])
            return
        job_panel(snap, f"{snap['message']} · {snap['elapsed']:.0f} s")
        if st.button("Stop", key="inv_stop", icon=":material/stop:"):
            job.stop()

    panel()


def results(result, data) -> None:
    st.subheader("Accuracy against shift")
    took = f", in {result.seconds:.0f} s including training" if result.seconds else ""
    st.caption(f"Measured in this app on the {len(data.test):,} test digits of {data.source}"
               f"{took}. Other data, seeds or epochs give other numbers.")  # fmt: skip
    left, right = st.columns([3, 2])
    with right:
        st.markdown("  \n".join(
            f"**{r['model']}** · {r['parameters']:,} parameters · clean {r['accuracy_mean']:.1%}"
            f" · C({r['K']}) {r['consistency_mean']:.1%}" for _, r in result.summary.iterrows()
        ))  # fmt: skip
        st.caption("Clean = unshifted test digits. C(K): how often two random shifts in "
                   "[−K, K]² of the same digit get the same answer (Zhang 2019); 100% would "
                   "be fully shift-invariant.")  # fmt: skip
        metric = st.segmented_control("Show", ["accuracy", "agreement"], default="accuracy",
                                      key="inv_metric", help="Agreement: how often the prediction "
                                      "is unchanged by the shift — invariance, separated from a "
                                      "higher baseline.") or "accuracy"  # fmt: skip
        direction = st.selectbox("Direction", ["mean", *inv.DIRECTIONS], key="inv_direction",
                                 help="mean = of right, left, down and up")  # fmt: skip
    with left:
        fig = plots.accuracy_vs_shift(result.curves, metric, direction,
                                      ink_region_start(result.ink, 0.001))  # fmt: skip
        st.plotly_chart(fig, key="inv_curve")
    if len(result.grid):
        st.plotly_chart(plots.shift_heatmaps(result.grid, metric), key="inv_grid_fig")
    with st.expander("Per digit, and the ink each shift pushes out of the frame"):
        st.plotly_chart(plots.per_class_heatmap(result.per_class), key="inv_class_fig")
        st.dataframe(result.ink, hide_index=True)
    st.markdown("**Download the tables (CSV)**")
    cols = st.columns(len(result.tables()))
    for col, (name, table) in zip(cols, result.tables().items(), strict=True):
        col.download_button(name, table.to_csv(index=False), f"{name}.csv", "text/csv",
                            key=f"inv_dl_{name}", icon=":material/download:")  # fmt: skip


def chosen_digit(data) -> tuple[torch.Tensor, int | None] | None:
    """A test digit (uint8 [1, 28, 28], its label) or a drawn one (label None)."""
    source = st.radio("Digit", ["a test digit", "draw one"], horizontal=True, key="inv_src")
    if source == "a test digit":
        i = st.number_input("Test digit number", 0, len(data.test) - 1, 0, key="inv_index")
        return data.test.images[int(i)], int(data.test.labels[int(i)])
    from streamlit_drawable_canvas import st_canvas

    canvas = st_canvas(stroke_width=16, stroke_color="#ffffff", background_color="#000000",
                       height=196, width=196, drawing_mode="freedraw", return_image_data=True,
                       key="inv_canvas")  # fmt: skip
    try:
        return inv.digit_from_drawing(canvas.image_data), None
    except UserError as exc:
        st.warning(str(exc))
    except (AttributeError, RuntimeError, TypeError, ValueError):
        st.info("Draw a digit in the black box.")
    return None


def shift_one_digit(result, data) -> None:
    st.subheader("Shift one digit")
    left, right = st.columns([1, 3])
    with left:
        picked = chosen_digit(data)
        dx = st.slider("dx (→ right)", -inv.MAX_SHIFT, inv.MAX_SHIFT, 0, key="inv_dx")
        dy = st.slider("dy (↓ down)", -inv.MAX_SHIFT, inv.MAX_SHIFT, 0, key="inv_dy")
    if picked is None:
        return
    image, label = picked
    shifted = inv.shift_images(image[None], dx, dy)[0]
    with right:
        a, b = st.columns([1, 3])
        a.plotly_chart(plots.digit_figure(shifted, f"shifted by ({dx}, {dy})"), key="inv_digit")
        probs = {name: predict_proba(m, shifted[None])[0] for name, m in result.models.items()}
        b.plotly_chart(plots.probability_bars(probs, label), key="inv_probs")
    st.session_state["inv_digit_now"] = (image, dx, dy)


def equivariance_view(result) -> None:
    st.subheader("Equivariance: the maps move with the digit")
    if "inv_digit_now" not in st.session_state:
        return
    image, dx, dy = st.session_state["inv_digit_now"]
    conv = next((m for n, m in result.models.items() if hasattr(m, "feature_maps")
                 and not m.config.pool), None)  # fmt: skip
    fc = next((m for m in result.models.values() if hasattr(m, "hidden_activations")), None)
    if conv is None:
        st.info("Include the ConvNet (without pooling) in the comparison to see its feature maps.")
    else:
        eq = inv.equivariance(conv, image, dx, dy)
        st.caption(f"Feature maps {eq['layer']} for the 6 most active channels, using the dx/dy "
                   f"above. Largest |difference| where defined: **{eq['max_difference']:.2g}** "
                   f"(maps reach {eq['scale']:.2f}); grey strips are what the shift uncovered.")  # fmt: skip
        st.plotly_chart(plots.equivariance_figure(eq), key="inv_eq")
        st.markdown("The convolutions are **equivariant**: shift the digit and the maps shift "
                    "with it, exactly. The lesson's flatten + Linear head then reads *where* "
                    "each feature is, so the prediction is **not** invariant.")  # fmt: skip
    if fc is not None:
        x = to_float(image[None])
        h0 = fc.hidden_activations(x)[0]
        h1 = fc.hidden_activations(inv.shift_images(x, dx, dy))[0]
        st.plotly_chart(plots.hidden_figure(h0, h1), key="inv_hidden")
        st.caption("The FCNet's hidden units have no spatial layout, so there is no way to "
                   "'shift them back': a moved digit is simply a different input vector.")  # fmt: skip


def scrambled_view(result, data) -> None:
    st.subheader("Scrambled pixels")
    perm = inv.pixel_permutation(0)
    images, labels = data.test.images[:6], data.test.labels[:6]
    st.plotly_chart(plots.permutation_examples(images, inv.permute_pixels(images, perm), labels),
                    key="inv_perm_fig")  # fmt: skip
    st.markdown("One fixed scramble is applied to every training and test image. The FCNet "
                "treats its 784 inputs as an unordered list, so to it the scrambled digits are "
                "just as learnable; the ConvNet's 5x5 filters look for patterns among "
                "neighbouring pixels, and scrambling destroys the neighbourhoods.")  # fmt: skip
    if result is not None and result.permutation is not None:
        table = result.permutation[["model", "original_mean", "scrambled_mean",
                                    "change_points_mean"]]  # fmt: skip
        st.dataframe(table, hide_index=True, column_config={
            "original_mean": st.column_config.NumberColumn("original pixels", format="percent"),
            "scrambled_mean": st.column_config.NumberColumn("scrambled pixels", format="percent"),
            "change_points_mean": st.column_config.NumberColumn("change (points)", format="%+.1f"),
        })  # fmt: skip
    else:
        st.caption("Tick *Scrambled-pixel experiment* and train to measure both networks.")
