"""docker-compose.yml agrees with the local servers and with the settings it sets.

The defaults are read from their sources (deploy/local/servers.sh, pipeline/settings.py,
deploy/local/kafka/pom.xml), not repeated here. No Docker engine runs where these tests
run: they check the file as Compose would read it, not a running stack. Each check is a
function over the parsed file, so ``test_checks_catch_broken_files`` can show that it
fails on a file with the fault it is there to catch.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipeline.settings import Settings
from tests.unit.deployment import (
    CG_NAME,
    COMPOSE_FILE,
    ROOT,
    SETTING_NAMES,
    duration_seconds,
    host_and_port,
    load_compose,
    set_path,
    setting,
    settings_from,
)

Compose = dict[str, Any]


def servers_sh_default(name: str) -> int:
    match = re.search(rf"^{name}=(\d+)$", (ROOT / "deploy/local/servers.sh").read_text(), re.M)
    assert match, f"{name}=<port> not found in deploy/local/servers.sh"
    return int(match.group(1))


def settings_default(field: str) -> Any:
    return Settings.model_fields[field].default  # the code default, whatever the environment says


def host_ports(service: dict) -> set[int]:
    """Host-side ports of a compose service ("[ip:]host:container" strings)."""
    return {int(str(p).rsplit(":", 2)[-2]) for p in service.get("ports", []) if str(p).count(":") >= 1}


def container_ports(service: dict) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])}


def workers(compose: Compose) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("command") == ["customer-groups", "worker"]}


def named_mounts(compose: Compose, service: dict) -> dict[str, str]:
    """{container path: volume name} of the service's named volumes (declared at the top level)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source in (compose.get("volumes") or {}):
            mounts[target] = source
    return mounts


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load_compose()


# --- the checks ---------------------------------------------------------------------


