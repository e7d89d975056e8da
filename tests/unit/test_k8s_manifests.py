"""The Kubernetes files (deploy/k8s/) agree with the settings and with each other.

No cluster runs where these tests run: they check the objects as parsed, resolve each
container's environment the way the kubelet does (ConfigMaps, Secret keys, the pod
name, ``$(VAR)``) and build its :class:`Settings` from it. Each check is a function over
the parsed objects, and ``test_checks_catch_broken_files`` shows that it fails on
objects with the fault it is there to catch.
"""

from __future__ import annotations

import copy
import http.server
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipeline.cli import build_parser
from tests.unit.deployment import (
    CG_NAME,
    SETTING_NAMES,
    container_env,
    containers,
    host_and_port,
    k8s_files,
    load_k8s,
    objects,
    pod_template,
    set_path,
    setting,
    settings_from,
    the,
)

Docs = list[dict[str, Any]]
POD = "customer-groups-worker-0"
#: Stand-ins for the Secret's values: a token production accepts, a Redis URL with a password.
SECRET_VALUES = {"redis-url": "redis://:secret@redis:6379/0", "admin-token": "0123456789abcdef" * 4}


@pytest.fixture(scope="module")
def docs() -> Docs:
    return load_k8s()


def secret_name(docs: Docs) -> str:
    """The Secret every container reads (there is one, made by hand as config.yaml says)."""
    names = {item["valueFrom"]["secretKeyRef"]["name"] for _, c in containers(docs) for item in c.get("env", [])
             if "secretKeyRef" in item.get("valueFrom", {})}
    assert len(names) == 1, f"one Secret for every container: {names}"
    return names.pop()


def resolved_env(docs: Docs, container: dict[str, Any], pod: str = POD) -> dict[str, str]:
    secrets = {(secret_name(docs), key): value for key, value in SECRET_VALUES.items()}
    return container_env(container, docs, secrets, {"metadata.name": pod})


def statefulset(docs: Docs) -> dict[str, Any]:
    return the(docs, "StatefulSet", "customer-groups-worker")


def worker_container(docs: Docs) -> dict[str, Any]:
    (container,) = pod_template(statefulset(docs))["spec"]["containers"]
    return container


def worker_env(docs: Docs) -> dict[str, str]:
    return resolved_env(docs, worker_container(docs))


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return int(number)


# --- the checks ---------------------------------------------------------------------


def check_every_cg_variable_is_a_setting(docs: Docs) -> None:
    named = {k for d in objects(docs, "ConfigMap") for k in d["data"] if k.startswith("CG_")}
    named |= {item["name"] for _, c in containers(docs) for item in c.get("env", []) if item["name"].startswith("CG_")}
    assert named, "no CG_* variable found: the files or this test changed shape"
    assert named <= SETTING_NAMES, f"not settings: {sorted(named - SETTING_NAMES)}"


def check_headless_service_names_the_workers(docs: Docs) -> None:
    sts = statefulset(docs)
    service = the(docs, "Service", sts["spec"]["serviceName"])
    assert service["spec"].get("clusterIP") == "None", "the StatefulSet's serviceName must be a headless Service"
    assert service["spec"].get("publishNotReadyAddresses") is True, (
        "workers answer 503 while rebalancing: their DNS names must stay for the others")
    assert selects(service["spec"]["selector"], pod_template(sts)["metadata"]["labels"])


def check_each_worker_advertises_its_pod_name(docs: Docs) -> None:
    sts, container = statefulset(docs), worker_container(docs)
    port = int(setting(worker_env(docs), "CG_WEB_PORT"))
    assert setting(worker_env(docs), "CG_WEB_HOST") == "0.0.0.0"
    assert port in {p["containerPort"] for p in container["ports"]}
    hosts = set()
    for ordinal in range(sts["spec"]["replicas"]):
        pod = f"{sts['metadata']['name']}-{ordinal}"
        url = resolved_env(docs, container, pod).get("CG_WEB_ADVERTISED_URL")
        assert url, "set CG_WEB_ADVERTISED_URL: the bind address is no URL for the others"
        # a StatefulSet pod's DNS name: <pod>.<serviceName> (in its namespace)
        assert host_and_port(url) == (f"{pod}.{sts['spec']['serviceName']}", port), url
        hosts.add(url)
    assert len(hosts) == sts["spec"]["replicas"]
    service = the(docs, "Service", sts["spec"]["serviceName"])
    assert any(port_number(container, p["targetPort"]) == port for p in service["spec"]["ports"])


