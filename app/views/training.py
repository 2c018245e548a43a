"""Live training: train the lesson's CNN in a background job and watch it learn; compare runs;
click a feature-map pixel to see its arithmetic; take a run home as plain PyTorch."""

import contextlib
import html

import streamlit as st
from torch import nn

from app.ui import live_feed, share
from app.ui.arithmetic import STANDARDISED, arithmetic_details
from app.ui.data import current_dataset
from app.ui.jobs import (
    POLL_RUNNING_S,
    job_manager,
    job_state_line,
    poll_every,
    session_id,
)
from app.ui.live_chart import live_chart
from app.ui.live_progress import live_progress
from app.ui.live_weights import live_weights
from app.ui.runs import escape_markdown, publish_button, run_store
from cnncore import links, speed
from cnncore.analysis import (
    evaluate_split,
    feature_maps,
    receptive_field_arithmetic,
)
from cnncore.errors import UserError
from cnncore.export import export_text
from cnncore.jobs import TrainingJob, set_intraop_threads
from cnncore.models import MODEL_NAMES, ConvNet
from cnncore.plots import arithmetic as arith_plots
from cnncore.plots import training as plots
from cnncore.runs import MAX_UPLOAD_BYTES, RunInfo
from cnncore.train import MAX_BATCH_SIZE, MAX_LR, MAX_SEED, OPTIMIZERS, PRECISIONS, TrainConfig

MAX_EPOCHS = 100  # the page's bound until the server settings (cnncore.settings) give one
SS = st.session_state
data, store, manager, sid = current_dataset(), run_store(), job_manager(), session_id()
WHERE = str(store.root)  # this visitor's workspace folder: part of the server-wide cache keys

st.title("Live training")
st.caption(
    "Train the lesson's network on the digits chosen in the sidebar and watch it learn: the loss "
    "per batch, validation after each epoch, the filters as they change. Training runs in the "
    "background, so clicking around, switching pages or refreshing never kills a run."
)


# ------------------------------------------------------------- messages that stay, as text
def say(where: str, kind: str, text: str) -> None:
    """Keep a message for the place ``where`` until the student's next action (the live
    panel's refreshes do not clear it)."""
    SS["tp_msg"] = {"where": where, "kind": kind, "text": text}


def act(fn=None, *args) -> None:
    """A widget callback: the student acted, so the last message goes; then do ``fn``."""
    SS.pop("tp_msg", None)
    if fn is not None:
        fn(*args)


def show_message(where: str, box=st) -> None:
    msg = SS.get("tp_msg")
    if msg and msg["where"] == where:
        getattr(box, msg["kind"])(escape_markdown(msg["text"]))


def run_label(r: RunInfo) -> str:
    """A picker label: the name as typed (names may repeat), then the run's unique id (its date,
    time and model) and its test accuracy."""
    acc = (r.summary or {}).get("test_accuracy")
    acc_text = f", test {acc:.1%}" if isinstance(acc, float) else ""
    return f"{r.name} ({r.id}{acc_text})"


def latest_job():
    jobs = [j for j in manager.jobs(sid) if isinstance(j, TrainingJob)]  # not the invariance page's
    active = [j for j in jobs if not j.done]
    return (active or jobs or [None])[-1]


def whole(label: str, text) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise UserError(f"{label} {str(text).strip()!r} is not a whole number") from None


def parse_config(v: dict) -> TrainConfig:
    """The set-up's text as a TrainConfig; anything wrong raises one plain UserError."""
    try:
        lr = float(str(v["lr"]).strip())
    except ValueError:
        raise UserError(f"learning rate {v['lr']!r} is not a number (try 0.001)") from None
    epochs = whole("epochs", v["epochs"])
    if not 1 <= epochs <= MAX_EPOCHS:
        raise UserError(f"epochs must be from 1 to {MAX_EPOCHS} (you typed {epochs})")
    seed = whole("seed", v["seed"])
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed must be a whole number from 0 to {MAX_SEED:,}")
    return TrainConfig(
        model=v["model"],
        lr=lr,
        epochs=epochs,
        batch_size=whole("batch size", v["batch_size"]),
        optimizer=v["optimizer"],
        seed=seed,
        precision=v["precision"],
        max_batches=whole("batches per epoch", v["max_batches"]),
    ).validate()


