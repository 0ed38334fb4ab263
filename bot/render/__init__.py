"""The render room: what turns a request into pictures.

`cascade` (the trained cascade reranked by OCR: what workers and `glyphbot imagine` run), `model_free`
(renderers without a model, for development, tests and benchmarks), `loading` (the renderer a worker
starts with, by name) and `batches` (a claimed batch rendered with out-of-memory fallback); `prechecks` says what a request is
refused for before any model is loaded. The worker
(bot/worker) claims jobs, reports progress and stores results; it calls in here to draw them.
"""