def check_services(compose: Compose) -> None:
    services = compose["services"]
    assert {"kafka", "redis", "exporter"} <= set(services)
    assert len(workers(compose)) >= 2, "two workers, so the compose file shows scaling out"
    assert services["exporter"]["command"] == ["customer-groups", "export"]
    assert services["exporter"].get("profiles"), "the exporter is a manual one-off job"
    for name in [*workers(compose), "exporter"]:
        assert services[name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def check_kafka_log_on_its_volume(compose: Compose) -> None:
    kafka = compose["services"]["kafka"]
    log_dirs = kafka["environment"].get("KAFKA_LOG_DIRS")
    assert log_dirs, "KAFKA_LOG_DIRS unset: the apache/kafka image then writes /tmp/kraft-combined-logs"
    mounts = named_mounts(compose, kafka)
    for directory in str(log_dirs).split(","):
        assert directory.rstrip("/") in {m.rstrip("/") for m in mounts}, (
            f"Kafka writes {directory}, but its named volumes are mounted at {sorted(mounts)}")


def check_every_cg_variable_is_a_setting(compose: Compose) -> None:
    for name, service in compose["services"].items():
        named = {k for k in service.get("environment", {}) if k.startswith("CG_")}
        assert named <= SETTING_NAMES, f"{name}: not settings: {sorted(named - SETTING_NAMES)}"


def check_workers_share_one_group(compose: Compose) -> None:
    envs = [w["environment"] for w in workers(compose).values()]
    assert len({setting(env, "CG_APP_ID") for env in envs}) == 1, "one consumer group: the same CG_APP_ID"
    partitions = {int(setting(env, "CG_TOPIC_PARTITIONS")) for env in envs}
    assert len(partitions) == 1, "the workers disagree on CG_TOPIC_PARTITIONS"
    assert len(envs) <= partitions.pop(), "more workers than partitions: the extra ones would idle"


def check_each_worker_advertises_its_own_url(compose: Compose) -> None:
    urls = []
    for name, worker in workers(compose).items():
        env = worker["environment"]
        port = int(setting(env, "CG_WEB_PORT"))
        assert setting(env, "CG_WEB_HOST") == "0.0.0.0", f"{name}: bind every interface in a container"
        url = env.get("CG_WEB_ADVERTISED_URL")
        assert url, f"{name}: set CG_WEB_ADVERTISED_URL, the bind address is no URL for the others"
        assert host_and_port(url) == (name, port), f"{name} advertises {url}, not http://{name}:{port}"
        assert port in container_ports(worker), f"{name}: CG_WEB_PORT {port} is not the published port"
        urls.append(url)
    assert len(set(urls)) == len(urls), f"two workers advertise the same URL: {urls}"
    ports = [p for w in workers(compose).values() for p in host_ports(w)]
    assert len(set(ports)) == len(ports), f"two workers publish the same host port: {ports}"


def check_each_worker_keeps_state_on_its_own_volume(compose: Compose) -> None:
    volumes = []
    for name, worker in workers(compose).items():
        env = worker["environment"]
        assert setting(env, "CG_TABLE_STORE").startswith("rocksdb:"), f"{name}: memory tables are lost on restart"
        data_dir = str(setting(env, "CG_DATA_DIR"))
        assert data_dir.startswith("/"), f"{name}: CG_DATA_DIR {data_dir} should be absolute in a container"
        mounts = named_mounts(compose, worker)
        holding = [v for path, v in mounts.items() if data_dir == path or data_dir.startswith(path.rstrip("/") + "/")]
        assert holding, f"{name}: CG_DATA_DIR {data_dir} is on no named volume ({sorted(mounts)})"
        volumes.append(holding[0])
    assert len(set(volumes)) == len(volumes), f"two workers share a state volume: {volumes}"


def check_workers_get_time_to_stop(compose: Compose) -> None:
    for name, worker in workers(compose).items():
        timeout = float(setting(worker["environment"], "CG_SHUTDOWN_TIMEOUT_SECONDS"))
        grace = duration_seconds(worker.get("stop_grace_period", "10s"))  # Docker's default
        assert grace > timeout, f"{name}: SIGKILL after {grace}s, before the worker's own {timeout}s"


def check_worker_healthcheck_asks_healthz(compose: Compose) -> None:
    for name, worker in workers(compose).items():
        port = int(setting(worker["environment"], "CG_WEB_PORT"))
        test = " ".join(worker["healthcheck"]["test"])
        urls = re.findall(r"https?://[^'\" ]+", test)
        assert urls, f"{name}: the healthcheck asks no URL"
        assert all(urlsplit(u).port == port and urlsplit(u).path == "/healthz" for u in urls), (name, urls)


def check_exporter_user_is_configurable(compose: Compose) -> None:
    user = str(compose["services"]["exporter"]["user"])
    variables = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\}", user)
    assert len(variables) == 2, f"uid and gid both from variables: {user}"
    for name, default in variables:
        assert default, f"${{{name}}} needs a default"
        # bash's UID is a shell variable, not exported: Compose never sees it
        assert name not in ("UID", "GID", "EUID"), f"${{{name}}} never reaches Compose"


# --- the tests -------------------------------------------------------------------------


CHECKS = [check_services, check_kafka_log_on_its_volume, check_every_cg_variable_is_a_setting,
          check_workers_share_one_group, check_each_worker_advertises_its_own_url,
          check_each_worker_keeps_state_on_its_own_volume, check_workers_get_time_to_stop,
          check_worker_healthcheck_asks_healthz, check_exporter_user_is_configurable]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_compose_file(check: Callable[[Compose], None], compose: Compose) -> None:
    check(compose)


def _set(path: str, value: Any) -> Callable[[Compose], None]:
    def mutate(compose: Compose) -> None:
        set_path(compose, path, value)
    return mutate


