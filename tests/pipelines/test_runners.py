"""pipelines/runners.py: the LOOPBACK worker pool of the submitting process listens on loopback only."""

from __future__ import annotations

import apache_beam as beam
import psutil
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.worker import worker_pool_main
from apache_beam.transforms import environments

from pipelines import runners
from tests.listeners import listening, on_loopback


def test_the_loopback_worker_pool_binds_127_0_0_1_only():
    options = PipelineOptions(["--environment_type=LOOPBACK"])
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | beam.Create([1]) | beam.Map(str)
    proto = pipeline.to_runner_api(default_environment=environments.Environment.from_options(options))
    before = set(listening(psutil.Process()))
    cleanups = runners.PortableRunner().start_and_replace_loopback_environments(proto, options)
    try:
        opened = set(listening(psutil.Process())) - before
        assert opened, "the worker pool did not start"
        assert all(on_loopback(ip) for _, ip, _ in opened), opened
        [env] = [e for e in proto.components.environments.values() if e.urn == "beam:env:external:v1"]
        assert env.payload  # the runner is pointed at the pool
    finally:
        for cleanup in cleanups:
            cleanup()
    assert worker_pool_main.grpc.server is not None and worker_pool_main.grpc.__name__ == "grpc"  # put back
