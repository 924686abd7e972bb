"""The curated store: the durable home of curated records, tied to the Kafka offsets they came from.

`CuratedStore` (dataset.py) writes: atomic, idempotent commits and deletions. `Snapshot` (snapshot.py)
reads: pinned to a manifest seq, whole or since a cursor. `exclusive_writer` (writer.py): one pipeline
writing a dataset at a time. Pure Python + fastavro: no Beam, no Kafka.
"""

from loopline.store.dataset import CommitResult, CuratedStore, Unit
from loopline.store.manifest import subject_hash
from loopline.store.ranges import Offset, RangeSet
from loopline.store.segments import ID_FIELDS, RECORD_KINDS, SegmentError
from loopline.store.snapshot import Snapshot
from loopline.store.writer import DatasetBusy, Leftovers, exclusive_writer

__all__ = [
    "CommitResult",
    "CuratedStore",
    "DatasetBusy",
    "ID_FIELDS",
    "Leftovers",
    "Offset",
    "RECORD_KINDS",
    "RangeSet",
    "SegmentError",
    "Snapshot",
    "Unit",
    "exclusive_writer",
    "subject_hash",
]
