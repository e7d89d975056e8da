"""What the deployment-file tests share: the files, parsed, and the settings they must agree with.

Setting names and defaults are read from :class:`pipeline.settings.Settings`, never
copied here, so a renamed or removed setting fails the tests of every file that still
names it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy/k8s"

#: Every variable a process reads as a setting: ``CG_`` + the field name in upper case.
SETTING_NAMES = frozenset(f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields)
#: A CG_* name anywhere in a file's text, comments included (where a typo misleads a reader).
CG_NAME = re.compile(rf"(?<![A-Za-z0-9_]){ENV_PREFIX}[A-Z0-9_]+")


def field_of(variable: str) -> str:
    assert variable in SETTING_NAMES, f"{variable} is not a setting"
    return variable[len(ENV_PREFIX):].lower()


def setting(env: Mapping[str, Any], variable: str) -> Any:
    """The value a process with this environment sees: the variable as set, else the code default."""
    if variable in env:
        return env[variable]
    return Settings.model_fields[field_of(variable)].default


def settings_from(env: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings built exactly as the process would build them, from this environment only."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return Settings()


def duration_seconds(text: str | int | float) -> float:
    """A Compose duration (``45s``, ``1m30s``, ``1h``) or a plain number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?", text.strip())
    assert parts and any(parts.groups()), f"not a duration: {text!r}"
    hours, minutes, seconds = (float(g or 0) for g in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def host_and_port(url: str) -> tuple[str | None, int | None]:
    split = urlsplit(url)
    return split.hostname, split.port


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def k8s_files() -> list[Path]:
    return sorted(K8S_DIR.glob("*.yaml"))


def load_k8s() -> list[dict[str, Any]]:
    """Every Kubernetes object under deploy/k8s/, in file order."""
    return [doc for path in k8s_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def the(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of this kind (and name)."""
    found = [d for d in objects(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template (metadata and spec) of a StatefulSet, Deployment, Job or CronJob."""
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) for every container of every workload."""
    for obj in docs:
        if obj["kind"] in ("StatefulSet", "Deployment", "Job", "CronJob"):
            for container in pod_template(obj)["spec"]["containers"]:
                yield obj, container


def container_env(container: dict[str, Any], docs: list[dict[str, Any]],
                  secrets: Mapping[tuple[str, str], str], fields: Mapping[str, str]) -> dict[str, str]:
    """The environment the container starts with, resolved as the kubelet does.

    ``envFrom`` ConfigMaps first (each must be one of ``docs``), then ``env`` in order:
    a literal value, a Secret key (its value from ``secrets``, keyed by (secret, key)),
    or a downward-API field (from ``fields``); ``$(NAME)`` expands to a variable
    defined before it. An unknown reference fails, as it would leave the pod unstartable
    or the variable unexpanded.
    """
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env.update({k: str(v) for k, v in the(docs, "ConfigMap", name)["data"].items()})
    for item in container.get("env", []):
        if "value" in item:
            used = re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(item["value"]))
            undefined = [name for name in used if name not in env]
            assert not undefined, f"{item['name']} uses $({undefined[0]}) before it is defined"
            env[item["name"]] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)],
                                       str(item["value"]))
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) in secrets, f"{item['name']}: unknown secret key {ref}"
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
        elif "fieldRef" in item.get("valueFrom", {}):
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert path in fields, f"{item['name']}: unexpected field {path}"
            env[item["name"]] = fields[path]
        else:
            raise AssertionError(f"{item['name']}: a value source this test does not know: {item}")
    return env


def set_path(node: Any, path: str, value: Any) -> None:
    """Set (or with ``None`` delete) the value at ``a/b/c`` in nested dicts: the tests' mutations."""
    *parents, last = path.split("/")
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
