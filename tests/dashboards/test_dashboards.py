"""The checked-in dashboards are the generator's output, valid for the SDK, and wired to the provisioned datasource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import generate
from tests.dashboards.conftest import DASHBOARDS
from tests.dashboards.promql import DASHBOARD_JSON, dashboard_expressions

PROVISIONING = DASHBOARDS / "grafana" / "provisioning"


def provisioned(kind: str) -> dict[str, Any]:
    (path,) = (PROVISIONING / kind).glob("*.yaml")
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_checked_in_json_is_the_generator_output() -> None:
    expected = generate.rendered()
    assert {path.name for path in DASHBOARD_JSON.glob("*.json")} == expected.keys()
    for name, text in expected.items():
        assert (DASHBOARD_JSON / name).read_text() == text, f"{name} is stale: run python -m dashboards.generate"


def test_dashboards_round_trip_through_the_sdk_model() -> None:
    for path in DASHBOARD_JSON.glob("*.json"):
        raw = json.loads(path.read_text())
        model = Dashboard.from_json(raw)
        assert json.loads(json.dumps(model, cls=JSONEncoder)) == raw, path.name


def test_panels_have_unique_ids_and_titles() -> None:
    for path in DASHBOARD_JSON.glob("*.json"):
        panels = json.loads(path.read_text())["panels"]
        ids = [panel["id"] for panel in panels]
        titles = [panel["title"] for panel in panels if panel["type"] != "row"]
        assert len(set(ids)) == len(ids), path.name
        assert len(set(titles)) == len(titles), path.name


def test_every_query_uses_the_provisioned_prometheus_datasource() -> None:
    (prometheus,) = [ds for ds in provisioned("datasources")["datasources"] if ds["type"] == "prometheus"]
    for path in DASHBOARD_JSON.glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": prometheus["uid"]}, panel["title"]
    assert dashboard_expressions()


def test_prometheus_rules_show_in_grafana_and_link_to_alertmanager() -> None:
    sources = {ds["uid"]: ds for ds in provisioned("datasources")["datasources"]}
    (prometheus,) = [ds for ds in sources.values() if ds["type"] == "prometheus"]
    assert prometheus["jsonData"]["manageAlerts"] is True
    alertmanager = sources[prometheus["jsonData"]["alertmanagerUid"]]
    assert alertmanager["type"] == "alertmanager"
    assert alertmanager["jsonData"]["implementation"] == "prometheus"


def test_no_grafana_managed_alerting_is_provisioned() -> None:
    """One alerting source of truth: the Prometheus rules; Grafana provisions no rules, contacts or policies."""
    assert not (PROVISIONING / "alerting").exists()
    sources = provisioned("datasources")["datasources"]
    assert all(not ds.get("jsonData", {}).get("handleGrafanaManagedAlerts", False) for ds in sources)


def test_dashboard_provider_reads_the_generated_folder() -> None:
    (provider,) = provisioned("dashboards")["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]).is_absolute()
