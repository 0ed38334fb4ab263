"""`glyphbot style`: the learned styles (LoRA adapters or textual-inversion vectors) kept in the data folder and the database.

`list` and `delete` work on the style store (storage.styles) alone, so they need neither torch nor a
model; learning a style needs the model and lives with the generation commands' code in this group.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.app import app, reported_errors
from bot.cli.style_learn import learn, relearn

style_app = typer.Typer(help="Learned styles: list, delete, learn and relearn.", no_args_is_help=True)
app.add_typer(style_app, name="style")


def _styles():  # noqa: ANN202  storage.styles.StyleStore, imported lazily (SQLAlchemy)
    from storage.facade import open_storage

    return open_storage().styles


@style_app.command("list")
def list_styles() -> None:
    """The styles jobs may use, by name: method (vectors or lora), creator, when, steps, final loss, examples."""
    with reported_errors():
        records = _styles().list()
        if not records:
            typer.echo("no styles yet (learn one with `glyphbot style learn NAME IMAGE...`)")
            return
        typer.echo(f"{'name':<32}  {'method':<7}  {'creator':<16}  {'created (UTC)':<16}  {'steps':>6}  {'loss':>8}  examples")
        for record in records:
            typer.echo(f"{record.name:<32}  {record.method:<7}  {record.creator:<16.16}  {record.created_at:%Y-%m-%d %H:%M}  "
                       f"{record.steps:>6}  {record.loss:>8.4f}  {len(record.example_hashes)}")


@style_app.command("delete")
def delete_style(
    name: Annotated[str, typer.Argument(help="The style's name.")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Delete a style as the local user (audited); jobs that still name it fail, saying who deleted it and when."""
    import getpass

    with reported_errors():
        record = _styles().delete(name, getpass.getuser(), reason)
        typer.echo(f"deleted style {record.name!r} (learned by {record.creator}); its embeddings are removed")


# Learning needs the model; its code lives in bot/cli/style_learn.py (imports torch only when it runs).
style_app.command("learn")(learn)
style_app.command("relearn")(relearn)
