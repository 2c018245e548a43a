"""Convolution: a filter sliding over a 5x5 image, step by step (the lesson's first picture).

The page's body is one fragment: moving a slider reruns only it (not the sidebar or the router),
and the stepper's payload is cached by its inputs. Stepping itself happens in the browser. The
views of the result are tabs: only the open one runs and is drawn.
"""

import streamlit as st

from app.ui import share
from app.ui.choices import Choice, choices
from app.ui.codeblock import code_block
from app.ui.conv_widgets import grid_editor, kernel_sliders
from app.ui.data import current_dataset
from app.ui.heatmaps import heatmaps
from app.ui.runs import pick_run, run_store
from app.ui.slider_grid import value_slider
from app.ui.stepper import move_step, payload_key, stepper
from cnncore import conv, links
from cnncore.data import to_float
from cnncore.errors import UserError

SS = st.session_state
COLOUR_SAMPLE = "colour: red X, green O, blue plus"
CHANNELS = ("R", "G", "B")
ACTIVATION_NAMES = {"none": "none", "relu": "ReLU", "sigmoid": "sigmoid"}
VIEWS = ("Step by step", "Pooling", "Verify with PyTorch", "On a real digit")


def channels() -> int:
    return 3 if SS.get("cv_colour") else 1


def channel(name: str, label: str) -> int:
    """In colour mode, tabs for the R, G and B channels of a grid: the open one's index (only its
    grid is drawn). 0 for a one-channel image."""
    if channels() == 1:
        return 0
    choices(f"{name}_tabs", [Choice(name, label, CHANNELS, "tabs")])
    return CHANNELS.index(SS[name])


def load_sample() -> None:
    name = SS.get("cv_sample", "X (lesson)")
    c = channels()
    img = conv.colour_sample() if name == COLOUR_SAMPLE else conv.sample(name).expand(c, 5, 5)
    SS.cv_img = img.clone()


def load_preset() -> None:
    k = conv.preset(SS.get("cv_preset", conv.PRESETS[0]), SS.get("cv_k", 3))
    SS.cv_kernel = k.expand(channels(), -1, -1).clone()


def change_colour() -> None:
    SS.cv_sample = COLOUR_SAMPLE if SS.cv_colour else "X (lesson)"
    load_sample()
    load_preset()


def load_learned(run_id: str, index: int) -> None:
    try:
        model, _ = run_store().load_model(run_id)
        weights = model.first_layer_filters()[index, 0].float()
    except (UserError, AttributeError, IndexError) as exc:
        SS.cv_grid_error = f"Could not load that filter: {exc}"
        return
    lo, hi = conv.KERNEL_RANGE
    SS.cv_colour, SS.cv_k = False, 5
    SS.cv_sample = SS.get("cv_sample") if SS.get("cv_sample") != COLOUR_SAMPLE else "X (lesson)"
    load_sample()
    SS.cv_kernel = weights.clamp(lo, hi)[None].clone()
    SS.cv_loaded = f"Loaded filter {index} of the first layer of run {run_id}."
    SS.cv_rerun_page = True


@st.cache_resource(max_entries=64, show_spinner=False)
def stepped(img: tuple, kernel: tuple, shape: tuple, bias, stride, padding, act, flip, colour):
    """conv_steps, its stepper payload and the payload's fingerprint, cached by the inputs."""
    import torch

    c, k = shape
    steps = conv.conv_steps(
        torch.tensor(img).reshape(c, 5, 5),
        torch.tensor(kernel).reshape(c, k, k),
        bias,
        stride,
        padding,
        act,
        flip,
    )
    payload = steps.to_payload(CHANNELS if colour else None)
    return steps, payload, payload_key(payload)


@st.cache_resource(max_entries=64, show_spinner=False)
def pooled_payload(fingerprint: str, _output, mode: str, stride: int):
    pool = conv.pool_steps(_output[None], mode, 2, stride)
    payload = pool.to_payload("feature map (the output above)")
    return payload, payload_key(payload)


@st.cache_resource(max_entries=64, show_spinner=False)
def verified(fingerprint: str, _steps):
    return conv.verify_with_torch(_steps)


# --- quiz mode: predict each output cell before it is revealed ------------------------------


def start_quiz() -> None:
    SS.cv_revealed = 0
    SS.pop("cv_verdict", None)
    SS.pop("cv_quiz_for", None)  # a new round, not a "the filter changed" restart
    if SS.cv_quiz:
        move_step("cv_step", 1)


