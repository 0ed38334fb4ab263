"""SQLAlchemy models, migrations, the durable job queue and the content-addressed image store.

Start with `storage/API.md`. Never imports torch.
"""