def setup_values() -> dict:
    """The set-up's values by field name (its widgets' keys start with ``tp_``)."""
    return {k[3:]: v for k, v in SS.items() if str(k).startswith("tp_")}


def start_training() -> None:
    act()
    job = latest_job()
    if job is not None and not job.done:  # a second click that raced the redraw
        say("start", "warning", "A run is already training here: stop it before starting another.")
        return
    try:
        config = parse_config(setup_values())
        manager.submit(TrainingJob(config, data, store, sid, SS["tp_name"].strip()))
        SS["tp_submitted"] = True  # the whole page redraws with its live panel
    except UserError as exc:
        say("start", "error", f"Training not started: {exc}")


job = latest_job()

# ------------------------------------------------------- the link: set-up and picked run in the URL
LINK_FIELDS = [
    links.Field("model", "choice", "convnet", choices=tuple(MODEL_NAMES)),
    links.Field("optimizer", "choice", "adam", choices=OPTIMIZERS),
    links.Field("lr", "float", 0.001, lo=1e-12, hi=MAX_LR),
    links.Field("epochs", "int", 3, lo=1, hi=MAX_EPOCHS),
    links.Field("batch", "int", 256, lo=1, hi=MAX_BATCH_SIZE),
    links.Field("seed", "int", 0, lo=0, hi=MAX_SEED),
    links.Field("precision", "choice", "auto", choices=PRECISIONS),
    links.Field("batches", "int", 0, lo=0, hi=100_000),
    links.Field("run", "text", "", hi=100),
]
LINK_KEYS = {
    "model": "tp_model",
    "optimizer": "tp_optimizer",
    "lr": "tp_lr",
    "epochs": "tp_epochs",
    "batch": "tp_batch_size",
    "seed": "tp_seed",
    "precision": "tp_precision",
    "batches": "tp_max_batches",
    "run": "tp_linked_run",
}


def link_values() -> dict:
    return {name: SS[key] for name, key in LINK_KEYS.items() if key in SS}


restored = share.restore("training", LINK_FIELDS, LINK_KEYS)
for field in LINK_FIELDS:  # the set-up's text boxes hold text; the link's numbers become text
    key = LINK_KEYS[field.name]
    SS.setdefault(key, field.default)
    if field.kind in ("int", "float"):
        SS[key] = field.encode(SS[key]) if field.name in restored else str(SS[key])
share.ignored_notice("training")
share.copy_link_button("tp_copy_link")


# ---------------------------------------------------------------------------------- set-up
@st.fragment
def setup_panel() -> None:
    """The set-up, Start, and the estimate for what is typed: a changed field (Enter, or leaving
    it) reruns only this part, so the estimate follows the set-up before Start; Start redraws the
    whole page with the run's live panel."""
    job = latest_job()
    busy = job is not None and not job.done
    row = st.container(horizontal=True, wrap=True)
    row.selectbox(
        "Model",
        list(MODEL_NAMES),
        format_func=MODEL_NAMES.get,
        key="tp_model",
        width=310,
        on_change=act,
    )
    row.radio(
        "Optimizer",
        OPTIMIZERS,
        horizontal=True,
        key="tp_optimizer",
        format_func={"adam": "Adam", "sgd": "SGD + momentum 0.9"}.get,
        on_change=act,
    )
    row = st.container(horizontal=True, wrap=True)
    row.text_input(
        "Learning rate",
        key="tp_lr",
        width=140,
        help="a number > 0 and at most 10, e.g. 0.001 or 1e-3",
        on_change=act,
    )
    row.text_input(
        "Epochs",
        key="tp_epochs",
        width=110,
        help=f"a whole number from 1 to {MAX_EPOCHS}",
        on_change=act,
    )
    row.text_input(
        "Batch size",
        key="tp_batch_size",
        width=110,
        help=f"a whole number from 1 to {MAX_BATCH_SIZE}",
        on_change=act,
    )
    row.text_input(
        "Seed",
        key="tp_seed",
        width=110,
        help=f"a whole number from 0 to {MAX_SEED:,}: initial weights and batch order",
        on_change=act,
    )
    row.selectbox(
        "Precision",
        PRECISIONS,
        key="tp_precision",
        width=110,
        help="auto: bf16 on CPUs with fast bf16, else fp32",
        on_change=act,
    )
    row.text_input(
        "Batches per epoch (0 = all)",
        key="tp_max_batches",
        width=200,
        help="a small number gives a quick demo run",
        on_change=act,
    )
    st.text_input("Run name (optional)", max_chars=80, key="tp_name")
    # A form of one button: the fields above send their values as they change (the estimate
    # follows them), and a form's button draws without loading Streamlit's button scripts,
    # which a first visit otherwise fetched behind those of every field (+0.5 s, paired).
    with st.form("tp_start", border=False, enter_to_submit=False):
        st.form_submit_button(
            "Start training",
            type="primary",
            disabled=busy,
            on_click=start_training,
            icon=":material/play_arrow:",
            help="one run at a time per tab: stop the current one first" if busy else None,
        )
    show_message("start")
    with contextlib.suppress(UserError):  # a bad value gets its message when Start is pressed
        st.caption(speed.estimate_line(parse_config(setup_values()), data))
    if SS.pop("tp_submitted", False):
        st.rerun()  # the whole page: the new run's live panel


