"""Dead letters out to Kafka: nothing the pipeline can't process is dropped.

Every stage emits a `DeadLetter` on the DEAD tag for a record it rejects (pipelines/guard.py).
`PublishDeadLetters` sends them to the `deadletter` topic (Avro binary, keyed topic/partition/offset)
and then accounts their offsets in the store, so a restart neither re-reads nor loses them.

Deletion (README "Deletion"): `raw` may hold a person's ids and text, so the topic is compacted
(loopline/stack/kafka.py: cleanup.policy=compact; keys topic/partition/offset are unique) and a dead
letter is erased by a tombstone (same key, null value). `DeadLetterIndex` (per dataset,
`<dataset dir>/deadletters/index.sqlite`) maps the subject hashes of the id-like tokens in each
published letter's raw bytes to its key and partition (hashes only, never raw ids). A deletion
tombstones every indexed letter of the person (`erase`); a letter published after the deletion is
replaced by a tombstone at once (the store's forgotten set). Both run under the index's lock, so
no letter slips between them. After tombstones, one more append per partition rolls the active
segment (segment.ms is short on this topic) so the log cleaner can compact the erased letters away.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import time
from pathlib import Path

import apache_beam as beam
import fastavro
from apache_beam.metrics import Metrics

from loopline import catalog, schemas
from loopline.metrics import DEAD_LETTERS
from pipelines.jsonlines import lone_surrogate
from pipelines.progress import ProgressCommitter


def encode(letter: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schemas.parsed(catalog.DEADLETTER_SCHEMA), letter)
    return buf.getvalue()


def decode(payload: bytes) -> dict:
    return fastavro.schemaless_reader(io.BytesIO(payload), schemas.parsed(catalog.DEADLETTER_SCHEMA))


# Id-like tokens in a raw payload: an email address or a token with a digit (customer ids). JSON payloads
# also contribute every string value, so ids of any shape in well-formed events are covered.
_TOKEN = re.compile(r"[\w.%+@-]{3,320}")
ROLL_KEY = b"loopline/roll-segment"  # a key that never holds a letter: appended to roll a segment


def raw_id_hashes(raw: bytes) -> set[str]:
    """Subject hashes of every id-like token in a raw payload (see _TOKEN)."""
    from loopline.store import subject_hash

    text = raw.decode("utf-8", "replace")
    tokens = set()
    for t in _TOKEN.findall(text):
        for v in (t, t.strip("._%+-")):
            if "@" in v or any(c.isdigit() for c in v):
                tokens.add(v)
    try:
        stack = [json.loads(text)]
    except ValueError:
        stack = []
    while stack:
        v = stack.pop()
        if isinstance(v, str) and len(v) <= 320 and lone_surrogate(v) is None:  # no id is half a character
            tokens.add(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return {subject_hash(t) for t in tokens if t}


class DeadLetterIndex:
    """Which published dead letters hold which ids (as subject hashes) for one dataset."""

    def __init__(self, dataset_dir: str | Path):
        self.dir = Path(dataset_dir) / "deadletters"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.dir / "index.sqlite", timeout=120, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS letters (subject TEXT NOT NULL, key TEXT NOT NULL, "
            "kafka_partition INTEGER NOT NULL, PRIMARY KEY (subject, key)) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS letters_by_key ON letters (key);"
        )

    def lock(self):
        from loopline.files import file_lock

        return file_lock(self.dir / ".lock")

    def record(self, letters: list[tuple[str, int, set[str]]]) -> None:
        """(key, partition, subject hashes) of letters just published."""
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(
            "INSERT OR REPLACE INTO letters (subject, key, kafka_partition) VALUES (?, ?, ?)",
            [(h, key, p) for key, p, hashes in letters for h in sorted(hashes)],
        )
        self._db.execute("COMMIT")

    def letters_of(self, hashes: set[str]) -> set[tuple[str, int]]:
        hashes, out = sorted(hashes), set()
        for at in range(0, len(hashes), 500):
            chunk = hashes[at : at + 500]
            out |= set(
                self._db.execute(
                    f"SELECT DISTINCT key, kafka_partition FROM letters WHERE subject IN ({','.join('?' * len(chunk))})", chunk
                )
            )
        return out

    def remove(self, keys: set[str]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("DELETE FROM letters WHERE key = ?", [(k,) for k in sorted(keys)])
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def _producer(bootstrap: str):
    from confluent_kafka import Producer

    from loopline.stack.kafka import BrokerWatch

    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.max.bytes": 4_000_000,
            **BrokerWatch(bootstrap).settings(),  # one line when the broker goes, not one per retry
        }
    )


def topic_segment_ms(bootstrap: str, topic: str) -> int | None:
    """segment.ms of a compacted topic (None when it is not compacted: nothing to roll)."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    [fut] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    configs = fut.result(timeout=30)
    if "compact" not in configs["cleanup.policy"].value:
        return None
    return int(configs["segment.ms"].value)


