"""`python -m bench --quick` runs every benchmark to the end and reports each ratio.

Nothing here is timed or compared with a target (the figures belong to
docs/performance.md); this only keeps the one benchmark command working as the
code under it changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TITLES = ["1. Commit throughput", "2. Push latency", "3. Invalidation scaling", "4. Fan-out",
          "5. Memory per idle connection", "6. Read throughput", "7. File storage",
          "8. Bystander latency", "9. Search", "10. PostgreSQL", "11. Bulk import",
          "12. Mutations through the official client", "13. Execution log",
          "14. Idle connections", "15. Several nodes",
          "16. Worker processes on SQLite"]


def test_every_benchmark_runs_and_reports_a_ratio(tmp_path: Path) -> None:
    output = tmp_path / "bench.md"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--output", str(output)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    report = output.read_text()
    assert "FAILED" not in report, report
    sections = report.split("\n### ")[1:]
    assert [next(t for t in TITLES if s.startswith(t)) for s in sections] == TITLES, report
    for section in sections:
        if "\n- skipped: " in section:  # PostgreSQL's, when none can be reached or started
            continue
        # Each table has at least one row whose ratio column holds a number and an "x".
        rows = [line.split("|") for line in section.splitlines() if line.startswith("| ")]
        assert any(len(cells) > 4 and cells[4].strip().endswith("x") for cells in rows), section