BROKEN = [
    (check_kafka_log_on_its_volume, _set("services/kafka/environment/KAFKA_LOG_DIRS", None)),
    (check_kafka_log_on_its_volume, _set("services/kafka/environment/KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")),
    (check_every_cg_variable_is_a_setting, _set("services/worker-1/environment/CG_WEB_ADVERTISE_URL", "x")),
    (check_workers_share_one_group, _set("services/worker-2/environment/CG_APP_ID", "other")),
    (check_workers_share_one_group, _set("services/worker-1/environment/CG_TOPIC_PARTITIONS", "1")),
    (check_each_worker_advertises_its_own_url, _set("services/worker-2/environment/CG_WEB_ADVERTISED_URL",
                                                    "http://worker-1:6066")),
    (check_each_worker_advertises_its_own_url, _set("services/worker-1/environment/CG_WEB_ADVERTISED_URL", None)),
    (check_each_worker_advertises_its_own_url, _set("services/worker-1/environment/CG_WEB_PORT", "7000")),
    (check_each_worker_keeps_state_on_its_own_volume, _set("services/worker-2/volumes", ["worker-1-data:/app/var"])),
    (check_each_worker_keeps_state_on_its_own_volume, _set("services/worker-1/environment/CG_DATA_DIR", "/srv")),
    (check_each_worker_keeps_state_on_its_own_volume, _set("services/worker-1/environment/CG_TABLE_STORE",
                                                           "memory://")),
    (check_workers_get_time_to_stop, _set("services/worker-1/stop_grace_period", None)),
    (check_workers_get_time_to_stop, _set("services/worker-1/environment/CG_SHUTDOWN_TIMEOUT_SECONDS", "60")),
    (check_worker_healthcheck_asks_healthz, _set("services/worker-2/environment/CG_WEB_PORT", "7000")),
    (check_exporter_user_is_configurable, _set("services/exporter/user", "${UID:-1000}:${GID:-1000}")),
    (check_exporter_user_is_configurable, _set("services/exporter/user", "1000:1000")),
]


@pytest.mark.parametrize(("check", "mutate"), BROKEN, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(BROKEN)])
def test_checks_catch_broken_files(check: Callable[[Compose], None], mutate: Callable[[Compose], None],
                                   compose: Compose) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    with pytest.raises(AssertionError):
        check(broken)


def test_every_cg_name_in_the_text_is_a_setting_or_a_compose_variable() -> None:
    """Comments too: a misspelt setting in a comment sends a reader the wrong way."""
    text = COMPOSE_FILE.read_text()
    interpolated = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert not interpolated & SETTING_NAMES, "a setting interpolated on the host is not what the container reads"
    unknown = set(CG_NAME.findall(text)) - SETTING_NAMES - interpolated
    assert not unknown, f"neither a setting nor a variable of this file: {sorted(unknown)}"


def test_each_service_environment_makes_valid_settings(compose: Compose, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*workers(compose), "exporter"]:
        settings = settings_from(compose["services"][name]["environment"], monkeypatch)
        if name in workers(compose):
            assert settings.advertised_url == f"http://{name}:{settings.web_port}"


def test_kafka_port_agrees_with_local_scripts_and_settings(compose: Compose) -> None:
    script_port = servers_sh_default("DEFAULT_KAFKA_PORT")
    settings_port = int(settings_default("kafka_bootstrap").rsplit(":", 1)[1])
    assert script_port == settings_port
    kafka = compose["services"]["kafka"]
    assert script_port in host_ports(kafka)
    assert f"127.0.0.1:{script_port}" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_redis_port_agrees_with_local_scripts_and_settings(compose: Compose) -> None:
    script_port = servers_sh_default("DEFAULT_REDIS_PORT")
    assert urlsplit(settings_default("redis_url")).port == script_port
    assert script_port in host_ports(compose["services"]["redis"])


def test_kafka_image_matches_the_pinned_broker(compose: Compose) -> None:
    pom = ET.parse(ROOT / "deploy/local/kafka/pom.xml")
    version = pom.find(".//{http://maven.apache.org/POM/4.0.0}kafka.version").text
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_containers_reach_servers_by_service_name(compose: Compose) -> None:
    for name in [*workers(compose), "exporter"]:
        env = compose["services"][name]["environment"]
        assert env["CG_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka"
        assert urlsplit(env["CG_REDIS_URL"]).hostname == "redis"
