"""Live training: train the lesson's CNN in a background job and watch it learn; compare runs."""

import contextlib

import streamlit as st

from app.ui.data import current_dataset
from app.ui.jobs import job_manager, job_panel, session_id
from app.ui.runs import publish_button, run_label, run_store
from cnncore import speed
from cnncore.analysis import evaluate_split, feature_maps, first_layer_filters, model_from_state
from cnncore.errors import UserError
from cnncore.jobs import TrainingJob, set_intraop_threads
from cnncore.models import MODEL_NAMES
from cnncore.plots import training as plots
from cnncore.runs import MAX_UPLOAD_BYTES
from cnncore.train import OPTIMIZERS, PRECISIONS, TrainConfig

POLL_S = 0.5  # the live curves' refresh period (s)
WEIGHTS_S = 2.0  # filters and feature maps
data, store, manager, sid = current_dataset(), run_store(), job_manager(), session_id()

st.title("Live training")
st.caption(
    "Train the lesson's network on the digits chosen in the sidebar and watch it learn: the loss "
    "per batch, validation after each epoch, the filters as they change. Training runs in the "
    "background, so clicking around, switching pages or refreshing never kills a run."
)


def latest_job():
    jobs = [j for j in manager.jobs(sid) if isinstance(j, TrainingJob)]  # not the invariance page's
    active = [j for j in jobs if not j.done]
    return (active or jobs or [None])[-1]


def parse_config(v: dict) -> TrainConfig:
    try:
        lr = float(str(v["lr"]).strip())
    except ValueError:
        raise UserError(f"learning rate {v['lr']!r} is not a number (try 0.001)") from None
    return TrainConfig(model=v["model"], lr=lr, epochs=int(v["epochs"]),
                       batch_size=int(v["batch_size"]), optimizer=v["optimizer"],
                       seed=int(v["seed"]), precision=v["precision"],
                       max_batches=int(v["max_batches"])).validate()  # fmt: skip


job = latest_job()
busy = job is not None and not job.done

# ---------------------------------------------------------------------------------- set-up
with (
    st.expander("Set-up", expanded=job is None, icon=":material/tune:"),
    st.form("setup", border=False),
):
    c = st.columns(4)
    v = {"model": c[0].selectbox("Model", list(MODEL_NAMES), format_func=MODEL_NAMES.get),
         "lr": c[1].text_input("Learning rate", "0.001", help="a number > 0, e.g. 0.001 or 1e-3"),
         "epochs": c[2].number_input("Epochs", 0, 100, 3),
         "batch_size": c[3].number_input("Batch size", 0, 100_000, 256),
         "optimizer": c[0].radio("Optimizer", OPTIMIZERS, horizontal=True,
                                 format_func={"adam": "Adam", "sgd": "SGD + momentum 0.9"}.get),
         "seed": c[1].number_input("Seed", 0, 2**31 - 1, 0),
         "precision": c[2].selectbox("Precision", PRECISIONS,
                                     help="auto: bf16 on CPUs with fast bf16, else fp32"),
         "max_batches": c[3].number_input("Batches per epoch (0 = all)", 0, 100_000, 0,
                                          help="a small number gives a quick demo run")}  # fmt: skip
    name = st.text_input("Run name (optional)", max_chars=80)
    start = st.form_submit_button("Start training", type="primary", disabled=busy, icon=":material/play_arrow:",
                                  help="one run at a time per tab: stop the current one first" if busy else None)  # fmt: skip
with contextlib.suppress(UserError):  # a bad value gets its message when Start is pressed
    st.caption(speed.estimate_line(parse_config(v), data))
if start and busy:  # a second click that raced the redraw
    st.warning("A run is already training in this tab: stop it before starting another.")
elif start:
    try:
        config = parse_config(v)
        job = manager.submit(TrainingJob(config, data, store, sid, name.strip()))
        st.rerun()  # redraw the form with Start disabled and the live panel polling
    except UserError as exc:
        st.error(f"Training not started: {exc}")


# ------------------------------------------------------------------------------ live panel
def progress_text(s: dict) -> str:
    if s["status"] == "queued":
        return f"queued, position {s['queue_position']}"
    running = not s["done"] and s.get("seconds_left") is not None
    left = f", ~{s['seconds_left']:.0f} s left" if running else ""
    return (f"epoch {s['epoch']}/{s['config']['epochs']} · batch {s['batch']}/"
            f"{s['batches_per_epoch']} · {s['images_per_s']:,.0f} images/s{left}")  # fmt: skip


