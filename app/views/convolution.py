"""Convolution: a filter sliding over a 5x5 image, step by step (the lesson's first picture)."""

import streamlit as st

from app.ui.conv_widgets import grid_editor, kernel_sliders, set_kernel
from app.ui.data import current_dataset
from app.ui.runs import pick_run, run_store
from cnncore import conv
from cnncore.data import to_float
from cnncore.errors import UserError
from cnncore.plots.conv import conv_animation, digit_and_filtered, pool_animation

SS = st.session_state
COLOUR_SAMPLE = "colour: red X, green O, blue plus"
CHANNELS = ("R", "G", "B")
SPEEDS = {"slow": 1500, "normal": 700, "fast": 250}


def channels() -> int:
    return 3 if SS.get("cv_colour") else 1


def load_sample() -> None:
    name = SS.get("cv_sample", "X (lesson)")
    c = channels()
    img = conv.colour_sample() if name == COLOUR_SAMPLE else conv.sample(name).expand(c, 5, 5)
    SS.cv_img = img.clone()
    SS.cv_img_ver = SS.get("cv_img_ver", 0) + 1


def load_preset() -> None:
    k = conv.preset(SS.get("cv_preset", conv.PRESETS[0]), SS.get("cv_k", 3))
    set_kernel("cv_kernel", k.expand(channels(), -1, -1).clone())


def change_colour() -> None:
    SS.cv_sample = COLOUR_SAMPLE if SS.cv_colour else "X (lesson)"
    load_sample()
    load_preset()


def move_step(delta: int) -> None:
    SS.cv_step = min(max(1, SS.cv_step + delta), SS.get("cv_n", 1))


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
    set_kernel("cv_kernel", weights.clamp(lo, hi)[None].clone())
    SS.cv_loaded = f"Loaded filter {index} of the first layer of run {run_id}."


if "cv_img" not in SS:
    load_sample()
    load_preset()
    SS.cv_step = 1

st.title("Convolution: a filter sliding over an image")
st.markdown(
    "A convolution slides a small **filter** (kernel) over the image. At every position it "
    "multiplies the filter with the patch under it, adds the products up (a dot product) and "
    "adds a bias: one number of the **output map**. The lesson's X detector has +1 on both "
    "diagonals and −1 elsewhere, so the sum is largest exactly where the image has an X: "
    "convolution is **pattern matching**, and training learns the patterns to look for."
)
if msg := SS.pop("cv_grid_error", None):
    st.error(msg)
if msg := SS.pop("cv_loaded", None):
    st.success(msg)

st.toggle("Colour image (3 channels: a 3x5x5 input and a 3xkxk filter)", key="cv_colour",
          on_change=change_colour)  # fmt: skip
left, right = st.columns(2, gap="large")
with left:
    st.subheader("Input (5x5, values 0–1)")
    samples = ([COLOUR_SAMPLE] if channels() == 3 else []) + list(conv.SAMPLES)
    st.selectbox("Sample input", samples, key="cv_sample", on_change=load_sample)
    tabs = st.tabs(CHANNELS) if channels() == 3 else [st.container()]
    for ch, tab in enumerate(tabs):
        with tab:
            grid_editor("cv_img", ch, *conv.INPUT_RANGE, label="input")
with right:
    st.subheader("Filter")
    a, b = st.columns(2)
    a.selectbox("Preset", conv.PRESETS, key="cv_preset", on_change=load_preset)
    b.radio("Kernel size", [3, 5], key="cv_k", horizontal=True, on_change=load_preset,
            format_func=lambda k: f"{k}x{k}")  # fmt: skip
    lo, hi = conv.KERNEL_RANGE
    if channels() == 1 and SS.cv_k == 3:
        kernel_sliders("cv_kernel", lo, hi)
    else:
        tabs = st.tabs(CHANNELS) if channels() == 3 else [st.container()]
        for ch, tab in enumerate(tabs):
            with tab:
                grid_editor("cv_kernel", ch, lo, hi, label="filter")
    bias = st.slider("Bias", lo, hi, 0.0, step=0.1, key="cv_bias")

o1, o2, o3, o4 = st.columns(4)
stride = o1.selectbox("Stride", [1, 2, 3], key="cv_stride")
padding = o2.selectbox("Zero padding", [0, 1, 2], key="cv_padding")
activation = o3.selectbox(
    "Activation",
    conv.ACTIVATIONS,
    key="cv_act",
    format_func={"none": "none", "relu": "ReLU", "sigmoid": "sigmoid"}.get,
)
mode = o4.radio("Operation", ["cross-correlation", "true convolution"], key="cv_mode",
                help="Deep learning's 'convolution' is cross-correlation. True convolution flips "
                "the kernel first (rotates it 180°).")  # fmt: skip

