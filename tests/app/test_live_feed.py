"""The live panel's feed (app.ui.live_feed): its route (path pattern and endpoint) against real
training jobs. Only known tokens get an answer; a part unchanged since the browser's version comes
back as its version only; the page is asked to redraw exactly when the job's state changes."""

import json
import math
import time
from urllib.parse import urlencode

import pytest
from starlette.requests import Request
from starlette.routing import Match

from app.ui import live_feed
from cnncore.jobs import JobManager, TrainingJob
from cnncore.runs import RunStore
from cnncore.train import TrainConfig


def cfg(**kw):
    base = dict(epochs=2, batch_size=16, max_batches=4, precision="fp32", seed=0)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def manager():
    m = JobManager(max_running=1)
    yield m
    assert m.shutdown(timeout=30), "a job thread did not exit"


class Reply:
    def __init__(self, response):
        self.status_code, self.headers = response.status_code, response.headers
        self.text = response.body.decode()

    def json(self):
        return json.loads(self.text)


class Client:
    """GETs through the feed's own Starlette route: its path pattern, then its endpoint."""

    def __init__(self, routes):
        (self.route,) = routes

    def get(self, path: str, params: dict | None = None) -> Reply:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "root_path": "",
            "query_string": urlencode(params or {}).encode(),
            "headers": [],
        }
        match, child = self.route.matches(scope)
        if match != Match.FULL:
            raise AssertionError(f"the route does not serve {path}")
        return Reply(self.route.endpoint(Request({**scope, **child})))


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setattr(live_feed, "_mounted", False)  # the AppTests after this one have no route
    return Client(live_feed.routes())


def watch_of(job, manager, data, digit=3):
    return live_feed.watch(
        None,
        job,
        manager,
        digit=digit,
        image=data.test.images[digit],
        label=str(int(data.test.labels[digit])),
    )


def test_an_unknown_token_gets_nothing(client):
    reply = client.get(f"{live_feed.PATH}/not-a-token/state")
    assert reply.status_code == 404 and reply.json() == {"gone": True}
    assert live_feed.available()  # serving routes() turns the feed on


def test_a_finished_job_through_the_route(client, manager, tiny_data, tmp_path):
    job = manager.submit(TrainingJob(cfg(), tiny_data, RunStore(tmp_path), "s1", "feed"))
    assert job.join(60) and job.status == "finished", job.error
    w = watch_of(job, manager, tiny_data)

    state = client.get(f"{live_feed.PATH}/{w.token}/state")
    assert state.status_code == 200
    assert state.headers["cache-control"] == "no-store"
    body = state.json()
    assert body["status"] == "finished" and body["progress"] == 1.0
    assert body["text"].startswith("epoch 2/2 · batch 4/4 · ")
    assert body["key"] == live_feed.page_key(job.snapshot())

    loss = client.get(f"{live_feed.PATH}/{w.token}/loss").json()
    assert loss["note"] == "8 batches plotted"
    assert len(loss["series"][0]["x"]) == 8  # every batch of a short run
    again = client.get(f"{live_feed.PATH}/{w.token}/loss", params={"have": loss["version"]})
    assert again.json() == {"version": loss["version"]}  # nothing new: the version only

    val = client.get(f"{live_feed.PATH}/{w.token}/val").json()
    assert val["version"] != loss["version"] and val["series"]

    pictures = client.get(f"{live_feed.PATH}/{w.token}/pictures").json()
    assert pictures["version"].startswith(f"{job.id}-") and pictures["version"].endswith("-3")
    assert len(pictures["filters"]["maps"]) == 16
    assert pictures["maps"]["rows"]  # the digit's feature maps
    unchanged = client.get(
        f"{live_feed.PATH}/{w.token}/pictures", params={"have": pictures["version"]}
    )
    assert unchanged.json() == {"version": pictures["version"]}

    assert client.get(f"{live_feed.PATH}/{w.token}/other").status_code == 404
    with pytest.raises(AssertionError, match="does not serve"):
        client.get(f"{live_feed.PATH}/{w.token}")