def controls(j: TrainingJob, s: dict) -> None:
    c = st.columns([1, 1, 1.3, 1.3, 2.4], vertical_alignment="bottom")
    if s["status"] == "paused":
        c[0].button(
            "Resume", on_click=j.resume, key="resume", width="stretch", icon=":material/play_arrow:"
        )
    else:
        c[0].button("Pause", on_click=j.pause, key="pause", width="stretch", icon=":material/pause:",
                    disabled=s["status"] != "running")  # fmt: skip
    c[1].button("Stop", on_click=j.stop, key="stop", width="stretch", icon=":material/stop:")
    new_lr = c[2].number_input("New learning rate", value=float(s["lr"]), format="%g",
                               step=float(s["lr"]) / 2, key="new_lr")  # fmt: skip
    if c[3].button("Apply learning rate", key="apply_lr", width="stretch"):
        try:
            j.set_lr(new_lr)
            c[4].caption(f"learning rate {s['lr']:g} → {new_lr:g} from the next batch")
        except UserError as exc:
            c[4].error(str(exc))


def live_figures(j: TrainingJob, s: dict) -> None:
    h = s["history"]
    c = st.columns([3, 1.2, 1.2], vertical_alignment="bottom")
    smoothing = c[0].slider("Smoothing weight w", 0.0, 0.99, 0.6, 0.01, key="smoothing",
                            help=plots.SMOOTHING_FORMULA)  # fmt: skip
    log_y = c[1].toggle("Log-scale loss", key="log_y")
    c[2].caption(f"{len(h['steps'])} batches plotted")
    st.caption(f"Smoothing: {plots.SMOOTHING_FORMULA} (w = 0: raw loss). Hover for read-outs.")
    left, right = st.columns([1.7, 1])
    left.plotly_chart(plots.loss_figure(h, smoothing, log_y), key="loss_chart")
    right.plotly_chart(plots.val_figure(h), key="val_chart")


def weight_figures(j: TrainingJob) -> None:
    state, step = j.weights()
    if state is None:
        return
    model = model_from_state(j.config.model, state)
    left, right = st.columns([1, 1.2])
    with left:
        filters, caption = first_layer_filters(model)
        st.plotly_chart(plots.filters_figure(filters, caption, step), key="filters_chart")
    with right:
        i = st.number_input("Digit for the feature maps (index in the test split)", 0,
                            len(data.test) - 1, 0, key="digit")  # fmt: skip
        image = data.test.images[int(i)]
        label = data.classes[int(data.test.labels[int(i)])]
        maps = feature_maps(model, image)
        st.plotly_chart(plots.feature_maps_figure(maps, image, label), key="maps_chart")


def live_panel(job_id: str, polling: bool) -> None:
    """Curves and controls redraw every POLL_S; filters and feature maps every WEIGHTS_S (they
    cost more to draw, and a slower cadence keeps training at full speed)."""

    @st.fragment(run_every=POLL_S if polling else None)
    def panel():
        set_intraop_threads(1)
        j = manager.get(job_id)
        if j is None:
            return
        manager.touch(sid)
        s = j.snapshot()
        st.subheader(f"Run: {j.name}")
        job_panel(s, progress_text(s))
        if not s["done"]:
            controls(j, s)
        elif s["run_id"]:
            st.success(f"{s['message']}. Saved as run **{s['run_id']}**.")
        live_figures(j, s)
        if s["done"] and polling:  # stop polling: redraw the whole page once, without run_every
            st.rerun()

    @st.fragment(run_every=WEIGHTS_S if polling else None)
    def weights_panel():
        set_intraop_threads(1)
        j = manager.get(job_id)
        if j is not None:
            weight_figures(j)

    panel()
    weights_panel()


if job is not None:
    live_panel(job.id, polling=not job.done)


# ------------------------------------------------------------------------- results of a run
@st.cache_resource(max_entries=8, show_spinner="Evaluating on the test split…")
def run_evaluation(run_id: str, source: str, _data):
    model, _config = store.load_model(run_id)
    return evaluate_split(model, _data.test)


all_runs = store.list()  # read once per page run; damaged ones only go in the table
runs = [r for r in all_runs if not r.damaged and r.status != "running"]  # running: in the table
st.divider()
st.subheader("Results of a run")
if not runs:
    st.caption("No saved runs yet: start one above.")