class DeadLetterEraser:
    """Tombstones a person's dead letters (the deletion path: pipelines/sink.py)."""

    MAX_ROLL_WAIT_MS = 10_000  # longer segments roll with later traffic; max.compaction.lag.ms bounds the rest

    def __init__(self, bootstrap: str, topic: str, dataset_dir: str | Path):
        self.bootstrap, self.topic = bootstrap, topic
        self.index = DeadLetterIndex(dataset_dir)
        self._producer = _producer(bootstrap)
        self._segment_ms = topic_segment_ms(bootstrap, topic)
        self._roll: dict[int, float] = {}  # partition -> when its last tombstone was flushed

    def erase(self, hashes: set[str]) -> int:
        """Tombstone every indexed letter holding one of these subjects; returns how many."""
        errors = []
        with self.index.lock():
            letters = self.index.letters_of(hashes)
            for key, partition in sorted(letters):
                self._producer.produce(
                    self.topic,
                    key=key.encode(),
                    value=None,
                    partition=partition,
                    on_delivery=lambda err, _m: err and errors.append(err.str()),
                )
            left = self._producer.flush(60)
            if left or errors:
                raise RuntimeError(f"dead-letter tombstones not acknowledged: {errors[:3]}")
            self.index.remove({k for k, _ in letters})
        now = time.monotonic()
        self._roll.update({p: now for _, p in letters})
        return len(letters)

    def roll(self) -> None:
        """Append one record (a tombstone of a key that never held a letter) to each partition that got
        tombstones, once segment.ms has passed, so the segment holding them closes and the cleaner can
        compact it: the cleaner never touches the active segment, and Kafka rolls only on an append."""
        if not self._roll or self._segment_ms is None or self._segment_ms > self.MAX_ROLL_WAIT_MS:
            self._roll = {}
            return
        wait = max(self._roll.values()) + self._segment_ms / 1000 + 0.05 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        for partition in sorted(self._roll):
            self._producer.produce(self.topic, key=ROLL_KEY, value=None, partition=partition)
        self._producer.flush(60)
        self._roll = {}

    def close(self) -> None:
        self.index.close()


class _Publish(beam.DoFn):
    def __init__(self, bootstrap: str, topic: str, store_root: str, dataset: str):
        self.bootstrap, self.topic, self.store_root, self.dataset = bootstrap, topic, store_root, dataset

    def setup(self):
        from loopline.store import CuratedStore

        self._producer = _producer(self.bootstrap)
        self._store = CuratedStore(self.store_root, self.dataset)
        self._index = DeadLetterIndex(self._store.path)
        self._progress = ProgressCommitter(self.bootstrap, self.dataset)

    def teardown(self):
        self._index.close()
        self._progress.close()

    def start_bundle(self):
        self._batch: list[dict] = []
        self._errors: list[str] = []

    def process(self, letter: dict):
        schemas.validate(catalog.DEADLETTER_SCHEMA, letter)
        self._batch.append(letter)
        Metrics.counter("loopline", f"deadletter.{letter['reason']}").inc()

    def _delivered(self, err, msg):
        if err is not None:
            self._errors.append(err.str())
        else:
            self._partitions[msg.key().decode()] = msg.partition()

    def finish_bundle(self):
        if not self._batch:
            return
        self._partitions: dict[str, int] = {}
        with self._index.lock():  # the deletion path's erase() holds it too: a letter is indexed or withheld
            forgotten = self._store.forgotten()
            published = []
            for letter in self._batch:
                key = f"{letter['topic']}/{letter['partition']}/{letter['offset']}"
                hashes = raw_id_hashes(letter["raw"])
                # a forgotten person's letter never goes out: a tombstone erases any earlier copy of it
                withheld = bool(forgotten & hashes)
                self._producer.produce(
                    self.topic, key=key.encode(), value=None if withheld else encode(letter), on_delivery=self._delivered
                )
                self._producer.poll(0)
                if not withheld:
                    published.append((key, hashes))
            left = self._producer.flush(60)
            if not left and not self._errors:
                self._index.record([(key, self._partitions[key], hashes) for key, hashes in published])
        if left or self._errors:
            # Raising fails the bundle: the runner retries it, and nothing is accounted as done.
            raise RuntimeError(
                f"dead-letter topic {self.topic} did not acknowledge {left + len(self._errors)} records: {self._errors[:3]}"
            )
        self._store.commit([], dead_letters=[(d["topic"], d["partition"], d["offset"], d["reason"]) for d in self._batch])
        self._progress.commit(self._store)
        for d in self._batch:
            DEAD_LETTERS.labels(d["reason"]).inc()


class PublishDeadLetters(beam.PTransform):
    """Dead letters from every stage -> Kafka (acks=all), then their offsets marked handled in the store.

    Applied to a tuple of PCollections; each is moved to the global window first, since stages
    after windowing emit dead letters in session windows and Flatten needs one windowing.
    """

    def __init__(self, bootstrap: str, topic: str, store_root: str, dataset: str):
        super().__init__()
        self.args = (bootstrap, topic, str(store_root), dataset)

    def expand(self, stage_letters):
        from apache_beam.transforms import window

        global_letters = [
            letters | f"Global{i}" >> beam.WindowInto(window.GlobalWindows()) for i, letters in enumerate(stage_letters)
        ]
        return global_letters | "Flatten" >> beam.Flatten() | "Publish" >> beam.ParDo(_Publish(*self.args))
