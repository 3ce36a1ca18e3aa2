"""Benchmark results as tables: figure, baseline, ratio, target, met — printed as Markdown."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(slots=True)
class Row:
    """One figure; `ratio` and `met` only where the issue sets a target."""

    figure: str
    value: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


@dataclass(slots=True)
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, value: str, baseline: str = "", ratio: float | None = None,
            target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(figure, value, baseline, ratio, target, met))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "",
                 "| figure | value | baseline | ratio | target | met? |",
                 "|---|---|---|---|---|---|"]
        for row in self.rows:
            ratio = "" if row.ratio is None else f"{num(row.ratio, 2)}x"
            met = {None: "", True: "yes", False: "**no**"}[row.met]
            lines.append(f"| {row.figure} | {row.value} | {row.baseline} | {ratio} |"
                         f" {row.target} | {met} |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {text}" for text in self.notes)
        return "\n".join(lines) + "\n"


def num(value: float, digits: int = 0) -> str:
    """A figure for a table: thousands separated, `digits` decimals."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def ms(seconds: float, digits: int = 2) -> str:
    return f"{num(seconds * 1000, digits)} ms"


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.nan


def core_share(cpu_seconds: float, seconds: float) -> str:
    """CPU time over a window as a share of one core."""
    return f"{100 * cpu_seconds / seconds:.0f} % of one core" if seconds else "n/a"
