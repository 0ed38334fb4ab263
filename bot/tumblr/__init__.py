"""Tumblr autoresponder adapter: transcripts in posts become generated images; images read become transcripts.

Entry point for `glyphbot serve`: `await run_tumblr_autoresponder(settings, jobs)` with
`config.settings.load_settings().tumblr` and the queue's `storage.async_api.AsyncJobs`.
"""

from bot.tumblr.runner import run_tumblr_autoresponder

__all__ = ["run_tumblr_autoresponder"]
