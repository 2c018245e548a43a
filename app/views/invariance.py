"""Translation invariance: a flattened network against the CNN on shifted and scrambled digits,
and the variants that make a CNN invariant. The page, top to bottom: the shift switch, the
comparison's settings (or saved runs), the job, the measured results, shift one digit, scrambled
pixels. Every number comes from cnncore; this file gathers input and renders."""

from __future__ import annotations

import hashlib

import streamlit as st
import torch

from app.ui import share
from app.ui.arithmetic import STANDARDISED, arithmetic_details
from app.ui.data import current_dataset
from app.ui.feature_maps import feature_maps
from app.ui.jobs import job_manager, job_panel, session_id
from app.ui.runs import pick_run, run_store
from app.ui.slider_grid import value_slider
from cnncore import invariance as inv
from cnncore import links
from cnncore.analysis import arithmetic_supported, receptive_field_arithmetic
from cnncore.errors import UserError
from cnncore.experiments import (
    MATCHED_PAIR,
    MAX_SEEDS,
    VARIANTS,
    CompareConfig,
    analyse,
    estimate_comparison_seconds,
    findings,
    ink_region_start,
    remeasure,
    run_comparison,
    speeds_measured,
)
from cnncore.jobs import WORKER_THREADS, FunctionJob
from cnncore.models import MODEL_NAMES
from cnncore.plots import arithmetic as arith_plots
from cnncore.plots import invariance as plots

CONV_KINDS = tuple(name for name in MODEL_NAMES if name != "fcnet")
MODE_LABELS = {"zero": "zero fill", "circular": "circular (wrap round)"}


def intro() -> None:
    st.title("Translation invariance")
    st.markdown(
        "Move a digit a few pixels and ask the networks again. The lesson's **ConvNet** slides the "
        "same filters everywhere, so its feature maps move with the digit (*equivariance*) — but "
        "its flatten + Linear head still reads positions, so it is only **partly** invariant. The "
        "flattened **FCNet** (same size) has no notion of neighbouring pixels at all. Every number "
        "below is measured in this app, on your data, when you press the button."
    )


def shift_switch() -> str:
    """How test digits are shifted, for the whole page: zero fill or circular wrap."""
    if "inv_shift_mode_next" in st.session_state:  # a measurement just landed: show its mode
        st.session_state["inv_shift_mode"] = st.session_state.pop("inv_shift_mode_next")
    st.session_state.setdefault("inv_shift_mode", "zero")
    mode = st.segmented_control(
        "Shift digits with",
        list(MODE_LABELS),
        format_func=MODE_LABELS.get,
        key="inv_shift_mode",
        help="Zero fill: pixels pushed over the edge are lost and a blank border comes in. "
        "Circular: the frame wraps round, so ink leaving one edge comes back at the other.",
    )
    return mode or "zero"


def _submit(fn, name: str, keep_results: bool = False) -> None:
    job = job_manager().submit(FunctionJob(fn, session_id(), name))
    st.session_state["inv_job"] = job.id
    st.session_state["inv_job_keeps"] = keep_results  # a re-measure adds to the results
    if not keep_results:
        st.session_state.pop("inv_results", None)


