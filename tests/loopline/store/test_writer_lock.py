"""One writer per dataset: a second writer (another run, replay, follow service or `datasets gc`) refuses at once
naming the holder, the first writer's own commits and deletions never wait on it, and it is free again once the
holder exits, even by SIGKILL. Dead letters that a re-run or replay publishes again carry the same key."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopline import config as cfg
from loopline.cli import app
from loopline.store import CuratedStore, DatasetBusy, Unit, exclusive_writer, subject_hash
from tests.samples import SAMPLES

REPO = Path(__file__).resolve().parents[3]
HOLDER = """
import sys
from loopline.store import CuratedStore, exclusive_writer
root = sys.argv[1]
sys.argv = ["loopline", "run", "--until-now"]
with exclusive_writer(CuratedStore(root)):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def config(tmp_path) -> cfg.LooplineConfig:
    c = cfg.LooplineConfig(home=tmp_path)
    CuratedStore(c.store_root).create({"start_offsets": {}})
    return c


def start_holder(root: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def test_second_writer_refuses_at_once_naming_the_holder_then_succeeds_after_it_exits(config, tmp_path):
    store = CuratedStore(config.store_root)
    holder = start_holder(config.store_root)
    try:
        t0 = time.monotonic()
        with pytest.raises(DatasetBusy) as refused:
            with exclusive_writer(store):
                pytest.fail("a second writer got the lock")
        assert time.monotonic() - t0 < 1
        message = str(refused.value)
        assert f"dataset 'live' is being written by pid {holder.pid} on {socket.gethostname()}" in message
        assert "(`loopline run --until-now`) since 20" in message and "\n" not in message

        config_path = tmp_path / "loopline.yaml"
        config_path.write_text(yaml.safe_dump({"home": str(config.home)}))
        cli = CliRunner().invoke(app, ["datasets", "gc", "--dataset", "live", "--config", str(config_path)])
        assert cli.exit_code == 1 and cli.stderr.splitlines() == [f"error: {message}"]
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    assert (store.path / "writer.lock").read_text() == ""  # released: nobody is named any more

    with exclusive_writer(store) as removed:
        assert (removed.segments, removed.temp_files) == (0, 0)
        assert f'"pid": {os.getpid()}' in (store.path / "writer.lock").read_text()


def test_a_killed_holder_frees_the_dataset(config):
    holder = start_holder(config.store_root)
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    assert str(holder.pid) in (CuratedStore(config.store_root).path / "writer.lock").read_text()  # stale, not held
    with exclusive_writer(CuratedStore(config.store_root)):
        pass


def test_pipeline_runs_and_follow_service_refuse_while_another_process_writes(config):
    from pipelines.follow import FollowService
    from pipelines.run import RunPlan, execute

    holder = start_holder(config.store_root)
    try:
        with pytest.raises(DatasetBusy, match=f"pid {holder.pid}"):
            execute(config, RunPlan("live", "bounded", []))
        with pytest.raises(DatasetBusy, match=f"pid {holder.pid}"):
            FollowService(config, "live").run()
    finally:
        holder.communicate("\n", timeout=30)


def test_the_writers_own_commits_and_deletions_do_not_wait_on_its_lock(config):
    store = CuratedStore(config.store_root)
    window = SAMPLES["CuratedPair"]["window"]
    pair = {**SAMPLES["CuratedPair"], "pair_id": "p-1", "subject_hashes": [subject_hash("someone")], "window": window}
    done = []

    def write():
        with exclusive_writer(store):
            other = CuratedStore(config.store_root)  # as a pipeline's DoFns open it
            other.commit([Unit(records={"CuratedPair": [pair]}, offsets=(("events.ticket", 0, 1),))])
            done.append(other.forget(subject_hash("someone")))
            done.append(other.gc())

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(30)
    assert not writer.is_alive() and done == [1, 0]


class Delivered:
    def __init__(self, key: bytes):
        self._key = key

    def key(self) -> bytes:
        return self._key

    def partition(self) -> int:
        return 0


class RecordingProducer:
    """What a Kafka producer would have sent: (key, value) per produce, acknowledged on flush."""

    def __init__(self):
        self.sent: list[tuple[bytes, bytes | None]] = []
        self._pending = []

    def produce(self, topic, key, value, on_delivery):
        self.sent.append((key, value))
        self._pending.append((key, on_delivery))

    def poll(self, _timeout):
        return 0

    def flush(self, _timeout):
        for key, on_delivery in self._pending:
            on_delivery(None, Delivered(key))
        self._pending = []
        return 0


class NoProgress:
    def commit(self, _store):
        pass


def publish(store_root: Path, dataset: str, letter: dict) -> list[tuple[bytes, bytes | None]]:
    """One dead letter through the pipeline's publisher, as a run into `dataset` would send it."""
    from pipelines.deadletter import DeadLetterIndex, _Publish

    store = CuratedStore(store_root, dataset)
    store.create({"start_offsets": {}}, exist_ok=True)
    publisher = _Publish("unused:9092", "deadletter", str(store_root), dataset)
    publisher._producer, publisher._store, publisher._progress = RecordingProducer(), store, NoProgress()
    publisher._index = DeadLetterIndex(store.path)
    publisher.start_bundle()
    publisher.process(letter)
    publisher.finish_bundle()
    publisher._index.close()
    return publisher._producer.sent


def test_a_dead_letter_published_again_by_a_replay_has_the_same_key(config):
    """The README's promise: the topic is compacted on topic/partition/offset of the source message, so a
    replay (or a run re-reading after a crash) sends the same key and value, and consumers dedupe on the key."""
    letter = SAMPLES["DeadLetter"]
    first = publish(config.store_root, "live", letter)
    again = publish(config.store_root, "v2", letter)
    other = publish(config.store_root, "v3", {**letter, "offset": letter["offset"] + 1})
    assert first == again and first[0][0] == b"events.chat/0/7" and first[0][1] is not None
    assert other[0][0] == b"events.chat/0/8"
