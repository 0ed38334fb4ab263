"""The worker: the claim-render-store loop (`worker`), how it drives a renderer (`worker_render`), the
renderers it can load (`worker_renderers`), the real one (`cascade`: the trained cascade reranked by
OCR), `glyphbot serve` (`worker_serve`) and `bench queue` (`benchmark`).

`Worker` and `WorkerOptions` are what callers build a worker from, so they are importable from here.
"""

from bot.worker.worker import Worker, WorkerOptions

__all__ = ["Worker", "WorkerOptions"]
