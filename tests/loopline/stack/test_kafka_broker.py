"""The local broker is real Kafka: acknowledged writes survive a crash of the broker process."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition

from loopline.stack.kafka import KafkaBroker
from tests.conftest import kafka_config


def test_acknowledged_messages_survive_broker_kill(tmp_path, cache_dir):
    broker = KafkaBroker(kafka_config(partitions=3), tmp_path / "kafka", cache_dir)
    broker.start()
    try:
        broker.create_topics(["durability"])
        acked: set[bytes] = set()
        prod = Producer({"bootstrap.servers": broker.config.bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})

        def on_delivery(err, msg):
            if err is None:
                acked.add(msg.value())

        for i in range(5000):
            prod.produce("durability", key=str(i % 17).encode(), value=f"message-{i}".encode(), on_delivery=on_delivery)
            prod.poll(0)
        assert prod.flush(30) == 0
        assert len(acked) == 5000

        assert broker.kill()  # SIGKILL: no controlled shutdown, no final flush
        assert broker.status().running is False
        broker.start()

        consumer = Consumer(
            {
                "bootstrap.servers": broker.config.bootstrap,
                "group.id": "durability-check",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition("durability", p, 0) for p in range(3)])
        seen: list[bytes] = []
        while len(seen) < len(acked):
            msgs = consumer.consume(1000, timeout=10)
            if not msgs:
                break
            seen += [m.value() for m in msgs if m.error() is None]
        consumer.close()
        assert set(seen) == acked
        assert len(seen) == len(acked)  # idempotent producer: no duplicates either
    finally:
        broker.stop()


def test_status_reports_topics_and_counts(kafka):
    st = kafka.status()
    assert st.running and st.reachable
    assert set(kafka.config.topics) <= set(st.topics)
    assert all(st.topics[t] == kafka.config.partitions for t in kafka.config.topics)
    assert kafka.create_topics() == []  # idempotent: existing topics are left alone


def test_second_broker_on_a_used_port_is_refused(tmp_path, kafka, cache_dir):
    import pytest

    from loopline.stack.kafka import StackError

    clash = KafkaBroker(kafka.config, tmp_path / "other", cache_dir)
    with pytest.raises(StackError, match="already in use"):
        clash.start()