with st.expander("Set-up", expanded=job is None, icon=":material/tune:"):
    setup_panel()
job = latest_job()  # Start may have just submitted one


# ------------------------------------------------------------------------------ live panel
def apply_lr(j: TrainingJob, old: float) -> None:
    new = SS.get("new_lr")
    try:
        TrainConfig(lr=new).validate()  # the same bounds as at the start (0 < lr <= 10)
        j.set_lr(new)
        say("lr", "info", f"learning rate {old:g} → {new:g} from the next batch")
    except UserError as exc:
        say("lr", "error", f"Learning rate not changed: {exc}")


def controls(j: TrainingJob, s: dict) -> None:
    row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom")
    # One button that says Pause or Resume (same key, same place): a click redraws only this
    # fragment, and the row keeps its elements (swapping two buttons left a stale one next to
    # the new one in the browser when the polling fragment ran in between).
    paused = s["status"] == "paused"
    row.button(
        "Resume" if paused else "Pause",
        on_click=act,
        args=(j.resume if paused else j.pause,),
        key="pause_resume",
        icon=":material/play_arrow:" if paused else ":material/pause:",
        disabled=s["status"] not in ("running", "paused"),
    )
    row.button("Stop", on_click=act, args=(j.stop,), key="stop", icon=":material/stop:")
    row.number_input(
        "New learning rate",
        value=float(s["lr"]),
        format="%g",
        key="new_lr",
        step=float(s["lr"]) / 2,
        width=170,
        on_change=act,
    )
    row.button("Apply learning rate", key="apply_lr", on_click=act, args=(apply_lr, j, s["lr"]))
    show_message("lr")


def live_figures(w: live_feed.Watch, status: str, feed: bool) -> None:
    """The loss and validation charts with their view controls, and the filters and one digit's
    feature maps; with ``feed`` they ask the server for what changed while the job trains."""
    row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom")
    row.slider(
        "Smoothing weight w",
        0.0,
        0.99,
        0.6,
        0.01,
        key="smoothing",
        width=320,
        help=plots.SMOOTHING_FORMULA,
        on_change=act,
    )
    row.toggle("Log-scale loss", key="log_y", on_change=act)
    st.caption(f"Smoothing: {plots.SMOOTHING_FORMULA} (w = 0: raw loss). Hover for read-outs.")
    versions, curves, batches = live_feed.curves(w)
    every = POLL_RUNNING_S
    left, right = st.columns([1.7, 1])
    with left:
        note = f"{batches:,} batches plotted"
        loss_feed = live_feed.feed(w, "loss", every) if feed else None
        live_chart(curves["loss"], versions["loss"], "loss_chart", note, loss_feed)
    with right:
        val_feed = live_feed.feed(w, "val", every) if feed else None
        live_chart(curves["val"], versions["val"], "val_chart", feed=val_feed)
    if status == "queued":  # a queued job has no weights yet
        return
    st.number_input(
        "Digit for the feature maps (index in the test split)",
        0,
        len(data.test) - 1,
        0,
        key="digit",
        on_change=act,
        width=320,
    )
    shown = live_feed.pictures(w)
    if shown is not None:
        pictures_feed = live_feed.feed(w, "pictures", every) if feed else None
        live_weights(shown["payload"], shown["version"], "weights_pictures", pictures_feed)


