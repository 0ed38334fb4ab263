"""The worker: the claim-render-store loop (`worker`: claiming, heartbeats, progress, storing results)
and `bench queue` (`benchmark`). What it renders with lives in bot/render; `glyphbot serve`, which runs
every adapter beside one worker, in bot/serve.

`Worker` and `WorkerOptions` are what callers build a worker from, so they are importable from here.
"""

from bot.worker.worker import Worker, WorkerOptions

__all__ = ["Worker", "WorkerOptions"]
