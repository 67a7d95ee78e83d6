"""The seed's ten patterns (examples/patterns.yml) render into an app whose handlers do
what the seed says, in constant query counts where the seed's code loops."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import check_app, load_answers

pytestmark = pytest.mark.slow

CHECKS = Path(__file__).with_name("pattern_checks.py")


def test_patterns_work_and_beat_the_seed_on_queries(host_with, tmp_path):
    host = host_with(load_answers("patterns.yml"))
    shutil.copy(CHECKS, host.app_dir / "tests" / "test_patterns.py")
    report = tmp_path / "queries.json"
    output = check_app(host, env={"PATTERN_REPORT": str(report)})
    assert "test_patterns" in output
    counts = json.loads(report.read_text())
    print("\nqueries per operation (ours vs the seed's code):")
    for pattern, numbers in sorted(counts.items()):
        print(f"  {pattern}: {numbers}")
    for pattern in ("auto slug", "m2m count sync (add)", "update related total"):
        ours = {v for k, v in counts[pattern].items() if k.startswith("ours")}
        assert len(ours) == 1, f"{pattern} is not constant in n: {counts[pattern]}"
        assert counts[pattern]["seed n=100"] >= counts[pattern]["ours n=100"]
    assert counts["auto slug"]["seed n=100"] > 100
    assert counts["m2m count sync (add)"]["seed n=100"] > 200
    assert counts["status change history"]["ours"] < counts["status change history"]["seed"]