def live_panel(job_id: str, every: float | None) -> None:
    """Two fragments. The run's state and its controls redraw only when the student acts (a
    click reruns just them, at once, and never waits behind a refresh). The progress, curves,
    filters and feature maps keep up with the job: where the server serves the live feed
    (``app.ui.live_feed``), their components ask it for what changed, with no rerun of the page,
    and the page redraws only when the job's state changes; elsewhere (AppTest, or ``main.py``
    served on its own) their fragment reruns every ``every`` s. The pictures are rebuilt at most
    every ``live_feed.WEIGHTS_S``."""
    feed = live_feed.available()

    @st.fragment
    def state_panel():
        j = manager.get(job_id)
        if j is None:
            return
        s = j.snapshot(since=j.version)  # no history: the curves fragment draws it
        st.subheader(escape_markdown(f"Run: {j.name}"))
        st.markdown(job_state_line(s))
        if not s["done"] and not s["stopping"]:
            controls(j, s)
        elif s["done"] and s["run_id"]:  # (a running job's run folder exists from the start)
            st.success(f"{escape_markdown(s['message'])}. Saved as run **{s['run_id']}**.")

    @st.fragment(run_every=None if feed else every)
    def curves_panel():
        set_intraop_threads(1)
        j = manager.get(job_id)
        if j is None:
            return
        manager.touch(sid)
        if SS.pop("tp_redraw", False):  # the progress line saw the job's state change
            st.rerun()
        digit = min(max(int(SS.get("digit", 0)), 0), len(data.test) - 1)
        w = live_feed.watch(
            SS.get("tp_watch"),
            j,
            manager,
            smoothing=SS.get("smoothing", 0.6),
            log_y=SS.get("log_y", False),
            digit=digit,
            image=data.test.images[digit],
            label=data.classes[int(data.test.labels[digit])],
        )
        SS["tp_watch"] = w.token
        live = feed and not j.done  # an ended job has nothing left to watch
        state = live_feed.state(w)
        live_progress(
            state,
            live_feed.feed(w, "state", state["every"]) if live else None,
            key="tp_progress",
            on_change=lambda: SS.__setitem__("tp_redraw", True),
        )
        live_figures(w, state["status"], live)
        if feed:
            return
        s = j.snapshot(since=j.version)
        if poll_every(s) != every:  # queued -> running, or ended: redraw the page at the new pace
            st.rerun()
        new_folder = j.run_id and j.run_id not in SS.get("tp_listed", ())
        if new_folder and SS.get("tp_relisted") != j.run_id:  # its folder has appeared: redraw
            SS["tp_relisted"] = j.run_id  # the page once, so the runs table lists it
            st.rerun()

    state_panel()
    curves_panel()


if job is not None:
    live_panel(job.id, poll_every(job.snapshot()))


# ------------------------------------------------------------------------- results of a run
def pick(run_id: str) -> None:
    """Show ``run_id`` in the results and manage pickers (they otherwise keep the student's pick)."""
    SS["result_run"] = SS["manage_run"] = SS["tp_shown_run"] = run_id


# Cached for the whole server, so keyed by the workspace's folder too: run ids are unique
# within a workspace, and two students who start the same model in the same second get the
# same id (and "created") in their own workspaces.
@st.cache_resource(max_entries=8, show_spinner="Loading the run…")
def run_model(where: str, run_id: str, created: str):
    model, _config = store.load_model(run_id)
    return model


@st.cache_resource(max_entries=8, show_spinner="Evaluating on the test split…")
def run_evaluation(where: str, run_id: str, created: str, source: str, _data):
    return evaluate_split(run_model(where, run_id, created), _data.test)


