"""Facts about a real chart for contract tests, from the collection's own analysis (test-only adapter).

The analysis is the product's (plugins/module_utils/values_contract.py, which sciplat.k8s.helm_values_check
runs before every release), so a contract test and a user's run judge values the same way. This adapter gives
contract tests the two questions they ask: which keys a role sets that the chart does not read, and which
switches are not real booleans.
"""

from __future__ import annotations

from pathlib import Path

from ansible_collections.sciplat.k8s.plugins.module_utils.values_contract import ChartFiles, ChartModel, check_values


class ChartFacts:
    def __init__(self, chart: Path):
        self.chart = chart
        self.model = ChartModel(ChartFiles.from_folder(str(chart)))

    def unknown(self, values: dict) -> list[str]:
        return [p["path"] for p in check_values(self.model, values) if p["problem"] == "unknown"]

    def not_boolean(self, values: dict) -> dict:
        """Leaves whose chart default is a boolean but whose value is not (a string "false" is true in templates)."""
        return {p["path"]: p["got"] for p in check_values(self.model, values) if p["problem"] == "not_boolean"}