def comparison_settings(data, mode: str) -> None:
    """Train a matched set here: models, epochs, seeds, shift range, augmentation, and what it
    should take on this machine. A change reruns only this panel (the estimate follows); until
    this machine's speed is measured (once per server, in the background) it polls."""
    measured = speeds_measured(WORKER_THREADS)

    @st.fragment(run_every=None if measured else 2.0)
    def panel() -> None:
        with st.container(border=True):
            c1, c2, c3 = st.columns([2, 1, 1])
            models = c1.multiselect(
                "Models",
                list(MODEL_NAMES),
                format_func=MODEL_NAMES.get,
                key="inv_models",
                help=f"The matched pair is {' and '.join(MATCHED_PAIR)}; "
                f"variants: {', '.join(VARIANTS)}.",
            )
            epochs = c1.number_input("Epochs (same for all)", 0, 100, key="inv_epochs")
            max_shift = c2.number_input(
                "Largest shift K (px)",
                0,
                28,
                key="inv_max_shift",
                help=f"Curves for 0..K px, a grid over ±K, consistency C(K). 1 to {inv.MAX_SHIFT}.",
            )
            seeds = c2.number_input(
                "Seeds",
                0,
                20,
                key="inv_seeds",
                help=f"1 to {MAX_SEEDS}; several give min–max bands.",
            )
            augment = c3.number_input(
                "Train with random shifts up to (px)",
                0,
                28,
                key="inv_augment",
                help="0 = off. The nets are then robust up to the trained range — and not beyond it.",
            )
            g1, g2 = st.columns(2)  # whole labels, also in a narrow window
            grid = g1.checkbox("2-D grid of shifts", key="inv_grid")
            perm = g2.checkbox("Scrambled-pixel experiment (doubles training)", key="inv_perm")
            try:
                config = CompareConfig(
                    models=tuple(models),
                    epochs=int(epochs),
                    seeds=int(seeds),
                    max_shift=int(max_shift),
                    augment_shift=int(augment),
                    grid=grid,
                    permutation=perm,
                    # tests set this hidden budget (batches per epoch) to stay tiny
                    max_batches=int(st.session_state.get("inv_max_batches", 0)),
                    shift_mode=mode,
                ).validate()
                problem = None
            except UserError as exc:
                config, problem = None, str(exc)
            if config is not None and not speeds_measured(WORKER_THREADS):
                st.caption("Measuring this machine's speed for a time estimate…")
            elif config is not None:
                seconds = estimate_comparison_seconds(config, data)
                st.caption(
                    f"About **{seconds:.0f} s** on this machine: measured from a few training "
                    "batches of each model here, times the images this comparison trains on and "
                    "measures."
                )
            start = st.button("Train and compare", type="primary", icon=":material/play_arrow:")
        publish_link("inv_link_settings")
        if not start:
            if not measured and speeds_measured(WORKER_THREADS):
                st.rerun(scope="app")  # measured since the page ran: stop polling
            return
        if config is None:
            st.error(f"{problem}. Nothing was started.")
            return
        store = run_store()  # the trained models are kept as runs: a refresh loses nothing
        _submit(
            lambda report, control: run_comparison(data, config, report, control, store=store),
            f"compare {', '.join(config.models)}",
        )
        st.rerun(scope="app")

    panel()


def saved_runs_form(data, mode: str) -> None:
    """Measure two saved runs (a ConvNet kind and the FCNet) on the current test split."""
    c1, c2, c3 = st.columns([2, 2, 1])
    with c1:
        conv_id = pick_run("CNN run", "inv_conv_run", CONV_KINDS)
    with c2:
        fc_id = pick_run("Flattened-net run", "inv_fc_run", ("fcnet",))
    max_shift = c3.number_input("Largest shift K (px)", 0, 28, key="inv_runs_max_shift")
    if not st.button("Measure these runs", disabled=not (conv_id or fc_id), key="inv_measure"):
        return
    try:
        k = inv.check_max_shift(int(max_shift), low=1)
        models = {}
        for run_id in (r for r in (conv_id, fc_id) if r):
            info = run_store().info(run_id)
            trained_on = (info.summary or {}).get("data", "")
            if "fashion" in str(trained_on) and "fashion" not in data.source:
                raise UserError(
                    f"run {info.name!r} was trained on {trained_on}, but the page's digits are "
                    f"{data.source}; pick a run trained on MNIST digits"
                )
            model, config = run_store().load_model(run_id)
            models[(f"{config.model} ({info.name})", 0)] = model
    except UserError as exc:
        st.error(f"{exc}. Nothing was measured.")
        return
    _submit(
        lambda report, control: analyse(models, data.test, k, True, report, control, mode=mode),
        "measure saved runs",
    )


def job_progress() -> None:
    """The comparison job's panel, polled while it runs; its result lands in session state
    (``inv_results``: shift mode -> Comparison)."""
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
            results = st.session_state.setdefault("inv_results", {})
            result = job.result
            if result is not None and results.get(result.shift_mode) is not result:
                if not st.session_state.get("inv_job_keeps"):
                    results.clear()
                results[result.shift_mode] = result
                st.session_state["inv_shift_mode_next"] = result.shift_mode  # show what landed
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