@st.cache_resource(max_entries=8, show_spinner=False)
def result_figures(where: str, run_id: str, created: str, source: str, _data):
    """A run's confusion, per-class and mistakes figures, built once per run: the mistakes grid
    alone takes ~0.4 s (24 subplots), and this page redraws whole often (Start, a job that
    starts or ends, a picker), each time while a click may be waiting behind it."""
    ev = run_evaluation(where, run_id, created, source, _data)
    wrong = ev.mistakes(12)
    images, labels = _data.test.images[wrong], ev.labels[wrong].tolist()
    return (
        plots.confusion_figure(ev.confusion, _data.classes),
        plots.per_class_figure(ev.per_class(_data.classes)),
        plots.mistakes_figure(images, labels, ev.probs[wrong], _data.classes),
    )


all_runs = store.list()  # read once per page run; damaged ones only go in the table
SS["tp_listed"] = {r.id for r in all_runs}
runs = [r for r in all_runs if not r.damaged and r.status != "running"]  # running: in the table
labels = {r.id: run_label(r) for r in runs}
if job is not None and job.run_id and job.done and job.run_id != SS.get("tp_shown_run"):
    pick(job.run_id)  # a run that just ended (a resumed one too) becomes the one shown, once
if linked := SS.pop("tp_linked_run", ""):  # a shared link names a run: show it if this visitor can
    if linked in labels:
        SS["result_run"] = linked
    else:
        st.info(
            f"The link shows run {escape_markdown(linked)}, which is not in your workspace, so it cannot be shown "
            "here (runs are private unless published to the class gallery).",
            icon=":material/link_off:",
        )
for picker in ("result_run", "manage_run"):  # a run deleted elsewhere leaves the pickers
    if SS.get(picker) is not None and SS[picker] not in labels:
        del SS[picker]
st.divider()
st.subheader("Results of a run")
info = None
if not runs:
    st.caption("No saved runs yet: start one above.")
else:
    ids = [r.id for r in runs]
    run_id = st.selectbox(
        "Run",
        ids,
        format_func=labels.get,
        key="result_run",
        on_change=act,
    )
    info = next(r for r in runs if r.id == run_id)
    summary = info.summary or {}
    try:
        ev = run_evaluation(WHERE, run_id, info.created, data.source, data)
        val_acc = summary.get("val_accuracy")
        row = st.container(horizontal=True, wrap=True)
        row.metric(f"Test accuracy ({data.source})", f"{ev.accuracy:.2%}", width="content")
        row.metric(
            "Validation accuracy", f"{val_acc:.2%}" if val_acc is not None else "—", width="content"
        )
        row.metric("Status", info.status, width="content")
        row.metric("Images/s", f"{summary.get('images_per_s') or 0:,.0f}", width="content")
        if summary.get("message"):
            st.text(summary["message"])
        confusion, per_class, mistakes = result_figures(
            WHERE, run_id, info.created, data.source, data
        )
        left, right = st.columns(2)
        left.plotly_chart(confusion, key="confusion")
        right.plotly_chart(per_class, key="per_class")
        st.plotly_chart(mistakes, key="mistakes")
    except UserError as exc:
        st.error(escape_markdown(str(exc)))


# ------------------------------------------------------- from a feature map to its arithmetic
def clicked_pixel(h: int, w: int) -> tuple[int, int] | None:
    """(row, col) of the feature-map pixel last clicked, if it is inside an h x w map."""
    event = SS.get("rf_chart")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        r, c = int(p.get("y", -1)), int(p.get("x", -1))
        if p.get("curve_number") == 2 and 0 <= r < h and 0 <= c < w:
            return r, c
    return None


