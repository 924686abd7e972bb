"""pipelines/runners.py: the LOOPBACK worker pool of the submitting process listens on loopback only."""

from __future__ import annotations

import ipaddress

import apache_beam as beam
import psutil
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.worker import worker_pool_main
from apache_beam.transforms import environments

from pipelines import runners


def _listening() -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process().net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback  # ::ffff:127.0.0.1 is 127.0.0.1


def test_the_loopback_worker_pool_binds_127_0_0_1_only():
    options = PipelineOptions(["--environment_type=LOOPBACK"])
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | beam.Create([1]) | beam.Map(str)
    proto = pipeline.to_runner_api(default_environment=environments.Environment.from_options(options))
    before = _listening()
    cleanups = runners.PortableRunner().start_and_replace_loopback_environments(proto, options)
    try:
        opened = _listening() - before
        assert opened, "the worker pool did not start"
        assert all(_loopback(ip) for ip, _ in opened), opened
        [env] = [e for e in proto.components.environments.values() if e.urn == "beam:env:external:v1"]
        assert env.payload  # the runner is pointed at the pool
    finally:
        for cleanup in cleanups:
            cleanup()
    assert worker_pool_main.grpc.server is not None and worker_pool_main.grpc.__name__ == "grpc"  # put back
