"""The terminal's view of a render: a progress bar per stage, fed by the renderer's Progress reports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from generation.types import Progress, ProgressCallback, RenderRequest, RenderResult, Renderer


@contextlib.contextmanager
def cli_progress() -> Iterator[ProgressCallback]:
    """A rich progress bar per stage for the terminal, fed by the renderer's Progress reports. On stderr,
    so that stdout carries only the command's result (one line, or the --json document) for scripts."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Bar(*columns, console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, int] = {}

        def report(event: Progress) -> None:
            if event.stage not in tasks:
                label = "base candidates" if event.stage == "base" else "super-resolution"
                tasks[event.stage] = bar.add_task(label, total=event.total_steps)
            bar.update(tasks[event.stage], completed=event.step, total=event.total_steps)

        yield report


class ShownRenderer:
    """A renderer whose progress reports also drive the terminal's progress bars."""

    def __init__(self, renderer: Renderer, show: ProgressCallback) -> None:
        self.renderer = renderer
        self.show = show

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        def both(event: Progress) -> None:
            self.show(event)
            if progress is not None:
                progress(event)

        return self.renderer.render(request, both)

    def free_memory(self) -> None:
        self.renderer.free_memory()  # type: ignore[attr-defined]  the cascade's; only it is shown
