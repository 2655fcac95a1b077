"""docker-compose.yml is a valid Compose file whose mounts, ports, topics, commands and image match the project.

No Docker engine runs here, so the stack is checked statically: the Compose Specification through the
`compose-spec` package (bindings to the `compose_spec` Rust crate, which parses every field strictly), then
everything the file refers to in this repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from compose_spec import PyCompose, PyOptions

from models.config import load_config
from streams.cli import main as cli
from streams.settings import Settings, TopicNames
from tests.dashboards.conftest import DASHBOARDS, ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
DEFAULT_TOPICS = {
    "audit.cloudtrail", "audit.k8s", "audit.gcp", "audit.azure", "aiops.actions", "change.authorizations",
    "workflow.registry", "opswarden.findings", "opswarden.ledger", "opswarden.deadletter",
}  # fmt: skip
INSTALL_BLOCK = re.compile(r"<!-- install -->\s*```sh\n(.*?)```\s*<!-- /install -->", re.DOTALL)


def compose() -> PyCompose:
    return PyOptions(apply_merge=True).from_yaml(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    """The services as plain YAML (aliases resolved), for the repository checks."""
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return loaded


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts.append((ROOT / source, target))
    return mounts


def opswarden_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if s.get("image") == "opswarden:local"}


def test_compose_file_follows_the_compose_specification() -> None:
    stack = compose()
    stack.validate()
    expected = {"kafka", "topics", "worker", "feeder", "prometheus", "alertmanager", "grafana"}
    assert set(stack.service_names()) == expected


def test_the_validator_rejects_what_compose_would() -> None:
    """The chosen validator is strict: a misspelt key or a malformed port fails, not passes silently."""
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["worker"]["comand"] = ["worker"]
    with pytest.raises(ValueError, match="comand"):
        PyCompose.from_yaml(yaml.safe_dump(broken))
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["grafana"]["ports"] = ["3000:3000:3000:3000"]
    with pytest.raises(ValueError, match="ports"):
        PyCompose.from_yaml(yaml.safe_dump(broken))


def test_every_mounted_file_exists() -> None:
    mounts = [mount for service in services().values() for mount in bind_mounts(service)]
    assert mounts
    for source, target in mounts:
        assert source.exists(), f"{source} (mounted at {target}) does not exist"
    for service in services().values():
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").is_file()


def test_workers_get_the_default_metrics_port_and_prometheus_scrapes_it() -> None:
    port = Settings.model_fields["metrics_port"].default
    worker = services()["worker"]
    assert int(worker["environment"]["OPSWARDEN_METRICS_PORT"]) == port
    assert [int(p) for p in worker["expose"]] == [port]
    assert f"EXPOSE {port}" in (ROOT / "Dockerfile").read_text()
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(worker["healthcheck"]["test"])
    scrape = yaml.safe_load((DASHBOARDS / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    (job,) = [job for job in scrape if job["job_name"] == "opswarden"]
    assert job["dns_sd_configs"] == [{"names": ["worker"], "type": "A", "port": port}]


def test_topic_names_are_the_runtime_defaults() -> None:
    assert {getattr(TopicNames(), name) for name in TopicNames.model_fields if name != "prefix"} >= DEFAULT_TOPICS
    for name, service in opswarden_services().items():
        assert not any(key.startswith("OPSWARDEN_TOPICS") for key in service["environment"]), name
    topic_like = re.compile(r"\b(?:audit|aiops|change|workflow|opswarden)\.[a-z][a-z-]*\b(?!\.)")
    documents = [COMPOSE_FILE, *(ROOT / "docs").glob("*.md"), *DASHBOARDS.rglob("*.y*ml")]
    documents += (DASHBOARDS / "grafana" / "dashboards").glob("*.json")
    file_names = ("yaml", "yml", "json", "md")
    mentioned = {m for path in documents for m in topic_like.findall(path.read_text()) if not m.endswith(file_names)}
    assert mentioned
    assert mentioned <= DEFAULT_TOPICS | {"opswarden.by-principal", "opswarden.by-target", "opswarden.models"}


def test_kafka_advertises_the_bootstrap_address_the_services_use() -> None:
    kafka = services()["kafka"]["environment"]
    for service in opswarden_services().values():
        bootstrap = service["environment"]["OPSWARDEN_BOOTSTRAP_SERVERS"]
        assert f"PLAINTEXT://{bootstrap}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_environment_is_valid_runtime_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in opswarden_services().values():
        with monkeypatch.context() as environment:
            for key in [key for key in os.environ if key.startswith("OPSWARDEN_")]:
                environment.delenv(key)
            for key, value in service["environment"].items():
                environment.setenv(key, value)
            settings = Settings()
        mounts = {target: source for source, target in bind_mounts(service)}
        for configured in (settings.config_file, settings.registry_file):
            if configured is not None:
                assert str(configured) in mounts, configured


def test_the_mounted_config_validates() -> None:
    worker = services()["worker"]
    mounts = {target: source for source, target in bind_mounts(worker)}
    config_file = mounts[worker["environment"]["OPSWARDEN_CONFIG_FILE"]]
    assert config_file == ROOT / "config" / "opswarden.yaml"
    load_config(yaml.safe_load(config_file.read_text()))


def test_opswarden_commands_exist_in_the_cli() -> None:
    """Every opswarden command the stack runs, the demo feeder's included, with every flag it passes."""
    for name, service in opswarden_services().items():
        command: click.Command | None = cli
        for word in (w for w in service["command"] if not w.startswith("-")):
            assert isinstance(command, click.Group), f"{name}: {service['command']}"
            command = command.get_command(click.Context(command), word)
            assert command is not None, f"{name}: no command {word!r} in {service['command']}"
        assert command is not None
        if command.context_settings.get("ignore_unknown_options"):
            continue  # it forwards flags to the program it wraps (the Faust worker)
        known = {opt for param in command.params for opt in getattr(param, "opts", ())}
        flags = {w.split("=", 1)[0] for w in service["command"] if w.startswith("--")}
        assert flags <= known, f"{name}: unknown flags {flags - known} for {service['command']}"