try:
    steps = conv.conv_steps(SS.cv_img, SS.cv_kernel, bias, stride, padding, activation,
                            flip=mode == "true convolution")  # fmt: skip
except UserError as exc:
    st.error(f"No output for these options: {exc}")
    st.stop()
n = len(steps)
size = steps.output.shape
st.caption(
    f"Output size = ⌊(5 + 2·{padding} − {SS.cv_k}) / {stride}⌋ + 1 = {size[0]}, "
    f"so the output map is {size[0]}x{size[1]}: {n} window positions."
)
for note in conv.fit_notes(5, SS.cv_k, stride, padding):
    st.info(note)

SS.cv_n = n
SS.cv_step = min(SS.get("cv_step", 1), n)
st.subheader("Step by step")
s1, s2, s3, s4 = st.columns([1, 1, 4, 2])
s1.button("◀ Back", on_click=move_step, args=(-1,), disabled=SS.cv_step <= 1,
          width="stretch")  # fmt: skip
s2.button("Step ▶", on_click=move_step, args=(1,), disabled=SS.cv_step >= n,
          width="stretch")  # fmt: skip
if n > 1:
    s3.slider("Step", 1, n, key="cv_step", label_visibility="collapsed")
speed = s4.select_slider("Speed", list(SPEEDS), value="normal", key="cv_speed",
                         label_visibility="collapsed")  # fmt: skip
step = steps.step(SS.cv_step - 1)
st.markdown(f"**Step {SS.cv_step} of {n}**, output[{step.row}, {step.col}]:")
st.code(step.equation(CHANNELS if channels() == 3 else None), language=None)
st.plotly_chart(
    conv_animation(steps, SS.cv_step - 1, SPEEDS[speed], CHANNELS if channels() == 3 else None),
    key="cv_anim",
    config={"displayModeBar": False},
)
st.caption(
    "▶ Play runs in your browser from the current frame; the slider under the figure scrubs. "
    "The buttons above step one window at a time and keep your place when you change the filter."
)

st.subheader("Pooling the output map")
p1, p2 = st.columns(2)
pool_mode = p1.radio("Pooling", ["max", "avg"], key="cv_pool", horizontal=True,
                     format_func={"max": "2x2 max", "avg": "2x2 average"}.get)  # fmt: skip
pool_stride = p2.radio("Pooling stride", [2, 1], key="cv_pool_stride", horizontal=True)
try:
    pooled = conv.pool_steps(steps.output[None], pool_mode, 2, pool_stride)
    st.plotly_chart(pool_animation(pooled, 0, SPEEDS[speed]), key="cv_pool_anim",
                    config={"displayModeBar": False})  # fmt: skip
except UserError as exc:
    st.warning(f"No pooling for these options: {exc}")

st.subheader("Verify with PyTorch")
code, torch_out, diff = conv.verify_with_torch(steps)
st.code(code, language="python")
if diff < 1e-5:
    st.success(f"PyTorch gives the same {size[0]}x{size[1]} map (max |difference| {diff:.1e}).")
else:
    st.error(f"PyTorch differs from the stepped result by up to {diff:.3g}.")

st.subheader("On a real digit")
data = current_dataset()
d1, d2 = st.columns([1, 3])
idx = d1.number_input("Test digit #", 0, len(data.test) - 1, 0, key="cv_digit")
digit = to_float(data.test.images[idx : idx + 1])[0, 0]
kernel0 = steps.kernel[0]
with d1:
    if channels() == 3:
        st.caption("Digits have one channel: the filter's R channel is applied.")
    st.markdown("**A filter learned in a saved run**")
    run_id = pick_run("Run", key="cv_run", models=("convnet", "convnet-pool", "convnet-gap"))
    if run_id:
        f_idx = st.number_input("First-layer filter", 0, 15, 0, key="cv_filter_idx")
        st.button("Load into the filter", on_click=load_learned, args=(run_id, f_idx))
filtered = conv.filter_image(digit, kernel0, bias, stride, padding, activation, steps.flip)
label = data.classes[int(data.test.labels[idx])]
d2.plotly_chart(digit_and_filtered(digit, filtered, f"test digit #{idx} (label {label})"),
                key="cv_digit_fig", config={"displayModeBar": False})  # fmt: skip