else:
    ids = [r.id for r in runs]
    default = job.run_id if job is not None and job.run_id in ids else ids[0]
    labels = {r.id: run_label(r) for r in runs}
    run_id = st.selectbox(
        "Run", ids, index=ids.index(default), format_func=labels.get, key="result_run"
    )
    info = next(r for r in runs if r.id == run_id)
    summary = info.summary or {}
    try:
        ev = run_evaluation(run_id, data.source, data)
        c = st.columns(4)
        c[0].metric(f"Test accuracy ({data.source})", f"{ev.accuracy:.2%}")
        val_acc = summary.get("val_accuracy")
        c[1].metric("Validation accuracy", f"{val_acc:.2%}" if val_acc is not None else "—")
        c[2].metric("Status", info.status)
        c[3].metric("Images/s", f"{summary.get('images_per_s') or 0:,.0f}")
        if summary.get("message"):
            st.caption(summary["message"])
        left, right = st.columns(2)
        left.plotly_chart(plots.confusion_figure(ev.confusion, data.classes), key="confusion")
        right.plotly_chart(plots.per_class_figure(ev.per_class(data.classes)), key="per_class")
        wrong = ev.mistakes(12)
        st.plotly_chart(plots.mistakes_figure(data.test.images[wrong], ev.labels[wrong].tolist(),
                                              ev.probs[wrong], data.classes), key="mistakes")  # fmt: skip
    except UserError as exc:
        st.error(str(exc))

# ------------------------------------------------------------------------------------ runs
st.divider()
st.subheader("Saved runs")
table = store.table(all_runs)
if not table.empty:
    st.dataframe(table.drop(columns=["created"]), hide_index=True, key="runs_table")
if runs:
    labels = {r.id: run_label(r) for r in runs}
    chosen = st.multiselect("Overlay the curves of", [r.id for r in runs], default=[r.id for r in runs[:3]],
                            format_func=labels.get, key="overlay")  # fmt: skip
    if chosen:
        curves = [(labels[i], store.metrics(i)) for i in chosen]
        st.plotly_chart(plots.overlay_figure(curves, st.session_state.get("smoothing", 0.6),
                                             st.session_state.get("log_y", False)), key="overlay_chart")  # fmt: skip

    with st.expander("Rename, delete or download a run"):
        target = st.selectbox("Run", [r.id for r in runs], format_func=labels.get, key="manage_run")
        c = st.columns([2, 1, 1, 1.3], vertical_alignment="bottom")
        new_name = c[0].text_input("New name", key="new_name", max_chars=80)
        if c[1].button("Rename", key="rename"):
            try:
                store.rename(target, new_name)
                st.rerun()
            except UserError as exc:
                st.error(str(exc))
        sure = c[2].checkbox("Really delete", key="sure")
        if c[3].button("Delete run", key="delete", disabled=not sure, icon=":material/delete:"):
            store.delete(target)
            st.rerun()

        def zip_bytes(run_id=target) -> bytes:
            info = store.info(run_id)
            model, _ = store.load_model(run_id)
            report = plots.run_report_html(info, store.metrics(run_id), model, data)
            return store.export_zip(run_id, report)

        st.download_button("Download run as zip (config, metrics CSV, weights, TensorBoard "
                           "events, HTML report)", zip_bytes, f"{target}.zip", "application/zip",
                           on_click="ignore", key="download", icon=":material/download:")  # fmt: skip
        st.caption("Every run also has TensorBoard event files: `tensorboard --logdir runs`.")
        publish_button(target)

if imported := st.session_state.pop("imported", None):
    st.success(imported)
with st.expander("Load weights from a .pt file"), st.form("upload", border=False):
    up_model = st.selectbox(
        "Model the weights are for", list(MODEL_NAMES), format_func=MODEL_NAMES.get
    )
    up_file = st.file_uploader(f"A state_dict saved with torch.save (at most {MAX_UPLOAD_BYTES // 2**20} MB)",
                               type=["pt", "pth"], key="upload_file")  # fmt: skip
    up_name = st.text_input("Name for the imported run", "uploaded weights", max_chars=80)
    if st.form_submit_button("Import weights"):
        try:
            if up_file is None:
                raise UserError("choose a .pt file first")
            new_id = store.import_weights(
                up_file.getvalue(), up_model, up_name.strip() or "uploaded"
            )
            st.session_state["imported"] = (
                f"Imported as run {new_id}; pick it under Results of a run."
            )
            st.rerun()  # so the new run shows in the lists above
        except UserError as exc:
            st.error(f"Not imported: {exc}")