@st.fragment
def arithmetic_panel(info: RunInfo) -> None:
    st.subheader("From a feature map to its arithmetic")
    model = run_model(WHERE, info.id, info.created)
    if not isinstance(model, ConvNet):
        st.info("Pick a ConvNet run above: this view steps into its convolutions.")
        return
    st.caption(
        "Click a pixel of the feature map: the digit shows the input pixels it depends on (its "
        "receptive field), and below is the dot product that computed it, exactly as on the "
        f"Convolution page. {STANDARDISED}"
    )
    row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom")
    layer = row.radio(
        "Convolution",
        [1, 2],
        horizontal=True,
        key="rf_layer",
        format_func=lambda n: f"conv {n} ({'5x5' if n == 1 else '9x9'} field)",
    )
    convs = [m for m in model.conv_layers if isinstance(m, nn.Conv2d)]
    channel = row.number_input(
        "Feature map", 0, convs[layer - 1].out_channels - 1, 0, key="rf_channel", width=140
    )
    digit = row.number_input("Test digit", 0, len(data.test) - 1, 0, key="rf_digit", width=140)
    image = data.test.images[int(digit)]
    maps = dict(feature_maps(model, image))
    fmap = maps[f"ReLU {layer}"][int(channel)]
    pick = clicked_pixel(*fmap.shape)
    if pick is None:  # nothing clicked yet: the map's strongest pixel
        pick = divmod(int(fmap.argmax()), fmap.shape[1])
    a = receptive_field_arithmetic(model, image, layer, int(channel), *pick)
    title = f"conv {layer} map {channel} after ReLU (click a pixel)"
    st.plotly_chart(
        arith_plots.field_figure(image, fmap, title, a),
        key="rf_chart",
        on_select="rerun",
        selection_mode="points",
        config={"displayModeBar": False},
    )
    arithmetic_details(a, float(fmap[a.row, a.col]), "rf_products")


if info is not None:
    arithmetic_panel(info)


# ------------------------------------------------------------------------------------ runs
def rename_run(run_id: str) -> None:
    act()
    try:
        store.rename(run_id, SS.get("new_name", ""))
        say("manage", "success", f"Renamed run {run_id} to {SS['new_name'].strip()}.")
    except UserError as exc:
        say("manage", "error", f"Not renamed: {exc}")


def delete_run(run_id: str, name: str) -> None:
    act()
    SS["sure"] = False  # "Really delete" asks again for the next run
    try:
        store.delete(run_id)
        say("manage", "success", f"Deleted run {name} ({run_id}).")
    except UserError as exc:
        say("manage", "error", f"Not deleted: {exc}")


def export_file(run_id: str, suffix: str) -> tuple[str | None, str]:
    """(text, note) of a run's script or notebook; uploaded weights train on today's source."""
    try:
        return export_text(store, run_id, suffix), ""
    except UserError as exc:
        if "no data source" not in str(exc):
            return None, str(exc)
    try:
        return export_text(store, run_id, suffix, data.source), f"trains on {data.source}"
    except UserError as exc:
        return None, str(exc)


def resume_run(run_id: str) -> None:
    act()
    job = latest_job()
    if job is not None and not job.done:  # one run at a time per tab, as for Start
        say("resume", "warning", "A run is already training here: stop it before resuming one.")
        return
    try:  # the same job manager, limits and queue as Start
        manager.submit(TrainingJob.resuming(store, run_id, data, sid))
        say("resume", "success", f"Resuming run {run_id}: it trains in the live panel above.")
    except UserError as exc:
        say("resume", "error", f"Not resumed: {exc}")


def resume_panel(interrupted: list[RunInfo]) -> None:
    """Runs of this workspace whose training was cut off, and a button that continues one."""
    with st.container(border=True):
        st.markdown("**Interrupted runs**")
        st.caption(
            "Training was cut off (the server or the command line was stopped hard). The run "
            "keeps its curves and the weights of its last finished epoch; Resume training "
            "continues it from there, in place, with its own settings: the partly trained epoch "
            "is trained again, so the run ends as it would have without the break."
        )
        row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom")
        target = row.selectbox(
            "Interrupted run",
            [r.id for r in interrupted],
            format_func=labels.get,
            key="resume_pick",
            on_change=act,
            width=520,
        )
        info = next(r for r in interrupted if r.id == target)
        if info.resumable:
            busy_now = (j := latest_job()) is not None and not j.done
            row.button(
                "Resume training",
                key="resume_run",
                type="primary",
                icon=":material/replay:",
                disabled=busy_now,
                on_click=resume_run,
                args=(target,),
                help="one run at a time per tab: stop the current one first" if busy_now else None,
            )
            st.text(f"Continues after epoch {info.checkpoint_epoch} of {info.config['epochs']}.")
        else:
            st.text(f"This run cannot be resumed: {info.note}.")
        show_message("resume")


