"""What the CLI prints. `-o json` (the default when stdout is not a terminal) prints each answer
as indented JSON, the API's own shape: stable, for scripts. `-o table` (the default on a
terminal) prints Rich tables, coloured only on a terminal. Notes, hints and errors go to stderr
as plain single lines, never wrapped."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


class OutputMode(StrEnum):
    table = "table"
    json = "json"


def dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


UTC_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?\+00:00")
"""The API's timestamps (ISO 8601, UTC): a table shows them to the second, `2026-12-06 17:18:22`."""


def cell(value: Any) -> Text:
    """A table cell: text as it is (no Rich markup read from data), `-` for nothing, compact
    JSON for objects and lists, UTC timestamps to the second."""
    if value is None:
        return Text("-")
    if isinstance(value, bool):
        return Text(str(value).lower())
    if isinstance(value, float):
        return Text(f"{value:.1f}" if value >= 10 else f"{value:.3g}")
    if isinstance(value, dict | list):
        return Text(dumps(value, indent=None))
    if isinstance(value, str) and (timestamp := UTC_TIMESTAMP.fullmatch(value)):
        return Text(f"{timestamp[1]} {timestamp[2]}")
    return Text(str(value))


def note(text: str) -> None:
    """One line on stderr, as it is."""
    print(text, file=sys.stderr, flush=True)


class Output:
    def __init__(self, mode: OutputMode | None = None) -> None:
        self.console = Console(highlight=False)
        terminal = self.console.is_terminal
        self.mode = mode or (OutputMode.table if terminal else OutputMode.json)

    @property
    def json(self) -> bool:
        return self.mode is OutputMode.json

    def data(self, value: Any) -> None:
        """`value` as indented JSON on stdout, whatever the mode."""
        sys.stdout.write(dumps(value) + "\n")
        sys.stdout.flush()

    def answer(self, value: Any, render: Callable[[Any], None] | None = None) -> None:
        """The API's answer: as JSON in json mode, else drawn by `render(value)` (a record
        table when no renderer is given)."""
        if self.json:
            self.data(value)
        elif render is not None:
            render(value)
        else:
            self.record(value)

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        title: str | None = None,
    ) -> None:
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")  # never an id cut short by an ellipsis
        for row in rows:
            table.add_row(*(cell(value) for value in row))
        self.console.print(table)

    def record(self, value: Mapping[str, Any], title: str | None = None) -> None:
        """A mapping as a two-column table; nested objects as indented JSON."""
        table = Table(show_header=False, title=title, title_justify="left")
        table.add_column(style="bold", overflow="fold")
        table.add_column(overflow="fold")
        for key, item in value.items():
            shown = Text(dumps(item)) if isinstance(item, dict | list) and item else cell(item)
            table.add_row(Text(str(key)), shown)
        self.console.print(table)

    def line(self, text: str) -> None:
        """One line on stdout, as it is (a token, an id)."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
