"""Fixtures shared by tests in more than one folder, registered here for the whole suite (pytest takes
`pytest_plugins` only from the root conftest):

- tests/storage/fixtures.py: storage on a SQLite file and on throwaway PostgreSQL (`db_url`, `db`,
  `queue`, `styles`, ...), used by tests/storage and by the tests of what runs on storage
  (tests/bot/worker, tests/bot/test_serve.py, tests/bot/cli);
- tests/generation/tiny_models.py: the tiny U-Nets and cascade (`tiny_base`, `tiny_sr`, `tiny_pipe`),
  used by tests/generation and tests/bot/render.

A folder's own conftest.py still wins for a name it defines (tests/bot/http's `db`, tests/bot/tumblr's `queue`).
"""

pytest_plugins = ["tests.storage.fixtures", "tests.generation.tiny_models"]