def check_answer() -> None:
    """The Check button: score the typed prediction for the next hidden cell, then reveal it."""
    index, value, cell = SS.cv_quiz_target
    try:
        verdict = conv.check_prediction(SS.get("cv_guess", ""), value, cell)
    except UserError as exc:
        SS.cv_verdict = ("warning", str(exc))
        return
    score = SS.setdefault("cv_score", {"right": 0, "asked": 0})
    score["asked"] += 1
    score["right"] += verdict.right
    SS.cv_verdict = ("success" if verdict.right else "error", verdict.message)
    SS.cv_revealed = index + 1
    move_step("cv_step", index + 1)  # show the cell just revealed, with its equation


def revealed(fingerprint: str) -> int:
    """How many output cells the quiz has revealed for this input and filter."""
    return SS.get("cv_revealed", 0) if SS.get("cv_quiz_for") == fingerprint else 0


def quiz_panel(steps: conv.ConvSteps, fingerprint: str) -> dict | None:
    """The prediction form under the stepper; returns the stepper's quiz state (or None)."""
    if not SS.get("cv_quiz"):
        return None
    if SS.get("cv_quiz_for") != fingerprint:  # new input or filter: new cells to predict
        if "cv_quiz_for" in SS:
            st.info("The input or filter changed, so the quiz starts again at the first cell.")
            move_step("cv_step", 1)
        SS.cv_quiz_for, SS.cv_revealed = fingerprint, 0
    n, revealed = len(steps), SS.cv_revealed
    tol = conv.fmt(conv.QUIZ_TOLERANCE, False)
    if revealed < n:
        step = steps.step(revealed)
        cell = f"output[{step.row}, {step.col}]"
        SS.cv_quiz_target = (revealed, step.value, cell)
        with st.form("cv_quiz_form", clear_on_submit=True, border=False):
            a, b = st.columns([3, 1], vertical_alignment="bottom")
            a.text_input(
                f"Your prediction for {cell} (cell {revealed + 1} of {n})",
                key="cv_guess",
                placeholder="a number, e.g. 3 or −0.5",
                help=f"Right when within ±{tol} of the true value.",
            )
            b.form_submit_button("Check", on_click=check_answer, width="stretch")
    if verdict := SS.get("cv_verdict"):
        getattr(st, verdict[0])(verdict[1])
    score = SS.get("cv_score", {"right": 0, "asked": 0})
    done = (
        " All cells revealed: change the input or filter for a new round." if revealed >= n else ""
    )
    st.caption(
        f"Score this session: {score['right']} of {score['asked']} right "
        f"(answers within ±{tol} count).{done}"
    )
    return {"revealed": revealed}


# --- the link: every setting of the page lives in the URL's query string ----------------------

K_LO, K_HI = conv.KERNEL_RANGE
LINK_FIELDS = [
    links.Field("colour", "bool", False),
    links.Field("sample", "choice", "X (lesson)", choices=(COLOUR_SAMPLE, *conv.SAMPLES)),
    links.Field("input", "grid", None, lo=0, hi=1, shapes=((1, 5, 5), (3, 5, 5))),
    links.Field("preset", "choice", conv.PRESETS[0], choices=conv.PRESETS),
    links.Field("k", "choice", 3, choices=(3, 5)),
    links.Field(
        "filter",
        "grid",
        None,
        lo=K_LO,
        hi=K_HI,
        shapes=((1, 3, 3), (1, 5, 5), (3, 3, 3), (3, 5, 5)),
    ),
    links.Field("bias", "float", 0.0, lo=K_LO, hi=K_HI),
    links.Field("stride", "choice", 1, choices=(1, 2, 3)),
    links.Field("padding", "choice", 0, choices=(0, 1, 2)),
    links.Field("act", "choice", "none", choices=conv.ACTIVATIONS),
    links.Field(
        "op", "choice", "cross-correlation", choices=("cross-correlation", "true convolution")
    ),
    links.Field("step", "int", 1, lo=1, hi=49),
    links.Field("quiz", "bool", False),
    links.Field("view", "choice", VIEWS[0], choices=VIEWS),
]
LINK_KEYS = {
    "colour": "cv_colour",
    "sample": "cv_sample",
    "input": "cv_img",
    "preset": "cv_preset",
    "k": "cv_k",
    "filter": "cv_kernel",
    "bias": "cv_bias",
    "stride": "cv_stride",
    "padding": "cv_padding",
    "act": "cv_act",
    "op": "cv_mode",
    "step": "cv_step",
    "quiz": "cv_quiz",
    "view": "cv_view",
}