def offer_remeasure(measured: dict, mode: str, data) -> None:
    """The models were measured with the other kind of shift: measure them again (no training)."""
    other = next(iter(measured.values()))
    st.info(
        f"These models were measured with {MODE_LABELS[other.shift_mode]} shifts. Measure the "
        f"same trained models with {MODE_LABELS[mode]} shifts (no retraining), or switch back."
    )
    k = int(other.summary["K"].iloc[0])
    if st.button(f"Measure with {MODE_LABELS[mode]} shifts", key="inv_remeasure"):
        grid = len(other.grid) > 0
        _submit(
            lambda report, control: remeasure(other, data.test, mode, k, grid, report, control),
            f"measure again with {mode} shifts",
            keep_results=True,
        )
        st.rerun(scope="app")


def results(result, data) -> None:
    st.subheader("Accuracy against shift")
    took = f", in {result.seconds:.0f} s including training" if result.seconds else ""
    st.caption(
        f"Measured in this app on the {len(data.test):,} test digits of {data.source}, shifted "
        f"with {MODE_LABELS[result.shift_mode]}{took}. Other data, seeds or epochs give other "
        "numbers."
    )
    left, right = st.columns([3, 2])
    with right:
        model_lines(result)
        metric = (
            st.segmented_control(
                "Show",
                ["accuracy", "agreement"],
                default="accuracy",
                key="inv_metric",
                help="Agreement: how often the prediction is unchanged by the shift — "
                "invariance, separated from a higher baseline.",
            )
            or "accuracy"
        )
        direction = st.selectbox(
            "Direction",
            ["mean", *inv.DIRECTIONS],
            key="inv_direction",
            help="mean = of right, left, down and up",
        )
    with left:
        ink = ink_region_start(result.ink, 0.001) if result.shift_mode == "zero" else None
        fig = plots.accuracy_vs_shift(result.curves, metric, direction, ink)
        st.plotly_chart(fig, key="inv_curve")
    if len(result.grid):
        st.plotly_chart(plots.shift_heatmaps(result.grid, metric), key="inv_grid_fig")
    with st.expander("Per digit, and the ink each shift pushes out of the frame"):
        st.plotly_chart(plots.per_class_heatmap(result.per_class), key="inv_class_fig")
        st.dataframe(result.ink, hide_index=True)
    downloads(result)


def model_lines(result) -> None:
    """One line per model: parameters, clean accuracy, consistency, ink-kept agreement."""
    kept = "ink kept" if result.shift_mode == "zero" else "agreement"
    st.markdown(
        "  \n".join(
            f"**{r['model']}** · {r['parameters']:,} parameters · clean {r['accuracy_mean']:.1%}"
            f" · C({r['K']}) {r['consistency_mean']:.1%} · {kept} "
            f"{r['ink_kept_agreement_mean']:.1%}"
            for _, r in result.summary.iterrows()
        )
    )
    st.caption(
        "Clean = unshifted test digits. C(K): how often two random shifts in [−K, K]² of the same "
        "digit get the same answer (Zhang 2019); 100% is fully shift-invariant. "
        + (
            "Ink kept: how often a shifted digit that lost no ink over the edge keeps its "
            "unshifted answer."
            if result.shift_mode == "zero"
            else "Agreement: how often any shifted copy keeps the unshifted answer."
        )
    )


def downloads(result) -> None:
    st.markdown("**Download the tables (CSV)**")
    row = st.container(horizontal=True, wrap=True)  # whole labels, also in a narrow window
    for name, table in result.tables().items():
        row.download_button(
            name,
            table.to_csv(index=False),
            f"{name}.csv",
            "text/csv",
            key=f"inv_dl_{name}",
            icon=":material/download:",
        )


def why_global_pooling(result) -> None:
    """The lesson's claim, and when it is true: with the measured findings."""
    st.subheader("Make it invariant")
    st.markdown(
        "Convolution is *equivariant*: shift the input and every feature map shifts with it. A "
        "global average then adds up each map wherever its features sit, so convolution + global "
        "pooling gives the same answer for a shifted digit (exactly, for circular shifts); the "
        "lesson's flatten + Linear head instead gives every position its own weight, so moving a "
        'feature changes the sum — "CNNs are translation invariant" is true of the first, not '
        "of the lesson's network."
    )
    lines = findings(result)
    if lines:
        st.markdown("\n".join(f"- {line}" for line in lines))
    else:
        st.caption(
            "Add the variants (convnet-circular, convnet-blurpool with convnet-pool) to the "
            "comparison to measure them here; switch the shifts to circular to see the circular "
            "model reach 100%."
        )


