"""Mirror a dataset's durable progress into Kafka consumer-group offsets."""

from __future__ import annotations

from loopline.store import CuratedStore
from pipelines.source import consumer_group


class ProgressCommitter:
    """Commit each partition's fully-accounted prefix to the dataset's Kafka consumer group.

    The store's manifest is what a restart trusts; the group offsets are the same progress in the
    form Kafka tools (lag monitoring) and Beam's Java ReadFromKafka resume from. Called only after
    a store commit is durable, so the group never runs ahead of the data.
    """

    def __init__(self, bootstrap: str, dataset: str):
        from confluent_kafka import Consumer

        from loopline.stack.kafka import BrokerWatch

        settings = {"bootstrap.servers": bootstrap, "group.id": consumer_group(dataset), "enable.auto.commit": False}
        self._consumer = Consumer({**settings, **BrokerWatch(bootstrap).settings()})  # one line when the broker goes

    def commit(self, store: CuratedStore) -> None:
        from confluent_kafka import TopicPartition

        starts = store.meta.get("start_offsets", {})
        offsets = [
            TopicPartition(topic, partition, store.resume_offset(topic, partition, starts.get(f"{topic}/{partition}", 0)))
            for topic, partition in store.accounted()
        ]
        if offsets:
            self._consumer.commit(offsets=offsets, asynchronous=False)

    def close(self) -> None:
        self._consumer.close()
