"""Where evaluation jobs run: one after another in this process, or as Ray tasks; a job that raises is recorded
as failed and never aborts the run."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from .types import SequenceSpec

log = logging.getLogger(__name__)


def _job(spec: SequenceSpec, job_fn) -> dict:
    """Run one job, turning an exception into a failed record (so Ray retries only dead workers)."""
    try:
        return job_fn(spec)
    except Exception as e:  # noqa: BLE001 - a failed sequence is recorded, the run goes on
        log.warning("sequence %s failed: %s: %s", spec.id, type(e).__name__, e)
        return failed_record(spec, f"{type(e).__name__}: {e}", traceback.format_exc(limit=5))


def failed_record(spec: SequenceSpec, error: str, detail: str = "") -> dict:
    return {"id": spec.id, "action": spec.action, "status": "failed", "error": error, "detail": detail}


class SequentialRunner:
    """Jobs one after another in this process."""

    def run(self, specs: list[SequenceSpec], job_fn, on_result: Callable[[dict], None]) -> None:
        for spec in specs:
            on_result(_job(spec, job_fn))


class RayRunner:
    """Jobs as Ray tasks: a local ``ray.init`` with ``num_workers`` CPUs, or the cluster at ``address``.

    A task whose worker dies is retried up to ``max_retries`` times; after that it is recorded as
    failed. Results are handed to ``on_result`` as they complete.
    """

    def __init__(self, num_workers: int = 2, address: str | None = None, max_retries: int = 2) -> None:
        self.num_workers, self.address, self.max_retries = num_workers, address, max_retries

    def run(self, specs: list[SequenceSpec], job_fn, on_result: Callable[[dict], None]) -> None:
        import ray

        started = not ray.is_initialized()
        if started:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_workers, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        try:
            task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_job)
            pending = {task.remote(spec, job_fn): spec for spec in specs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(done[0])
                try:
                    record = ray.get(done[0])
                except ray.exceptions.RayError as e:  # the worker died max_retries + 1 times
                    record = failed_record(spec, f"{type(e).__name__}: worker lost after {self.max_retries} retries",
                                           str(e)[:2000])
                on_result(record)
        finally:
            if started:
                ray.shutdown()