def chosen_digit(data) -> tuple[torch.Tensor, int | None, str] | None:
    """A test digit (uint8 [1, 28, 28], its label, a key) or a drawn one (label None)."""
    source = st.radio("Digit", ["a test digit", "draw one"], horizontal=True, key="inv_src")
    if source == "a test digit":
        i = int(st.number_input("Test digit number", 0, len(data.test) - 1, key="inv_index"))
        return data.test.images[i], int(data.test.labels[i]), f"test {i}"
    from streamlit_drawable_canvas import st_canvas

    canvas = st_canvas(
        stroke_width=16,
        stroke_color="#ffffff",
        background_color="#000000",
        height=196,
        width=196,
        drawing_mode="freedraw",
        return_image_data=True,
        key="inv_canvas",
    )
    try:
        digit = inv.digit_from_drawing(canvas.image_data)
    except UserError as exc:
        st.warning(str(exc))
        return None
    except (AttributeError, RuntimeError, TypeError, ValueError):
        st.info("Draw a digit in the black box.")
        return None
    return digit, None, "drawn " + hashlib.sha1(digit.numpy().tobytes()).hexdigest()


def shift_grid(result, image: torch.Tensor, digit_key: str, mode: str) -> inv.ShiftGrid:
    """Every shifted copy of the digit and every model's answer, computed once per digit, model
    set and shift mode (one batched forward per model); a slider move is then a lookup."""
    return _per_digit("inv_shift_grid", (id(result), digit_key, mode), inv.shift_grid)(
        result.models, image, mode
    )


def _per_digit(name: str, key: tuple, compute):
    """``compute`` memoised in session state under ``name`` for one (result, digit, mode, ...)
    key: a new digit, model set or shift mode computes again, a slider move does not."""

    def call(*args):
        cached = st.session_state.get(name)
        if cached is None or cached[0] != key:
            cached = (key, compute(*args))
            st.session_state[name] = cached
        return cached[1]

    return call


@st.fragment
def shift_one_digit(result, data, mode: str) -> None:
    """Pick a digit, move it with dx/dy: only this panel reruns, and every view in it is a lookup
    in grids computed once per digit (probabilities, feature maps, hidden units)."""
    st.subheader("Shift one digit")
    left, right = st.columns([1, 3])
    with left:
        picked = chosen_digit(data)
        s = inv.MAX_SHIFT
        dx = value_slider("inv_dx", "dx (→ right)", -s, s, step=1, default=0, decimals=0)
        dy = value_slider("inv_dy", "dy (↓ down)", -s, s, step=1, default=0, decimals=0)
    if picked is None:
        return
    image, label, digit_key = picked
    grid = shift_grid(result, image, digit_key, mode)
    with right:
        a, b = st.columns([1, 3])
        title = f"shifted by ({dx}, {dy})"
        with a:
            feature_maps(plots.digit_payload(grid.image(dx, dy), title), key="inv_digit")
        with b:
            feature_maps(plots.probability_payload(grid.probabilities(dx, dy), label), "inv_probs")
    st.session_state["inv_digit_now"] = (image, dx, dy)
    publish_link("inv_link_shift")
    equivariance_view(result, image, digit_key, dx, dy, mode)