def consistent(values: dict) -> list[str]:
    """Drop linked values that are valid alone but not together (returns the reasons)."""
    c = 3 if values.get("colour") else 1
    reasons = []
    if values.get("sample") == COLOUR_SAMPLE and c == 1:
        reasons.append("sample: the colour sample needs colour=1")
        del values["sample"]
    if "input" in values and values["input"].shape[0] != c:
        reasons.append(f"input: it has {values['input'].shape[0]} channels, the image has {c}")
        del values["input"]
    kernel = values.get("filter")
    if kernel is not None and (kernel.shape[0] != c or kernel.shape[-1] != values.get("k", 3)):
        shape = "x".join(map(str, kernel.shape))
        reasons.append(f"filter: {shape} does not fit {c} channel(s) and k={values.get('k', 3)}")
        del values["filter"]
    return reasons


def link_values() -> dict:
    return {name: SS[key] for name, key in LINK_KEYS.items() if key in SS}


# --- the page ---------------------------------------------------------------------------------

share.restore("convolution", LINK_FIELDS, LINK_KEYS, consistent)
if "cv_img" not in SS:
    load_sample()
if "cv_kernel" not in SS:
    load_preset()
SS.setdefault("cv_step", 1)

st.title("Convolution: a filter sliding over an image")
st.markdown(
    "A convolution slides a small **filter** (kernel) over the image. At every position it "
    "multiplies the filter with the patch under it, adds the products up (a dot product) and "
    "adds a bias: one number of the **output map**. The lesson's X detector has +1 on both "
    "diagonals and −1 elsewhere, so the sum is largest exactly where the image has an X: "
    "convolution is **pattern matching**, and training learns the patterns to look for."
)
share.ignored_notice("convolution")
share.copy_link_button("cv_copy_link")


def step_by_step(steps: conv.ConvSteps, payload: dict, fingerprint: str) -> None:
    quiz_me = "Quiz me: predict each output cell before it is revealed"
    choices("cv_quiz_switch", [Choice("cv_quiz", quiz_me, kind="switch", on_change=start_quiz)])
    stepper_box, quiz_box = st.container(key="cv_stepper_box"), st.container()
    with quiz_box:  # filled first (it decides what the stepper may show), shown below it
        quiz = quiz_panel(steps, fingerprint)
    with stepper_box:
        stepper(payload, "cv_stepper", "cv_step", fingerprint, quiz)
    st.caption(
        "▶ Play, Step ▶, ◀ Back, the Step slider and the Speed menu all move the same step; "
        "the input, filter and options keep your place."
        + (" In quiz mode, stepping stops at the cell you have not predicted yet." if quiz else "")
    )


def pooling(steps: conv.ConvSteps, fingerprint: str) -> None:
    if SS.get("cv_quiz") and revealed(fingerprint) < len(steps):
        st.caption("Pooling shows the whole output map, so it appears once every cell is revealed.")
        return
    choices(
        "cv_pool_choices",
        [
            Choice(
                "cv_pool",
                "Pooling",
                ("max", "avg"),
                "radio",
                ("2x2 max", "2x2 average"),
                horizontal=True,
            ),
            Choice("cv_pool_stride", "Pooling stride", (2, 1), "radio", horizontal=True),
        ],
        columns=2,
    )
    try:
        pool, pool_key = pooled_payload(fingerprint, steps.output, SS.cv_pool, SS.cv_pool_stride)
        stepper(pool, "cv_pool_stepper", "cv_pool_step", pool_key)
    except UserError as exc:
        st.warning(f"No pooling for these options: {exc}")


def verify(steps: conv.ConvSteps, fingerprint: str) -> None:
    code, _, diff = verified(fingerprint, steps)
    code_block(code, key="cv_torch_code")
    rows, cols = steps.output.shape
    if diff < 1e-5:
        st.success(f"PyTorch gives the same {rows}x{cols} map (max |difference| {diff:.1e}).")
    else:
        st.error(f"PyTorch differs from the stepped result by up to {diff:.3g}.")


def on_a_digit(steps: conv.ConvSteps, bias, stride, padding, activation) -> None:
    data = current_dataset()
    choices(
        "cv_digit_choice", [Choice("cv_digit", "Test digit #", range(len(data.test)), "number")]
    )
    idx = SS.cv_digit
    if channels() == 3:
        st.caption("Digits have one channel: the filter's R channel is applied.")
    digit = to_float(data.test.images[idx : idx + 1])[0, 0]
    filtered = conv.filter_image(
        digit, steps.kernel[0], bias, stride, padding, activation, steps.flip
    )
    label = data.classes[int(data.test.labels[idx])]
    heatmaps(
        [
            (f"test digit #{idx} (label {label})", digit, "grey", 0.0, 1.0),
            (f"filtered ({size_text(filtered)}; red < 0 < blue)", filtered, "sign", None, None),
        ],
        key="cv_digit_fig",
    )


