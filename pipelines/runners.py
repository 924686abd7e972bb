"""Portable runners whose job streams carry no client deadline, so a follow job runs for weeks.

Beam's portable client opens the job's state and message streams with `--job_server_timeout`
(default 300 s) as their gRPC deadline (`JobServiceHandle.run`). Those streams live as long as
the job, so every job that outlives the timeout is torn down by its own client:
DEADLINE_EXCEEDED, the SDK worker disconnects, the runner fails the job. Only the one-shot
job-service calls (options, prepare) should time out; here they still do.
"""

from __future__ import annotations

from apache_beam.runners.portability import portable_runner, prism_runner


class _StreamsWithoutDeadline(portable_runner.JobServiceHandle):
    """Opens the job's state/message streams without a deadline; every other call keeps it."""

    def run(self, preparation_id):
        call_timeout, self.timeout = self.timeout, None  # run() uses self.timeout only for the two streams
        try:
            return super().run(preparation_id)
        finally:
            self.timeout = call_timeout


class PrismRunner(prism_runner.PrismRunner):
    """Beam's PrismRunner (starts its own Prism), minus the client deadline on the job's streams."""

    def create_job_service_handle(self, job_service, options):
        return _StreamsWithoutDeadline(job_service, options, retain_unknown_options=True)


class PortableRunner(portable_runner.PortableRunner):
    """Beam's PortableRunner for a job server the caller runs (`--job_endpoint`: Prism, Flink), minus the stream deadline."""

    def create_job_service_handle(self, job_service, options):
        return _StreamsWithoutDeadline(job_service, options, retain_unknown_options=True)