def equivariance_view(result, image: torch.Tensor, digit_key: str, dx: int, dy: int, mode: str):
    st.subheader("Equivariance: the maps move with the digit")
    eligible = [
        name
        for name, m in result.models.items()
        if hasattr(m, "feature_maps") and not m.config.pool
    ]
    fc = next((n for n, m in result.models.items() if hasattr(m, "hidden_activations")), None)
    if not eligible:
        st.info("Include the ConvNet (without pooling) in the comparison to see its feature maps.")
    else:
        name = eligible[0]
        if len(eligible) > 1:
            name = st.selectbox("Feature maps of", eligible, key="inv_eq_model")
        model = result.models[name]
        key = (id(result), digit_key, mode, name)
        eq = _per_digit("inv_eq_grid", key, inv.equivariance_grid)(model, image, mode).at(dx, dy)
        st.caption(
            f"Feature maps {eq['layer']} for the 6 most active channels, using the dx/dy above. "
            f"Largest |difference| where defined: **{eq['max_difference']:.2g}** (maps reach "
            f"{eq['scale']:.2f}); grey strips are what the shift uncovered."
        )
        click = st.session_state.pop("inv_eq_click", None)  # a click on a map, just now
        pick = plots.chosen_pixel(eq, click, st.session_state.get("inv_eq_pick"))
        st.session_state["inv_eq_pick"] = pick
        feature_maps(
            plots.equivariance_payload(eq, pick if arithmetic_supported(model) else None),
            key="inv_eq",
            on_click=lambda click: st.session_state.update(inv_eq_click=click),
        )
        st.markdown(
            "The convolutions are **equivariant**: shift the digit and the maps shift with it, "
            "exactly. The lesson's flatten + Linear head then reads *where* each feature is, so "
            "its prediction is **not** invariant; a global average over the maps would be."
        )
        map_arithmetic(model, eq, pick, image, dx, dy, mode)
    if fc is not None:
        hidden = _per_digit("inv_hidden_grid", (id(result), digit_key, mode), inv.hidden_grid)(
            result.models[fc], image, mode
        )
        s = inv.MAX_SHIFT
        feature_maps(plots.hidden_payload(hidden[s, s], hidden[dy + s, dx + s]), key="inv_hidden")
        st.caption(
            "The FCNet's hidden units have no spatial layout, so there is no way to 'shift them "
            "back': a moved digit is simply a different input vector."
        )


def map_arithmetic(model, eq: dict, pick, image: torch.Tensor, dx: int, dy: int, mode: str):
    """The pixel clicked in the maps above (or, until a click, the shifted digit's strongest
    pixel of the first map): its receptive field on the digit it was computed from, and the dot
    product that produced it, as on the Live training page."""
    st.markdown("**From a feature map to its arithmetic**")
    if not arithmetic_supported(model):
        st.info(
            "This model's convolutions wrap round the frame (circular padding), so their windows "
            "are not written out here; pick the lesson's ConvNet or the GAP variant above."
        )
        return
    digit = image.reshape(1, 28, 28)
    shifted = pick.panel == "shifted"
    if shifted:
        digit = inv.shift_images(digit[None], dx, dy, mode)[0]
    a = receptive_field_arithmetic(model, digit, pick.layer, pick.channel, pick.row, pick.col)
    fmap = eq[pick.panel][pick.channel]
    which = f"the digit shifted by ({dx}, {dy})" if shifted else "the unshifted digit"
    st.caption(
        "Click a pixel of the digit's or the shifted digit's maps above: the digit shows the "
        "input pixels it depends on (its receptive field), and below is the dot product that "
        f"computed it. {STANDARDISED}"
    )
    title = f"conv {a.layer} map {a.channel} of {which}"
    feature_maps(arith_plots.field_payload(digit, fmap, title, a), key="inv_rf_field")
    arithmetic_details(a, float(fmap[a.row, a.col]), "inv_rf_products", f" of {which}")


def scrambled_view(result, data) -> None:
    st.subheader("Scrambled pixels")
    perm = inv.pixel_permutation(0)
    images, labels = data.test.images[:6], data.test.labels[:6]
    scrambled = inv.permute_pixels(images, perm)
    st.plotly_chart(plots.permutation_examples(images, scrambled, labels), key="inv_perm_fig")
    st.markdown(
        "One fixed scramble is applied to every training and test image. The FCNet treats its "
        "784 inputs as an unordered list, so to it the scrambled digits are just as learnable; "
        "the ConvNet's 5x5 filters look for patterns among neighbouring pixels, and scrambling "
        "destroys the neighbourhoods."
    )
    if result is not None and result.permutation is not None:
        columns = ["model", "original_mean", "scrambled_mean", "change_points_mean"]
        percent = st.column_config.NumberColumn
        st.dataframe(
            result.permutation[columns],
            hide_index=True,
            column_config={
                "original_mean": percent("original pixels", format="percent"),
                "scrambled_mean": percent("scrambled pixels", format="percent"),
                "change_points_mean": percent("change (points)", format="%+.1f"),
            },
        )
    else:
        st.caption("Tick *Scrambled-pixel experiment* and train to measure both networks.")


