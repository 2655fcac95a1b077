"""The alert rules are valid, unit-tested with promtool, and each one carries what an on-call needs."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.dashboards.conftest import DASHBOARDS, ROOT, RULES_FILE, require_binary

RULE_TESTS = sorted((DASHBOARDS / "prometheus" / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning", "info"}


def alerting_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.prometheus
def test_promtool_check_rules() -> None:
    output = run(require_binary("promtool"), "check", "rules", str(RULES_FILE))
    assert f"SUCCESS: {len(alerting_rules())} rules found" in output


@pytest.mark.prometheus
def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS
    output = run(require_binary("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert "FAILED" not in output


@pytest.mark.prometheus
def test_prometheus_config_is_valid() -> None:
    run(require_binary("promtool"), "check", "config", str(DASHBOARDS / "prometheus" / "prometheus.yml"))


@pytest.mark.prometheus
def test_alertmanager_config_is_valid() -> None:
    run(require_binary("amtool"), "check-config", str(DASHBOARDS / "alertmanager" / "alertmanager.yml"))


def test_every_alert_has_for_severity_and_annotations() -> None:
    for rule in alerting_rules():
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= rule["annotations"].keys(), rule["alert"]


def test_every_runbook_url_points_at_a_section_of_the_runbooks() -> None:
    headings = re.findall(r"^## (\S+)$", (ROOT / "docs" / "runbooks.md").read_text(), flags=re.MULTILINE)
    anchors = {heading.lower() for heading in headings}
    for rule in alerting_rules():
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert (ROOT / path).is_file(), rule["alert"]
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in anchors, rule["alert"]
    assert len(headings) == len(alerting_rules()), "one runbook section per alert, no orphans"


def test_every_alert_is_unit_tested_firing() -> None:
    fired: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            fired.update(t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts"))
    assert fired == {rule["alert"] for rule in alerting_rules()}
