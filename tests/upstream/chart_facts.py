"""Facts about a real chart, read from its own files at test time (test-only, never shipped).

Contract tests use them instead of hand-kept lists: which value paths the chart's values.yaml defines (with
their defaults), and which paths its templates read. A value a role sets that is neither is a silent bug.
Reads are found as templates write them: `.Values.a.b`, `$.Values.a.b`, `index .Values "a" "b"`, and
through variables bound to a part of the values (`$ui := index .Values "platform-ui"`, then `$ui.ingress`).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

_KEY = r"[A-Za-z0-9_]+"
_DOTTED = re.compile(rf"\$?\.Values((?:\.{_KEY})+)")
_INDEX = re.compile(r'index\s+\$?\.Values((?:\s+"[^"]+")+)')
_BIND = re.compile(rf"(\${_KEY})\s*:?=\s*(?:\(\s*)?(?:index\s+\$?\.Values((?:\s+\"[^\"]+\")+)|\$?\.Values((?:\.{_KEY})+))")
_VARIABLE_USE = re.compile(rf"(\${_KEY})((?:\.{_KEY})+)")


def value_paths(values: dict, prefix: str = "") -> dict:
    """Every path of values.yaml (mappings and leaves) with its default."""
    found = {}
    for key, value in (values or {}).items():
        path = f"{prefix}{key}"
        found[path] = value
        if isinstance(value, dict):
            found.update(value_paths(value, path + "."))
    return found


def leaves(values: dict, prefix: str = "") -> dict:
    """The leaf paths of a values mapping (an empty mapping is a leaf)."""
    found = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found.update(leaves(value, path + "."))
        else:
            found[path] = value
    return found


def _index_path(quoted: str) -> str:
    return ".".join(re.findall(r'"([^"]+)"', quoted))


def template_reads(chart: Path) -> set[str]:
    reads = set()
    for template in sorted((chart / "templates").rglob("*")):
        if not template.is_file():
            continue
        text = template.read_text(encoding="utf-8", errors="replace")
        bound = {}
        for match in _BIND.finditer(text):
            bound[match.group(1)] = _index_path(match.group(2)) if match.group(2) else match.group(3).lstrip(".")
        reads.update(match.group(1).lstrip(".") for match in _DOTTED.finditer(text))
        reads.update(_index_path(match.group(1)) for match in _INDEX.finditer(text))
        for match in _VARIABLE_USE.finditer(text):
            if match.group(1) in bound:
                reads.add(f"{bound[match.group(1)]}{match.group(2)}")
    return reads


class ChartFacts:
    def __init__(self, chart: Path):
        self.chart = chart
        self.defaults = value_paths(yaml.safe_load((chart / "values.yaml").read_text()) or {})
        self.reads = template_reads(chart)

    def known(self, path: str) -> bool:
        """Defined in values.yaml, read by a template, or inside a subtree a template reads whole."""
        if path in self.defaults or path in self.reads:
            return True
        return any(path.startswith(read + ".") for read in self.reads)

    def unknown(self, values: dict) -> list[str]:
        return sorted(path for path in leaves(values) if not self.known(path))

    def not_boolean(self, values: dict) -> dict:
        """Leaves whose chart default is a boolean but whose value is not (a string "false" is true in templates)."""
        return {path: value for path, value in leaves(values).items()
                if isinstance(self.defaults.get(path), bool) and not isinstance(value, bool)}
