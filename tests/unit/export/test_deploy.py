"""The exporter's deployment files run the export command with real settings and a volume."""

from __future__ import annotations

from typing import Any

import yaml

from pipeline.cli import build_parser
from tests.unit.deployment import ROOT, SETTING_NAMES, container_env, load_k8s, the

SETTINGS = SETTING_NAMES


def documents() -> dict[str, Any]:
    """The exporter's objects, and the shared ConfigMap it reads (deploy/k8s/config.yaml)."""
    docs = load_k8s()
    cron = the(docs, "CronJob", "customer-groups-exporter")
    return {"CronJob": cron, "PersistentVolumeClaim": the(docs, "PersistentVolumeClaim", "customer-groups-exports"),
            "ConfigMap": the(docs, "ConfigMap", "customer-groups"), "all": docs}


def test_cronjob_runs_the_export_nightly_one_at_a_time() -> None:
    cron = documents()["CronJob"]
    assert cron["apiVersion"] == "batch/v1"
    minute, hour, *rest = cron["spec"]["schedule"].split()
    assert rest == ["*", "*", "*"] and hour.isdigit() and minute.isdigit()  # once a day
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    command = container["command"]
    assert command[:2] == ["customer-groups", "export"]
    build_parser().parse_args(command[1:])  # options the command really has


def test_cronjob_settings_are_real_and_exports_land_on_the_volume() -> None:
    docs = documents()
    container = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    secrets = {("customer-groups", key): "x" for key in ("redis-url", "admin-token")}
    env = container_env(container, docs["all"], secrets, {})
    names = set(env)
    assert names <= SETTINGS, names - SETTINGS
    assert {"CG_KAFKA_BOOTSTRAP", "CG_REDIS_URL", "CG_EXPORT_DIR"} <= names
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert env["CG_EXPORT_DIR"] in mounts
    pod = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[env["CG_EXPORT_DIR"]])
    assert volume["persistentVolumeClaim"]["claimName"] == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert docs["CronJob"]["spec"]["timeZone"] == env["CG_SHOP_TIMEZONE"]


def test_compose_exporter_is_a_manual_job_writing_to_a_mounted_folder() -> None:
    exporter = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["exporter"]
    assert exporter["profiles"] == ["manual"]
    assert set(exporter["environment"]) <= SETTINGS
    target = exporter["environment"]["CG_EXPORT_DIR"]
    assert any(v.split(":")[1] == target for v in exporter["volumes"])