def check_state_on_the_claim_at_data_dir(docs: Docs) -> None:
    sts, container, env = statefulset(docs), worker_container(docs), worker_env(docs)
    assert setting(env, "CG_TABLE_STORE").startswith("rocksdb:"), "memory tables would leave the volume empty"
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    data_dir = str(setting(env, "CG_DATA_DIR")).rstrip("/")
    holding = [m for m in container["volumeMounts"] if m["name"] in claims
               and (data_dir == m["mountPath"].rstrip("/") or data_dir.startswith(m["mountPath"].rstrip("/") + "/"))]
    assert holding, f"CG_DATA_DIR {data_dir} is on no volumeClaimTemplate"


def check_probes_ask_healthz_on_the_web_port(docs: Docs) -> None:
    container = worker_container(docs)
    port = int(setting(worker_env(docs), "CG_WEB_PORT"))
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/healthz" and port_number(container, readiness["port"]) == port
    liveness = container["livenessProbe"]
    if "httpGet" in liveness:
        raise AssertionError("an httpGet liveness probe on /healthz restarts a worker for every 503 "
                             "(rebalancing, restoring tables, Redis away)")
    urls = re.findall(r"https?://[^'\" ]+", " ".join(liveness["exec"]["command"]))
    assert urls and all(urlsplit(u).path == "/healthz" and urlsplit(u).port == port for u in urls), urls


def check_time_to_stop(docs: Docs) -> None:
    timeout = float(setting(worker_env(docs), "CG_SHUTDOWN_TIMEOUT_SECONDS"))
    grace = pod_template(statefulset(docs))["spec"].get("terminationGracePeriodSeconds", 30)  # Kubernetes' default
    assert grace > timeout, f"SIGKILL after {grace}s, before the worker's own {timeout}s"


def check_disruption_budget(docs: Docs) -> None:
    sts = statefulset(docs)
    (pdb,) = objects(docs, "PodDisruptionBudget")
    assert pdb["spec"].get("maxUnavailable") == 1
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selects(selector, pod_template(sts)["metadata"]["labels"]), "the budget selects no worker"
    assert selector == sts["spec"]["selector"]["matchLabels"], "the budget covers other pods than the workers"
    for obj in docs:
        if obj["kind"] == "CronJob":
            assert not selects(selector, pod_template(obj)["metadata"]["labels"]), "the budget covers the exporter"


def check_workers_fit_the_partitions(docs: Docs) -> None:
    partitions = int(setting(worker_env(docs), "CG_TOPIC_PARTITIONS"))
    assert statefulset(docs)["spec"]["replicas"] <= partitions, "more workers than partitions: the rest idle"


def check_one_image_one_config_one_secret(docs: Docs) -> None:
    images = {c["image"] for _, c in containers(docs)}
    assert len(images) == 1, f"the workers and the exporter run one image: {images}"
    config_maps = [{s["configMapRef"]["name"] for s in c.get("envFrom", [])} for _, c in containers(docs)]
    assert all(names == config_maps[0] for names in config_maps), f"one shared ConfigMap: {config_maps}"
    for workload, container in containers(docs):
        env = resolved_env(docs, container)
        if setting(env, "CG_MODE") == "production":
            (token,) = [i for i in container["env"] if i["name"] == "CG_ADMIN_TOKEN"]
            assert "secretKeyRef" in token.get("valueFrom", {}), f"{workload['metadata']['name']}: token from a Secret"
    assert "CG_REDIS_URL" not in {k for d in objects(docs, "ConfigMap") for k in d["data"]}, (
        "the Redis URL may hold a password: from the Secret")


