"""docker-compose.yml agrees with the local servers: same host ports, same Kafka version.

The defaults are read from their sources (deploy/local/servers.sh, pipeline/settings.py,
deploy/local/kafka/pom.xml), not repeated here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def servers_sh_default(name: str) -> int:
    match = re.search(rf"^{name}=(\d+)$", (ROOT / "deploy/local/servers.sh").read_text(), re.M)
    assert match, f"{name}=<port> not found in deploy/local/servers.sh"
    return int(match.group(1))


def settings_default(field: str) -> str:
    return Settings.model_fields[field].default  # the code default, whatever the environment says


def host_ports(service: dict) -> set[int]:
    """Host-side ports of a compose service ("[ip:]host:container" strings)."""
    return {int(str(p).rsplit(":", 2)[-2]) for p in service.get("ports", []) if str(p).count(":") >= 1}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_exist(compose: dict) -> None:
    assert {"kafka", "redis", "worker", "exporter"} <= set(compose["services"])
    assert compose["services"]["worker"]["command"] == ["customer-groups", "worker"]
    assert compose["services"]["exporter"]["command"] == ["customer-groups", "export"]
    assert compose["services"]["exporter"].get("profiles"), "the exporter is a manual one-off job"
    for name in ("worker", "exporter"):
        assert compose["services"][name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def test_kafka_port_agrees_with_local_scripts_and_settings(compose: dict) -> None:
    script_port = servers_sh_default("DEFAULT_KAFKA_PORT")
    settings_port = int(settings_default("kafka_bootstrap").rsplit(":", 1)[1])
    assert script_port == settings_port
    kafka = compose["services"]["kafka"]
    assert script_port in host_ports(kafka)
    assert f"127.0.0.1:{script_port}" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_redis_port_agrees_with_local_scripts_and_settings(compose: dict) -> None:
    script_port = servers_sh_default("DEFAULT_REDIS_PORT")
    assert urlsplit(settings_default("redis_url")).port == script_port
    assert script_port in host_ports(compose["services"]["redis"])


def test_kafka_image_matches_the_pinned_broker(compose: dict) -> None:
    pom = ET.parse(ROOT / "deploy/local/kafka/pom.xml")
    version = pom.find(".//{http://maven.apache.org/POM/4.0.0}kafka.version").text
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_containers_reach_servers_by_service_name(compose: dict) -> None:
    for name in ("worker", "exporter"):
        env = compose["services"][name]["environment"]
        assert env["CG_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka"
        assert urlsplit(env["CG_REDIS_URL"]).hostname == "redis"
