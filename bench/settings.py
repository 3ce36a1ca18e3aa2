"""How a benchmark run is configured: quick or full, durability, where data goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class Settings:
    quick: bool
    durability: Literal["full", "normal"]
    workdir: Path

    def seconds(self, quick: float, full: float) -> float:
        return quick if self.quick else full

    def rounds(self) -> int:
        """Measurements alternate with their baseline this many times."""
        return 1 if self.quick else 2

    def data_dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path
