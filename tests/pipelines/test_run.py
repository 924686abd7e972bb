"""How a failed job reaches the CLI: a worker's OSError (disk full, permissions) comes back from the runner as a
RuntimeError holding its text; os_error_in reads it back so the CLI can say it in one line."""

from __future__ import annotations

import errno

from pipelines.run import os_error_in


def test_a_worker_os_error_is_read_back_from_the_runner_error():
    runner_error = RuntimeError(
        "OSError: [Errno 28] No space left on device: '/data/d/seg-000000000007.avro' [while running 'WriteStore/Commit']"
    )
    found = os_error_in(runner_error)
    assert (found.errno, found.strerror, found.filename) == (
        errno.ENOSPC,
        "No space left on device",
        "/data/d/seg-000000000007.avro",
    )


def test_a_chained_os_error_is_found_and_other_errors_are_not_os_errors():
    try:
        try:
            raise PermissionError(errno.EACCES, "Permission denied", "/data/d/manifest")
        except OSError as e:
            raise RuntimeError("bundle failed") from e
    except RuntimeError as e:
        assert os_error_in(e).filename == "/data/d/manifest"
    assert os_error_in(RuntimeError("KeyError: 'text' [while running 'Decode']")) is None
