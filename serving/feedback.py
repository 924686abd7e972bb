"""Publish a rating as a FeedbackEvent on the feedback topic, encoded and keyed as the simulator does.

acks=all + idempotence, and the caller waits for the broker's acknowledgement: a 200 to the user means the event is
durable. librdkafka itself gives up on the message after the timeout, so an event reported as failed is never
delivered later behind the user's back (a retry would then publish it twice).
"""

from __future__ import annotations

import json
import threading
import time

from confluent_kafka import KafkaError, KafkaException, Producer

from loopline import catalog
from loopline.config import KafkaConfig

FEEDBACK = catalog.by_kind("feedback")


class PublishFailed(RuntimeError):
    pass


def feedback_event(response_id: str, prompt: str, response: str, adapter_version: str, rating: str, comment: str | None) -> dict:
    """A record of schemas/loopline.FeedbackEvent.avsc, timed now."""
    return {
        "response_id": response_id,
        "prompt": prompt,
        "response": response,
        "adapter_version": adapter_version,
        "rating": rating,
        "comment": comment,
        "event_time": time.time_ns() // 1_000_000,
    }


class FeedbackPublisher:
    def __init__(self, kafka: KafkaConfig, timeout_s: float):
        self.topic, self.timeout_s = FEEDBACK.topic, timeout_s
        self._config = {
            "bootstrap.servers": kafka.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "message.max.bytes": kafka.max_message_bytes,
            "message.timeout.ms": max(1, int(timeout_s * 1000)),
        }
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def _connected(self) -> Producer:
        """Created on the first rating: the server starts and serves completions while Kafka is still down."""
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            return self._producer

    def publish(self, event: dict) -> None:
        """Send and wait for the acknowledgement; PublishFailed when the broker did not take it."""
        done = threading.Event()
        outcome: list[KafkaError | None] = []

        def on_delivery(err, msg) -> None:
            outcome.append(err)
            done.set()

        key = event[FEEDBACK.key].encode()
        value = json.dumps(event, ensure_ascii=False).encode("utf-8")
        try:
            producer = self._connected()
            producer.produce(self.topic, key=key, value=value, on_delivery=on_delivery)
        except BufferError as e:
            raise PublishFailed(f"the producer's queue is full: {e}") from None
        except KafkaException as e:
            raise PublishFailed(f"Kafka client: {e}") from None
        deadline = time.monotonic() + self.timeout_s + 5  # librdkafka fails the message at timeout_s itself
        while not done.is_set() and time.monotonic() < deadline:
            producer.poll(0.05)  # serves callbacks of every thread's messages, ours among them
        if not done.is_set():
            raise PublishFailed(f"no acknowledgement from Kafka within {self.timeout_s:.0f} s")
        if outcome[0] is not None:
            raise PublishFailed(f"Kafka refused the feedback event: {outcome[0].str()}")

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(5)
            producer.close()  # its threads would otherwise keep reconnecting until garbage-collected
