"""A worker in its own process, for tests that kill workers or make several race: `python -m tests.bot.worker.worker_process`.

Every claimed job id is appended to `--claims` (one line per claim, flushed at once), so a test can
prove that no two workers ever held the same job at the same time.
"""

from __future__ import annotations

import argparse
import logging
import os

from bot.worker import Worker, WorkerOptions
from bot.render.model_free import ConstantRenderer, TextDrawingRenderer
from storage.db import open_database
from storage.images import ImageStore
from storage.jobs import JobQueue


class LoggingQueue(JobQueue):
    def __init__(self, *args, claims_path: str, **kwargs) -> None:  # noqa: ANN002,ANN003
        super().__init__(*args, **kwargs)
        self.claims_path = claims_path

    def claim(self, worker_id: str, **kwargs) -> list:  # noqa: ANN003
        jobs = super().claim(worker_id, **kwargs)
        if jobs:
            with open(self.claims_path, "a", encoding="utf-8") as handle:
                handle.write("".join(f"{worker_id} {job.id}\n" for job in jobs))
                handle.flush()
                os.fsync(handle.fileno())
        return jobs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--images", required=True)
    parser.add_argument("--claims", required=True)
    parser.add_argument("--step-delay", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--exit-when-idle", action="store_true")
    parser.add_argument("--max-jobs", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    db = open_database(args.url)
    queue = LoggingQueue(db, ImageStore(args.images), claims_path=args.claims)
    renderer = TextDrawingRenderer(step_delay_s=args.step_delay) if args.step_delay else ConstantRenderer()
    options = WorkerOptions(lease_s=args.lease, heartbeat_s=args.heartbeat, batch_size=args.batch, poll_interval_s=0.05)
    Worker(queue, renderer, options).run(exit_when_idle=args.exit_when_idle, max_jobs=args.max_jobs)


if __name__ == "__main__":
    main()
