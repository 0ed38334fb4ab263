"""SQLAlchemy models, migrations, the durable job queue and the content-addressed image store."""