@st.fragment
def explore() -> None:
    SS.pop("cv_rerun_page", None)  # this run already shows a filter loaded below
    if msg := SS.pop("cv_grid_error", None):
        st.error(msg)
    if msg := SS.pop("cv_loaded", None):
        st.success(msg)

    colour = "Colour image (3 channels: a 3x5x5 input and a 3xkxk filter)"
    choices(
        "cv_colour_switch", [Choice("cv_colour", colour, kind="switch", on_change=change_colour)]
    )
    left, right = st.columns(2, gap="medium")
    with left:
        samples = ([COLOUR_SAMPLE] if channels() == 3 else []) + list(conv.SAMPLES)
        choices(
            "cv_input_choices",
            [Choice("cv_sample", "Sample input", samples, on_change=load_sample)],
            heading="Input (5x5, values 0–1)",
        )
        grid_editor(
            "cv_img", channel("cv_img_channel", "Input channel"), *conv.INPUT_RANGE, "input"
        )
    with right:
        choices(
            "cv_filter_choices",
            [
                Choice("cv_preset", "Preset", conv.PRESETS, on_change=load_preset),
                Choice(
                    "cv_k",
                    "Kernel size",
                    (3, 5),
                    "radio",
                    ("3x3", "5x5"),
                    horizontal=True,
                    on_change=load_preset,
                ),
            ],
            heading="Filter",
        )
        lo, hi = conv.KERNEL_RANGE
        if channels() == 1 and SS.cv_k == 3:
            kernel_sliders("cv_kernel", lo, hi)
        else:
            grid_editor(
                "cv_kernel", channel("cv_kernel_channel", "Filter channel"), lo, hi, "filter"
            )
        bias = value_slider("cv_bias", "Bias", lo, hi)

    choices(
        "cv_options",
        [
            Choice("cv_stride", "Stride", (1, 2, 3)),
            Choice("cv_padding", "Zero padding", (0, 1, 2)),
            Choice(
                "cv_act",
                "Activation",
                conv.ACTIVATIONS,
                labels=[ACTIVATION_NAMES[a] for a in conv.ACTIVATIONS],
            ),
            Choice(
                "cv_mode",
                "Operation",
                ("cross-correlation", "true convolution"),
                "radio",
                help="Deep learning's 'convolution' is cross-correlation. True convolution flips "
                "the kernel first (rotates it 180°).",
            ),
        ],
        columns=4,
    )
    stride, padding, activation, mode = (
        SS[k] for k in ("cv_stride", "cv_padding", "cv_act", "cv_mode")
    )

    img, kernel = SS.cv_img, SS.cv_kernel
    try:
        steps, payload, fingerprint = stepped(
            tuple(img.flatten().tolist()),
            tuple(kernel.flatten().tolist()),
            (kernel.shape[0], kernel.shape[-1]),
            bias,
            stride,
            padding,
            activation,
            mode == "true convolution",
            channels() == 3,
        )
    except UserError as exc:
        st.error(f"No output for these options: {exc}")
        return
    n = len(steps)
    size = steps.output.shape
    positions = "window position" if n == 1 else "window positions"
    st.caption(
        f"Output size = ⌊(5 + 2·{padding} − {SS.cv_k}) / {stride}⌋ + 1 = {size[0]}, "
        f"so the output map is {size[0]}x{size[1]}: {n} {positions}."
    )
    for note in conv.fit_notes(5, SS.cv_k, stride, padding):
        st.info(note)

    # The views as light tabs: only the open one runs and is drawn, so a move redraws what the
    # student sees (st.tabs with lazy tabs cost the browser ~26 ms more per move).
    choices("cv_view_tabs", [Choice("cv_view", "Views of the result", VIEWS, "tabs")])
    if SS.cv_view == "Step by step":
        step_by_step(steps, payload, fingerprint)
    elif SS.cv_view == "Pooling":
        pooling(steps, fingerprint)
    elif SS.cv_view == "Verify with PyTorch":
        verify(steps, fingerprint)
    else:
        on_a_digit(steps, bias, stride, padding, activation)
    share.publish(LINK_FIELDS, link_values())  # the address bar is a link to this view


def size_text(t) -> str:
    return f"{t.shape[0]}x{t.shape[1]}"


@st.fragment
def learned_filter() -> None:
    st.markdown("**A filter learned in a saved run**")
    run_id = pick_run("Run", key="cv_run", models=("convnet", "convnet-pool", "convnet-gap"))
    if run_id:
        a, b = st.columns([1, 2], vertical_alignment="bottom")
        f_idx = a.number_input("First-layer filter", 0, 15, 0, key="cv_filter_idx")
        b.button("Load into the filter", on_click=load_learned, args=(run_id, f_idx))
    if SS.pop("cv_rerun_page", False):
        st.rerun()  # the whole page, not just this fragment: the filter above changed


explore()
learned_filter()
