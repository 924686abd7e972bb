"""Dead letters through the real publisher to the real topic: reasons and raw bytes kept, payload text
never in the details, even when an exception quotes it."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from confluent_kafka import Consumer, TopicPartition

from loopline.store import CuratedStore, subject_hash
from pipelines import deadletter
from pipelines.deadletter import PublishDeadLetters
from pipelines.guard import DEAD, Guarded
from pipelines.model import KafkaRecord

SECRET = "4111 1111 1111 1111"
TOPIC = "deadletter-secrets"


class _QuotesItsInput(Guarded):
    """A stage whose library error quotes the text it choked on, as spaCy's and fastavro's do."""

    stage = "scrub"

    def inputs(self, rec):
        return [rec]

    def handle(self, rec):
        card = rec.value.decode().split(":")[1]
        raise ValueError(f"can't tokenize {card.replace('-', ' ')!r}")  # the secret, in a form the payload lacks


def test_a_secret_inside_an_exception_never_reaches_the_dead_letter_topic(kafka, tmp_path):
    kafka.create_topics([TOPIC])
    CuratedStore(tmp_path, "dl").create({"created_by": "test", "start_offsets": {}})
    payload = f"card:{SECRET.replace(' ', '-')}".encode()  # the raw payload is kept as raw bytes, by design
    records = [KafkaRecord("events.chat", 0, i, 0, None, payload) for i in range(3)]
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        out = p | beam.Create(records) | beam.ParDo(_QuotesItsInput()).with_outputs(DEAD, main="ok")
        (out[DEAD],) | PublishDeadLetters(kafka.config.bootstrap, TOPIC, str(tmp_path), "dl")

    c = Consumer({"bootstrap.servers": kafka.config.bootstrap, "group.id": "dl-secret", "enable.auto.commit": False})
    parts = c.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    c.assign([TopicPartition(TOPIC, p, 0) for p in parts])
    messages = []
    while len(messages) < 3:
        batch = c.consume(10, timeout=10)
        assert batch, f"only {len(messages)} of 3 dead letters arrived"
        messages += batch
    c.close()
    for m in messages:
        assert SECRET.encode() not in m.value() and SECRET.replace(" ", "").encode() not in m.value()
        assert b"tokenize" not in m.value(), "the exception message reached the topic"
        letter = deadletter.decode(m.value())
        assert letter["raw"] == payload and (letter["stage"], letter["reason"]) == ("scrub", "stage_error")
        assert letter["detail"].startswith("ValueError at test_deadletter.py:")
    assert sorted(CuratedStore(tmp_path, "dl").accounted()[("events.chat", 0)]) == [(0, 2)]


def test_ids_of_a_payload_with_a_lone_surrogate_are_still_found():
    """A valid JSON payload whose text holds "\\ud800" (dead-lettered as invalid_text) still names its ids for
    deletions; the half character itself is no id and must not fail the publisher."""
    raw = b'{"text": "my card ends in \\ud800 please", "sender_id": "cust-0042"}'
    assert subject_hash("cust-0042") in deadletter.raw_id_hashes(raw)