# ------------------------------------------------- the link: the page's settings in the URL
def link_fields(data) -> list[links.Field]:
    models = tuple(MODEL_NAMES)
    return [
        links.Field("shift", "choice", "zero", choices=tuple(MODE_LABELS)),
        links.Field("source", "choice", SOURCES[0], choices=SOURCES),
        links.Field("models", "choices", list(MATCHED_PAIR), choices=models),
        links.Field("epochs", "int", CompareConfig.epochs, lo=1, hi=100),
        links.Field("K", "int", 4, lo=1, hi=inv.MAX_SHIFT),
        links.Field("seeds", "int", 1, lo=1, hi=MAX_SEEDS),
        links.Field("augment", "int", 0, lo=0, hi=8),
        links.Field("grid", "bool", True),
        links.Field("perm", "bool", False),
        links.Field("cnn_run", "text", "", hi=100),
        links.Field("fc_run", "text", "", hi=100),
        links.Field("runs_K", "int", 4, lo=1, hi=inv.MAX_SHIFT),
        links.Field("digit", "int", 0, lo=0, hi=len(data.test) - 1),
        links.Field("dx", "int", 0, lo=-inv.MAX_SHIFT, hi=inv.MAX_SHIFT),
        links.Field("dy", "int", 0, lo=-inv.MAX_SHIFT, hi=inv.MAX_SHIFT),
    ]


LINK_KEYS = {
    "shift": "inv_shift_mode",
    "source": "inv_mode",
    "models": "inv_models",
    "epochs": "inv_epochs",
    "K": "inv_max_shift",
    "seeds": "inv_seeds",
    "augment": "inv_augment",
    "grid": "inv_grid",
    "perm": "inv_perm",
    "cnn_run": "inv_conv_run",
    "fc_run": "inv_fc_run",
    "runs_K": "inv_runs_max_shift",
    "digit": "inv_index",
    "dx": "inv_dx",
    "dy": "inv_dy",
}
SOURCES = ("Train a matched set here", "Use saved runs")


def publish_link(key: str) -> None:
    """Make the address bar a link to this view (called by the page and by its fragments, each
    with its own key)."""
    values = {n: st.session_state[k] for n, k in LINK_KEYS.items() if k in st.session_state}
    share.publish(LINK_FIELDS, values, key=key)


# ---------------------------------------------------------------------------------- the page

intro()
data = current_dataset()
LINK_FIELDS = link_fields(data)
share.restore("invariance", LINK_FIELDS, LINK_KEYS)
for field in LINK_FIELDS:  # every setting starts at its default (a link may have set some)
    if field.default != "":  # run pickers start at their first run
        st.session_state.setdefault(LINK_KEYS[field.name], field.default)
share.ignored_notice("invariance")
share.copy_link_button("inv_copy_link")
mode = shift_switch()
source = st.radio("Models", SOURCES, horizontal=True, key="inv_mode")
if source == SOURCES[0]:
    comparison_settings(data, mode)
else:
    saved_runs_form(data, mode)
job_progress()

measured = st.session_state.get("inv_results") or {}
result = measured.get(mode)
if not measured:
    st.info(
        "Train and compare (the estimate above is for this machine) to see the curves, then "
        "shift a digit yourself."
    )
elif result is None:
    offer_remeasure(measured, mode, data)
else:
    results(result, data)
    why_global_pooling(result)
    st.divider()
    shift_one_digit(result, data, mode)
st.divider()
scrambled_view(result, data)
publish_link("inv_link")
st.caption(
    "Further reading: Kauderer-Abrams (2017) *Quantifying translation-invariance in CNNs*; "
    "Azulay & Weiss (2019) *Why do deep convolutional networks generalize so poorly to small "
    "image transformations?*; Zhang (2019) *Making convolutional networks shift-invariant again*."
)