st.divider()
st.subheader("Saved runs")
table = store.table(all_runs)
if not table.empty:
    st.dataframe(table.drop(columns=["created"]), hide_index=True, key="runs_table")
if interrupted := [r for r in runs if r.status == "interrupted"]:
    resume_panel(interrupted)
if runs:
    chosen = st.multiselect(
        "Overlay the curves of",
        [r.id for r in runs],
        default=[r.id for r in runs[:3]],
        format_func=labels.get,
        key="overlay",
        on_change=act,
    )
    if chosen:
        curves = [(html.escape(labels[i]), store.metrics(i)) for i in chosen]
        st.plotly_chart(
            plots.overlay_figure(curves, SS.get("smoothing", 0.6), SS.get("log_y", False)),
            key="overlay_chart",
        )

    with st.expander("Rename, delete, download or take home a run"):
        target = st.selectbox(
            "Run", [r.id for r in runs], format_func=labels.get, key="manage_run", on_change=act
        )
        target_name = next(r.name for r in runs if r.id == target)
        st.caption(f"Run id {target}; its name as typed:")
        st.text(target_name)
        row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom")
        row.text_input("New name", key="new_name", max_chars=80, width=260)
        row.button("Rename", key="rename", on_click=rename_run, args=(target,))
        row.checkbox("Really delete", key="sure")
        row.button(
            "Delete run",
            key="delete",
            disabled=not SS.get("sure"),
            icon=":material/delete:",
            on_click=delete_run,
            args=(target, target_name),
        )

        def zip_bytes(run_id=target) -> bytes:
            info = store.info(run_id)
            model, _ = store.load_model(run_id)
            report = plots.run_report_html(info, store.metrics(run_id), model, data)
            return store.export_zip(run_id, report)

        row = st.container(horizontal=True, wrap=True)
        row.download_button(
            "Download run as zip",
            zip_bytes,
            f"{target}.zip",
            "application/zip",
            on_click="ignore",
            key=f"download-{target}",
            icon=":material/download:",
            help="config, metrics CSV, weights, TensorBoard events, HTML report",
        )
        for suffix, what, mime in (
            (".py", "Python script", "text/x-python"),
            (".ipynb", "Jupyter notebook", "application/x-ipynb+json"),
        ):
            text, note = export_file(target, suffix)
            if text is not None:
                row.download_button(
                    f"Take home: {what} ({suffix})",
                    text,
                    f"{target}{suffix}",
                    mime,
                    on_click="ignore",
                    key=f"export{suffix}",
                    icon=":material/code:",
                    help="plain PyTorch + torchvision; reproduces this run "
                    + (f"({note})" if note else "with its data"),
                )
            else:
                st.text(f"No {what}: {note}")
        st.caption(
            "The script and notebook train this run again with plain PyTorch (same seed and "
            "fp32: the same losses); `python FILE.py --max-batches 5` is a quick try. Every run "
            "also has TensorBoard event files: `tensorboard --logdir runs`."
        )
        publish_button(target)
show_message("manage")


def import_upload() -> None:
    act()
    try:
        up = SS.get("upload_file")
        if up is None:
            raise UserError("choose a .pt file first")
        name = SS.get("up_name", "").strip() or "uploaded"
        new_id = store.import_weights(up.getvalue(), SS["up_model"], name)
        pick(new_id)
        say("upload", "success", f"Imported as run {new_id}; pick it under Results of a run.")
    except UserError as exc:
        say("upload", "error", f"Not imported: {exc}")


with st.expander("Load weights from a .pt file"), st.form("upload", border=False):
    st.selectbox(
        "Model the weights are for", list(MODEL_NAMES), format_func=MODEL_NAMES.get, key="up_model"
    )
    st.file_uploader(
        f"A state_dict saved with torch.save (at most {MAX_UPLOAD_BYTES // 2**20} MB)",
        type=["pt", "pth"],
        key="upload_file",
    )
    st.text_input("Name for the imported run", "uploaded weights", max_chars=80, key="up_name")
    st.form_submit_button("Import weights", on_click=import_upload)
show_message("upload")

# the address bar is a link to this set-up and the run shown under "Results of a run"
share.publish(LINK_FIELDS, {**link_values(), "run": SS.get("result_run") or ""})
