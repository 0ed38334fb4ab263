"""The Typer applications that every command module registers itself on.

Command modules import heavy stacks (torch, SQLAlchemy, discord.py) inside their functions so that
`glyphbot --help` and light commands start fast.
"""

import typer

app = typer.Typer(help="glyphbot: images that contain the text you write.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print figures beside a baseline measured in the same run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
