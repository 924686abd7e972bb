"""Portable runners whose job streams carry no client deadline, so a follow job runs for weeks, and
whose in-process worker pool listens on loopback only.

Beam's portable client opens the job's state and message streams with `--job_server_timeout`
(default 300 s) as their gRPC deadline (`JobServiceHandle.run`). Those streams live as long as
the job, so every job that outlives the timeout is torn down by its own client:
DEADLINE_EXCEEDED, the SDK worker disconnects, the runner fails the job. Only the one-shot
job-service calls (options, prepare) should time out; here they still do.

With `--environment_type=LOOPBACK` the submitting process serves SDK workers to the runner from a
worker pool that Beam binds to `[::]` (`BeamFnExternalWorkerPoolServicer.start`): every interface,
though only the local runner ever connects. Here it binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import types

import grpc
from apache_beam.runners.portability import portable_runner, prism_runner
from apache_beam.runners.worker import worker_pool_main


@contextlib.contextmanager
def _worker_pool_on_loopback():
    """While the worker pool starts, the servers worker_pool_main makes bind 127.0.0.1 instead of [::]."""

    def server(*args, **kwargs):
        made = grpc.server(*args, **kwargs)
        bind = made.add_insecure_port
        made.add_insecure_port = lambda address: bind(address.replace("[::]:", "127.0.0.1:", 1))
        return made

    module_grpc = worker_pool_main.grpc
    worker_pool_main.grpc = types.SimpleNamespace(server=server)
    try:
        yield
    finally:
        worker_pool_main.grpc = module_grpc


class _LoopbackWorkerPool:
    def start_and_replace_loopback_environments(self, pipeline, options):
        with _worker_pool_on_loopback():
            return super().start_and_replace_loopback_environments(pipeline, options)


class _StreamsWithoutDeadline(portable_runner.JobServiceHandle):
    """Opens the job's state/message streams without a deadline; every other call keeps it."""

    def run(self, preparation_id):
        call_timeout, self.timeout = self.timeout, None  # run() uses self.timeout only for the two streams
        try:
            return super().run(preparation_id)
        finally:
            self.timeout = call_timeout


class PrismRunner(_LoopbackWorkerPool, prism_runner.PrismRunner):
    """Beam's PrismRunner (starts its own Prism), minus the client deadline on the job's streams."""

    def create_job_service_handle(self, job_service, options):
        return _StreamsWithoutDeadline(job_service, options, retain_unknown_options=True)


class PortableRunner(_LoopbackWorkerPool, portable_runner.PortableRunner):
    """Beam's PortableRunner for a job server the caller runs (`--job_endpoint`: Prism, Flink), minus the stream deadline."""

    def create_job_service_handle(self, job_service, options):
        return _StreamsWithoutDeadline(job_service, options, retain_unknown_options=True)