def check_exporter_runs_in_the_shop_time_zone(docs: Docs) -> None:
    for obj, container in containers(docs):
        if obj["kind"] == "CronJob":
            assert obj["spec"]["timeZone"] == setting(resolved_env(docs, container), "CG_SHOP_TIMEZONE")


# --- the tests -------------------------------------------------------------------------


CHECKS = [check_every_cg_variable_is_a_setting, check_headless_service_names_the_workers,
          check_each_worker_advertises_its_pod_name, check_state_on_the_claim_at_data_dir,
          check_probes_ask_healthz_on_the_web_port, check_time_to_stop, check_disruption_budget,
          check_workers_fit_the_partitions, check_one_image_one_config_one_secret,
          check_exporter_runs_in_the_shop_time_zone]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_k8s_files(check: Callable[[Docs], None], docs: Docs) -> None:
    check(docs)


def _worker(mutate: Callable[[dict[str, Any]], None]) -> Callable[[Docs], None]:
    return lambda docs: mutate(worker_container(docs))


def _env(name: str, value: str | None) -> Callable[[Docs], None]:
    def mutate(container: dict[str, Any]) -> None:
        container["env"] = [i for i in container["env"] if i["name"] != name]
        if value is not None:
            container["env"].append({"name": name, "value": value})
    return _worker(mutate)


def _object(kind: str, path: str, value: Any, name: str | None = None) -> Callable[[Docs], None]:
    def mutate(docs: Docs) -> None:
        set_path(the(docs, kind, name), path, value)
    return mutate


def _advertised_first(container: dict[str, Any]) -> None:
    """CG_WEB_ADVERTISED_URL before POD_NAME: the kubelet leaves $(POD_NAME) unexpanded."""
    url = next(i for i in container["env"] if i["name"] == "CG_WEB_ADVERTISED_URL")
    container["env"].remove(url)
    container["env"].insert(0, url)


BROKEN = [
    (check_every_cg_variable_is_a_setting, _env("CG_WEB_ADVERTISE_URL", "http://x:6066")),
    (check_every_cg_variable_is_a_setting, _object("ConfigMap", "data/CG_PARTITIONS", "12")),
    (check_headless_service_names_the_workers, _object("StatefulSet", "spec/serviceName", "customer-groups")),
    (check_headless_service_names_the_workers, _object("Service", "spec/publishNotReadyAddresses", None,
                                                        "customer-groups-workers")),
    (check_each_worker_advertises_its_pod_name, _env("CG_WEB_ADVERTISED_URL", None)),
    (check_each_worker_advertises_its_pod_name, _env("CG_WEB_ADVERTISED_URL", "http://customer-groups-workers:6066")),
    (check_each_worker_advertises_its_pod_name, _env("CG_WEB_ADVERTISED_URL",
                                                     "http://$(POD_NAME).customer-groups:6066")),
    (check_each_worker_advertises_its_pod_name, _worker(_advertised_first)),
    (check_each_worker_advertises_its_pod_name, _env("CG_WEB_HOST", None)),
    (check_state_on_the_claim_at_data_dir, _env("CG_DATA_DIR", "/tmp/state")),
    (check_state_on_the_claim_at_data_dir, _env("CG_TABLE_STORE", None)),
    (check_probes_ask_healthz_on_the_web_port, _env("CG_WEB_PORT", "7000")),
    (check_probes_ask_healthz_on_the_web_port, _worker(lambda c: c.update(
        livenessProbe={"httpGet": {"path": "/healthz", "port": "web"}}))),
    (check_probes_ask_healthz_on_the_web_port, _worker(lambda c: c["readinessProbe"]["httpGet"].update(
        path="/metrics"))),
    (check_time_to_stop, _env("CG_SHUTDOWN_TIMEOUT_SECONDS", "60")),
    (check_time_to_stop, _object("StatefulSet", "spec/template/spec/terminationGracePeriodSeconds", None)),
    (check_disruption_budget, _object("PodDisruptionBudget", "spec/selector/matchLabels",
                                      {"app.kubernetes.io/name": "customer-groups"})),
    (check_disruption_budget, _object("PodDisruptionBudget", "spec/maxUnavailable", 2)),
    (check_workers_fit_the_partitions, _object("StatefulSet", "spec/replicas", 13)),
    (check_one_image_one_config_one_secret, _env("CG_ADMIN_TOKEN", "not-from-a-secret")),
    (check_one_image_one_config_one_secret, _worker(lambda c: c.update(image="customer-groups:other"))),
    (check_exporter_runs_in_the_shop_time_zone, _object("CronJob", "spec/timeZone", "UTC")),
]