def test_the_view_follows_the_tab_and_a_token_stays_with_its_job(manager, tiny_data):
    job = TrainingJob(cfg(), tiny_data)
    w = watch_of(job, manager, tiny_data)
    first = live_feed.curves(w)[0]["loss"]
    same = live_feed.watch(w.token, job, manager, smoothing=0.2, log_y=True)
    assert same is w and (w.smoothing, w.log_y) == (0.2, True)
    assert live_feed.curves(w)[0]["loss"] != first  # the smoothed curve is built again
    other = live_feed.watch(w.token, TrainingJob(cfg(), tiny_data), manager)
    assert other.token != w.token  # a token never moves to another job


def test_the_server_remembers_a_bounded_number_of_tabs(manager, tiny_data, monkeypatch):
    monkeypatch.setattr(live_feed, "MAX_WATCHES", 3)
    job = TrainingJob(cfg(), tiny_data)
    tokens = [live_feed.watch(None, job, manager).token for _ in range(5)]
    assert live_feed.part(tokens[0], "state") is None  # the oldest are forgotten
    assert live_feed.part(tokens[-1], "state")["status"] == "queued"


def test_a_watch_of_an_ended_job_nobody_asks_about_is_forgotten(manager, tiny_data, monkeypatch):
    ended = TrainingJob(cfg(), tiny_data)
    ended.stop()  # a job never queued ends at once
    assert ended.done
    old = live_feed.watch(None, ended, manager)
    live_job = live_feed.watch(None, TrainingJob(cfg(), tiny_data), manager)
    monkeypatch.setattr(live_feed, "ENDED_TTL_S", 0.0)
    live_feed.watch(None, TrainingJob(cfg(), tiny_data), manager)  # a new tab: old ones pruned
    assert live_feed.part(old.token, "state") is None
    assert live_feed.part(live_job.token, "state") is not None  # its job has not ended


def test_the_page_redraws_when_the_job_leaves_the_queue_or_ends_not_on_pause(
    manager, tiny_data, tmp_path
):
    store = RunStore(tmp_path)
    first = manager.submit(TrainingJob(cfg(epochs=200, max_batches=50), tiny_data, store, "a"))
    second = manager.submit(TrainingJob(cfg(), tiny_data, store, "b"))
    queued = live_feed.state(watch_of(second, manager, tiny_data))
    assert queued["status"] == "queued" and queued["text"].startswith("queued: you are number 1")
    assert queued["every"] > live_feed.state(watch_of(first, manager, tiny_data))["every"]

    w = watch_of(first, manager, tiny_data)
    deadline = time.monotonic() + 60
    while live_feed.state(w)["text"] == "starting…" or first.snapshot()["weights_step"] < 0:
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.02)
    training = live_feed.state(w)["key"]
    first.pause()
    assert first.snapshot()["status"] in ("paused", "running")
    assert live_feed.state(w)["key"] == training  # Pause redraws only the controls
    first.stop()
    assert first.join(60) and second.join(60)
    assert live_feed.state(w)["key"] != training
    assert live_feed.state(watch_of(second, manager, tiny_data))["key"] != queued["key"]


def test_a_diverged_loss_reaches_the_browser_as_null(client, manager, tiny_data, tmp_path):
    """JSON has no NaN: a diverged run's loss points arrive as null (gaps in the curve)."""
    job = manager.submit(TrainingJob(cfg(), tiny_data, RunStore(tmp_path), "s1"))
    assert job.join(60)
    w = watch_of(job, manager, tiny_data)
    version, payload, batches = live_feed.curves(w)
    payload["loss"]["series"][0]["y"][1] = math.nan  # as a diverged batch's loss is
    reply = client.get(f"{live_feed.PATH}/{w.token}/loss")
    assert reply.text.count("NaN") == 0
    assert reply.json()["series"][0]["y"][1] is None