def test_grafana_and_prometheus_mounts_match_their_provisioning() -> None:
    grafana = {target: source for source, target in bind_mounts(services()["grafana"])}
    assert grafana["/etc/grafana/provisioning"] == DASHBOARDS / "grafana" / "provisioning"
    provider = yaml.safe_load((DASHBOARDS / "grafana" / "provisioning" / "dashboards" / "opswarden.yaml").read_text())
    assert grafana[provider["providers"][0]["options"]["path"]] == DASHBOARDS / "grafana" / "dashboards"
    prometheus = {target: source for source, target in bind_mounts(services()["prometheus"])}
    assert prometheus["/etc/prometheus"] == DASHBOARDS / "prometheus"


def dockerfile_install_steps() -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    steps = ("RUN python -m pip", "RUN cd / && python -m compiled.build")
    return [line.removeprefix("RUN ").strip() for line in lines if line.startswith(steps)]


def install_steps(document: Path) -> list[str] | None:
    """The commands in the document's fenced block between the install markers; None when it has none."""
    found = INSTALL_BLOCK.findall(document.read_text())
    return [line.strip() for line in found[0].splitlines() if line.strip()] if found else None


def test_dockerfile_installs_exactly_as_the_install_docs_say() -> None:
    assert install_steps(ROOT / "docs" / "install.md") == dockerfile_install_steps()


def test_readme_install_block_once_filled_matches_the_dockerfile() -> None:
    """README.md keeps the `install` markers; the block between them, once the README carries it, is checked too."""
    text = (ROOT / "README.md").read_text()
    assert "<!-- install -->" in text
    assert install_steps(ROOT / "README.md") in (None, dockerfile_install_steps())


def test_everything_the_image_copies_is_in_its_build_context() -> None:
    """.dockerignore leaves out everything but what the Dockerfile copies; a package copied but not let back in
    would fail `docker build`, which this machine cannot run."""
    copies = [line.split()[1:-1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    let_in = {line.removeprefix("!").rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    sources = [source for copy in copies if not copy[0].startswith("--from") for source in copy]
    assert {"models", "detectors", "streams", "compiled"} <= set(sources)
    assert [source for source in sources if source not in let_in] == []
