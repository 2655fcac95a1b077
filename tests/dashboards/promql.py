"""Every PromQL expression opswarden ships (dashboard panels and alert rules) and the metric names they use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from tests.dashboards.conftest import DASHBOARDS, RULES_FILE

DASHBOARD_JSON = DASHBOARDS / "grafana" / "dashboards"
#: Grafana's interval macros, replaced by fixed windows so an expression can go to Prometheus as it is.
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s"}
#: PromQL words that look like metric names in an expression but are functions, keywords or label names.
_NOT_METRICS = {
    "sum", "max", "min", "avg", "count", "topk", "bottomk", "by", "without", "on", "ignoring", "and", "or",
    "unless", "rate", "increase", "irate", "histogram_quantile", "absent", "vector", "offset", "le", "bool",
    "group_left", "group_right", "time", "scalar", "clamp_min", "clamp_max", "changes",
}  # fmt: skip
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True)
class Expression:
    where: str
    promql: str

    def for_prometheus(self) -> str:
        """The expression with Grafana's macros replaced, ready for Prometheus's query API."""
        text = self.promql
        for macro, window in GRAFANA_MACROS.items():
            text = text.replace(macro, window)
        return text

    def metric_names(self) -> set[str]:
        """Names of the metrics the expression selects (what is left after strings, labels and keywords)."""
        text = re.sub(r'"[^"]*"', '""', self.for_prometheus())
        text = re.sub(r"\{[^}]*\}", "", text)
        text = re.sub(r"\[[^\]]*\]", "", text)
        text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
        text = re.sub(r"\b\d[\d.]*[a-z]*\b", "", text)  # numbers and durations
        return set(_IDENTIFIER.findall(text)) - _NOT_METRICS


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_expressions() -> list[Expression]:
    found = []
    for path in sorted(DASHBOARD_JSON.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in _panels(board["panels"]):
            for target in panel.get("targets", []):
                found.append(Expression(f"{path.name}: {panel['title']} ({target['refId']})", target["expr"]))
    return found


def rule_expressions() -> list[Expression]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [Expression(f"rule {rule['alert']}", rule["expr"]) for group in groups for rule in group["rules"]]


def all_expressions() -> list[Expression]:
    return dashboard_expressions() + rule_expressions()