@pytest.mark.parametrize(("check", "mutate"), BROKEN, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(BROKEN)])
def test_checks_catch_broken_files(check: Callable[[Docs], None], mutate: Callable[[Docs], None], docs: Docs) -> None:
    broken = copy.deepcopy(docs)
    mutate(broken)
    with pytest.raises(AssertionError):
        check(broken)


def test_every_cg_name_in_the_text_is_a_setting() -> None:
    """Comments too: a misspelt setting in a comment sends a reader the wrong way."""
    for path in k8s_files():
        unknown = set(CG_NAME.findall(path.read_text())) - SETTING_NAMES
        assert not unknown, f"{path.name}: not settings: {sorted(unknown)}"


def test_each_container_environment_makes_valid_settings(docs: Docs, monkeypatch: pytest.MonkeyPatch) -> None:
    """What each container would build at start: production checks (the token) included."""
    for workload, container in containers(docs):
        settings = settings_from(resolved_env(docs, container), monkeypatch)
        assert settings.mode == "production", workload["metadata"]["name"]
        build_parser().parse_args(container["command"][1:])  # a command the CLI has
    settings = settings_from(worker_env(docs), monkeypatch)
    assert settings.advertised_url == f"http://{POD}.{statefulset(docs)['spec']['serviceName']}:{settings.web_port}"


def test_the_secret_the_comments_make_has_every_key_the_containers_read(docs: Docs) -> None:
    text = "\n".join(path.read_text() for path in k8s_files())
    made = re.search(r"kubectl create secret generic (\S+)((?:[\s\\#]*--from-literal=[\w-]+=\S+)+)", text)
    assert made, "the files say how to make the Secret"
    assert made.group(1) == secret_name(docs)
    keys = set(re.findall(r"--from-literal=([\w-]+)=", made.group(2)))
    read = {i["valueFrom"]["secretKeyRef"]["key"] for _, c in containers(docs) for i in c.get("env", [])
            if "secretKeyRef" in i.get("valueFrom", {})}
    assert read <= keys, f"read but never made: {sorted(read - keys)}"
    assert set(SECRET_VALUES) == read, "this test's stand-ins cover the keys the containers read"


@pytest.fixture
def healthz() -> Iterator[Callable[[int | None], str]]:
    """A stand-in worker answering /healthz with a chosen status; None: nothing listening."""
    servers: list[http.server.HTTPServer] = []

    def serve(status: int | None) -> str:
        if status is None:
            server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
            port = server.server_address[1]
            server.server_close()  # a port nobody listens on
            return f"http://127.0.0.1:{port}/healthz"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'{"ready": false}')

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/healthz"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "alive"), [(200, True), (503, True), (None, False), (404, True)])
def test_liveness_command_counts_any_answer_as_alive(docs: Docs, healthz: Callable[[int | None], str],
                                                     status: int | None, alive: bool) -> None:
    """The probe's own command, run against a stand-in: a 503 (not ready) is alive, silence is not."""
    command = worker_container(docs)["livenessProbe"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    (url,) = re.findall(r"https?://[^'\" ]+", command[2])
    code = command[2].replace(url, healthz(status))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False)
    assert (result.returncode == 0) is alive, result.stderr.decode()
