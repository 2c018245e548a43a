"""Workspaces: isolation, the read-only gallery, publishing, codes, migration of legacy runs."""

import json
import multiprocessing
import os

import pandas as pd
import pytest

from cnncore.errors import UserError
from cnncore.models import build_model
from cnncore.runs import RunStore
from cnncore.train import TrainConfig, TrainResult
from cnncore.workspaces import (
    LOCAL,
    Workspaces,
    folder_for,
    new_code,
    normalize_code,
)


def save_run(store, name="a run", status="finished", model="fcnet"):
    metrics = pd.DataFrame([{"step": 1, "epoch": 1, "kind": "train", "loss": 1.0}])
    result = TrainResult(
        status, "done", build_model(model), metrics, 0.5, 0.9, 0.5, 0.9, 100.0, 1.0
    )
    return store.save(result, TrainConfig(model=model), "bundled", name=name)


@pytest.fixture
def spaces(tmp_path):
    return Workspaces(tmp_path / "runs")


def test_codes_are_random_canonical_and_hash_to_distinct_folders():
    a, b = new_code(), new_code()
    assert a != b and len(a) == 19 and a.count("-") == 3
    assert normalize_code(a.lower().replace("-", " ")) == a
    assert folder_for(a) != folder_for(b) and folder_for(a).startswith("w")
    assert a.replace("-", "") not in folder_for(a)  # the folder never shows the code
    for bad in ("", "local", "0000-0000-0000-0000", "ABCD", "../../etc/passwd"):
        with pytest.raises(UserError, match="not a workspace code"):
            normalize_code(bad)
    assert normalize_code(" Local ", allow_local=True) == LOCAL


def test_workspace_b_cannot_see_rename_or_delete_a_run_of_a(spaces):
    a = spaces.store(folder_for(new_code()))
    b = spaces.store(folder_for(new_code()))
    run = save_run(a, "A's run")
    assert [r.id for r in a.list()] == [run]
    assert b.list() == []
    with pytest.raises(UserError):
        b.rename(run, "B was here")
    with pytest.raises(UserError):
        b.delete(run)
    with pytest.raises(UserError):
        b.load_model(run)
    assert a.info(run).name == "A's run" and (a.root / run).is_dir()


def test_workspace_folder_names_are_checked(spaces):
    for bad in ("../x", "gallery", "w123", "", "ws/local"):
        with pytest.raises(UserError, match="not a workspace"):
            spaces.store(bad)


def test_gallery_is_read_only_and_published_runs_are_readable_by_everyone(spaces):
    a_ws, b_ws = folder_for(new_code()), folder_for(new_code())
    a, b = spaces.store(a_ws), spaces.store(b_ws)
    run = save_run(a, "![t](http://host/p.png) <b>mine</b>")
    gid = spaces.publish(a_ws, run, by="Ana  <script>")
    assert gid.startswith("gallery-")
    gallery = spaces.gallery()
    info = gallery.info(gid)
    assert info.name == "![t](http://host/p.png) <b>mine</b>"  # kept as text, as typed
    meta = json.loads((gallery.root / gid / "config.json").read_text())
    assert meta["published"]["by"] == "Ana <script>" and meta["published"]["from_workspace"] == a_ws
    assert meta["published"]["original_id"] == run and meta["published"]["at"]
    # B reads it through their own store (pages open a picked run that way) ...
    model, config = b.load_model(gid)
    assert config.model == "fcnet" and b.info(gid).name == info.name
    assert b.list() == []  # ... but it is not one of B's runs
    # ... and nobody writes to it, through the gallery or through a workspace
    for attempt in (
        lambda: gallery.delete(gid),
        lambda: gallery.rename(gid, "x"),
        lambda: b.delete(gid),
        lambda: b.rename(gid, "x"),
        lambda: gallery.import_weights(b"", "fcnet", "x"),
        lambda: gallery.resume(gid),
    ):
        with pytest.raises(UserError, match="gallery is read-only"):
            attempt()
    assert (gallery.root / gid / "model.pt").is_file()
    # publishing twice gives a second gallery id; B cannot publish A's run
    assert spaces.publish(a_ws, run) != gid
    with pytest.raises(UserError, match="not in your workspace"):
        spaces.publish(b_ws, run)


def test_a_running_or_damaged_run_is_not_published(spaces):
    store = spaces.store(LOCAL)
    # A run is "running" only while its writer holds the run's lock (a saved folder that merely
    # says "running" lists as interrupted), so the writer stays open here.
    writer = store.begin(TrainConfig(model="fcnet"), "bundled", "still training")
    with pytest.raises(UserError, match="is running"):
        spaces.publish(LOCAL, writer.id)
    writer.close()  # the writer ended without finishing the run
    with pytest.raises(UserError, match="is interrupted"):
        spaces.publish(LOCAL, writer.id)
    run = save_run(store)
    (store.root / run / "model.pt").unlink()
    with pytest.raises(UserError, match="damaged"):
        spaces.publish(LOCAL, run)
    assert not any((spaces.root / "gallery").glob("gallery-*"))


def test_limits_on_runs_and_disk_per_workspace(tmp_path):
    spaces = Workspaces(tmp_path / "runs", max_runs=2)
    store = spaces.store(LOCAL)
    save_run(store), save_run(store, "second")
    with pytest.raises(UserError, match="holds 2 runs"):
        store.check_room()
    with pytest.raises(UserError, match="holds 2 runs"):
        store.import_weights(b"whatever", "fcnet", "third")
    small = Workspaces(tmp_path / "runs", max_bytes=1000).store(LOCAL)
    with pytest.raises(UserError, match="MB of disk"):
        small.check_room()


def test_migration_moves_legacy_runs_into_local_once(tmp_path):
    root = tmp_path / "runs"
    legacy = RunStore(root)
    ids = [save_run(legacy, "old one"), save_run(legacy, "old two")]
    (root / "notes.txt").write_text("not a run")
    spaces = Workspaces(root)
    assert sorted(spaces.migrate()) == sorted(ids)
    assert spaces.migrate() == []  # idempotent
    local = spaces.store(LOCAL)
    assert {r.name for r in local.list()} == {"old one", "old two"}
    assert all(not r.damaged for r in local.list())
    assert (root / "notes.txt").is_file() and not any((root / i).exists() for i in ids)


def _migrate(root, barrier):
    barrier.wait()
    print(len(Workspaces(root).migrate()))


def test_two_processes_migrating_at_once_lose_and_duplicate_nothing(tmp_path):
    root = tmp_path / "runs"
    legacy = RunStore(root)
    ids = set()
    for i in range(12):
        run = save_run(legacy, f"run {i}")
        ids.add(run)
        (root / run).rename(root / f"{run}-{i}")  # unique ids, as the store will make them
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_migrate, args=(root, barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    local = root / "ws" / "local"
    assert len(os.listdir(local)) == 12
    assert sorted(r.name for r in Workspaces(root).store(LOCAL).list()) == sorted(
        f"run {i}" for i in range(12)
    )


def test_switching_code_opens_the_same_workspace_on_another_device(spaces):
    code = new_code()
    first = spaces.store_for_code(code)
    run = save_run(first, "made on the laptop")
    typed = code.lower().replace("-", " ")  # typed on a phone
    again = spaces.store_for_code(typed)
    assert again.root == first.root and [r.id for r in again.list()] == [run]
    assert spaces.store_for_code(new_code()).list() == []
    with pytest.raises(UserError):
        spaces.store_for_code("local")  # the CLI's workspace is not a code in class mode
    assert spaces.store_for_code("local", allow_local=True).root == spaces.path(LOCAL)
