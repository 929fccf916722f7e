"""The deployment files of docs/deploy/ are the ones a replica really runs with: the Kubernetes
manifests pass the published schemas of a pinned Kubernetes version (strict: no unknown field),
the probes they name answer 200 on a real `cpcompile serve` started with docs/deploy/serve.toml,
the ConfigMap carries that same file, and the systemd unit passes `systemd-analyze verify`."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import pytest
import tomllib
from ruamel.yaml import YAML

from conftest import REPO_ROOT, copy_example, run
from serve_helpers import TOKEN, free_port

DEPLOY = REPO_ROOT / "docs" / "deploy"
KUBERNETES = DEPLOY / "kubernetes.yaml"
SETTINGS = DEPLOY / "serve.toml"
UNIT = DEPLOY / "cpcompile.service"
# the Kubernetes release whose published schemas the manifests are held to
KUBERNETES_VERSION = "1.33.0"
# the path the unit's ExecStart names, replaced by this environment's cpcompile to verify it
UNIT_EXEC = "/opt/cpcompile/bin/cpcompile"
KINDS = ["ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"]


def _documents() -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe", pure=True).load_all(KUBERNETES.read_text()) if d is not None]


def _one(kind: str) -> dict[str, Any]:
    (found,) = [d for d in _documents() if d["kind"] == kind]
    return found


def _container() -> dict[str, Any]:
    (container,) = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _settings() -> dict[str, Any]:
    with open(SETTINGS, "rb") as f:
        return tomllib.load(f)["serve"]


def _probes() -> dict[str, dict[str, Any]]:
    container = _container()
    return {name: container[name] for name in ("startupProbe", "readinessProbe", "livenessProbe") if name in container}


def _kubernetes_validate() -> Any:
    """The schema checker: the Kubernetes OpenAPI schemas of each release, as JSON Schema."""
    try:
        import kubernetes_validate
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("kubernetes-validate is not installed (pip install kubernetes-validate)")
    return kubernetes_validate


def _validate(document: dict[str, Any]) -> None:
    # raises on a schema violation, and when no schema exists for the kind and apiVersion
    _kubernetes_validate().validate(document, KUBERNETES_VERSION, strict=True)


def _required_tool(name: str, why: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; {why}")
        pytest.skip(f"{name} is not installed; {why}")
    return found


# -- Kubernetes: schemas ----------------------------------------------------------------------


def test_the_manifests_pass_the_pinned_kubernetes_schemas_in_strict_mode() -> None:
    documents = _documents()
    assert [d["kind"] for d in documents] == KINDS
    for document in documents:
        _validate(document)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: c.update(readinesProbe=c.pop("readinessProbe")), id="a misspelt field"),
        pytest.param(lambda c: c["securityContext"].update(runAsNonroot=True), id="a misspelt nested field"),
        pytest.param(lambda c: c["ports"][0].update(containerPort="8080"), id="a port as a string"),
    ],
)
def test_the_schema_check_refuses_what_kubernetes_would_refuse(change) -> None:
    deployment = copy.deepcopy(_one("Deployment"))
    change(deployment["spec"]["template"]["spec"]["containers"][0])
    with pytest.raises(_kubernetes_validate().ValidationError):
        _validate(deployment)


def test_the_schema_check_refuses_an_api_version_the_release_does_not_serve() -> None:
    deployment = copy.deepcopy(_one("Deployment"))
    deployment["apiVersion"] = "extensions/v1beta1"  # removed in Kubernetes 1.16
    with pytest.raises(_kubernetes_validate().SchemaNotFoundError):
        _validate(deployment)


# -- Kubernetes: the pieces fit together ------------------------------------------------------


def test_the_configmap_carries_docs_deploy_serve_toml_unchanged() -> None:
    assert _one("ConfigMap")["data"]["serve.toml"] == SETTINGS.read_text()


def test_the_settings_and_the_public_key_are_mounted_where_the_container_reads_them() -> None:
    configmap = _one("ConfigMap")
    pod = _one("Deployment")["spec"]["template"]["spec"]
    container = _container()
    (volume,) = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == configmap["metadata"]["name"]]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    command = container["command"] + container["args"]
    assert command[:2] == ["cpcompile", "serve"]
    read = [PurePosixPath(command[command.index("--settings") + 1]), PurePosixPath(_settings()["public_key"])]
    for path in read:
        assert path.parent == PurePosixPath(mount["mountPath"]), path
        assert path.name in configmap["data"], f"{path.name} is not in the ConfigMap"
    assert read[0].name == "serve.toml"


def test_the_api_tokens_come_from_the_secret() -> None:
    secret = _one("Secret")
    (variable,) = [e for e in _container()["env"] if e["name"] == "CPCOMPILE_API_TOKENS"]
    reference = variable["valueFrom"]["secretKeyRef"]
    assert reference["name"] == secret["metadata"]["name"]
    assert reference["key"] in secret["stringData"]


def test_the_service_and_the_probes_reach_the_port_the_settings_listen_on() -> None:
    settings = _settings()
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings["host"] == "0.0.0.0"  # reachable from the kubelet and the Service, not loopback only
    assert "certfile" not in settings  # plain HTTP: TLS ends at the load balancer
    (service_port,) = _one("Service")["spec"]["ports"]
    assert ports[service_port["targetPort"]] == settings["port"]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(_probes())
    for name, probe in _probes().items():
        get = probe["httpGet"]
        assert get.get("scheme", "HTTP") == "HTTP", name
        port = get["port"]
        assert (ports[port] if isinstance(port, str) else port) == settings["port"], name
    assert _probes()["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _probes()["livenessProbe"]["httpGet"]["path"] == "/livez"


def test_the_service_and_the_disruption_budget_select_the_deployments_pods() -> None:
    deployment = _one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert _one("Service")["spec"]["selector"].items() <= labels.items()
    assert _one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_pods_run_as_a_user_on_a_read_only_root() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    container = _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])


def _blocks(language: str) -> list[str]:
    """The ```LANGUAGE blocks of docs/deploy.md from "Running replicas" on."""
    text = (REPO_ROOT / "docs" / "deploy.md").read_text()
    text = text[text.index("\n## Running replicas\n"):]
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_docs_show_the_files_as_they_are() -> None:
    (settings,) = _blocks("toml")
    assert tomllib.loads(settings) == tomllib.loads(SETTINGS.read_text())
    (probes,) = _blocks("yaml")
    assert probes in KUBERNETES.read_text()
    (dockerfile,) = _blocks("dockerfile")
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", dockerfile, flags=re.M).group(1))
    command = json.loads(re.search(r"^CMD (.*)$", dockerfile, flags=re.M).group(1))
    container = _container()
    assert entrypoint + command == container["command"] + container["args"]
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, flags=re.M)
    assert user and int(user.group(1)) == _one("Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert f"EXPOSE {_settings()['port']}\n" in dockerfile


# -- a real replica with these settings -------------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict[str, Path]:
    """A signed build of the example config, published: a pointer as replicas follow it."""
    tmp = tmp_path_factory.mktemp("deploy")
    assert run("keygen", "--out", tmp).exit_code == 0
    config = copy_example(tmp / "config")
    built = run("build", config, "--out", tmp / "build", "--sign-key", tmp / "cpcompile.key", "--no-cache")
    assert built.exit_code == 0, built.output
    assert run("publish", tmp / "build", tmp / "site", "--public-key", tmp / "cpcompile.pub").exit_code == 0
    return {"tmp": tmp, "pointer": tmp / "site" / "current.json", "public_key": tmp / "cpcompile.pub"}


def _local(published: dict[str, Path], settings_file: Path, *extra: object, public_key: Path | None = None) -> list[object]:
    """`serve` ARGS with the settings file as it is, only the artifact, the store and the key
    made local to this machine."""
    return [
        "serve", "--settings", settings_file, published["pointer"], "--profiles", published["tmp"] / "profiles.sqlite3",
        "--public-key", public_key or published["public_key"], *extra,
    ]


def test_serve_check_accepts_the_configmaps_settings(published, tmp_path: Path) -> None:
    settings_file = tmp_path / "serve.toml"
    settings_file.write_text(_one("ConfigMap")["data"]["serve.toml"])
    result = run(*_local(published, settings_file, "--check"), env={"CPCOMPILE_API_TOKENS": TOKEN})
    assert result.exit_code == 0, result.output
    assert "http://0.0.0.0:8080" in result.output


def test_the_placeholders_stop_the_start_until_they_are_replaced(published, tmp_path: Path) -> None:
    placeholder_key = tmp_path / "cpcompile.pub"
    placeholder_key.write_text(_one("ConfigMap")["data"]["cpcompile.pub"])
    key = run(*_local(published, SETTINGS, "--check", public_key=placeholder_key), env={"CPCOMPILE_API_TOKENS": TOKEN})
    assert key.exit_code == 2, key.output
    assert "not a cpcompile public key" in key.output
    placeholder_tokens = _one("Secret")["stringData"]["CPCOMPILE_API_TOKENS"]
    tokens = run(*_local(published, SETTINGS, "--check"), env={"CPCOMPILE_API_TOKENS": placeholder_tokens})
    assert tokens.exit_code == 2, tokens.output
    assert "API tokens" in tokens.output


@pytest.fixture
def replica(published, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    arguments = [str(a) for a in _local(published, SETTINGS, "--host", "127.0.0.1", "--port", port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "cpcompile", *arguments],
        env={**os.environ, "CPCOMPILE_API_TOKENS": TOKEN}, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/livez", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the replica did not start:\n" + (tmp_path / "serve.log").read_text())
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_every_probe_of_the_manifest_answers_200_on_a_replica_run_with_its_settings(replica: str) -> None:
    paths = {name: probe["httpGet"]["path"] for name, probe in _probes().items()}
    assert len(paths) == 3
    for name, path in paths.items():
        # as the kubelet does: a probe may fail at first; it must pass within its own budget
        probe = _probes()[name]
        budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
        deadline = time.monotonic() + budget
        while (status := _status(replica + path)) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 200, f"{name} {path}: {status}"
    assert _status(replica + "/no-such-probe") == 404


# -- systemd ----------------------------------------------------------------------------------


def _verify_unit(unit: Path) -> list[str]:
    """What `systemd-analyze verify` says about ``unit``: its errors and its warnings (an unknown
    key is only a warning, and exits 0)."""
    tool = _required_tool("systemd-analyze", "Debian: apt-get install systemd")
    result = subprocess.run(
        [tool, "verify", "--man=no", str(unit)], capture_output=True, text=True, cwd=unit.parent, timeout=60,
    )
    said = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    if result.returncode != 0:
        said.append(f"exit {result.returncode}: {result.stderr.strip()}")
    return said


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The unit as installed here: ExecStart naming this environment's real cpcompile."""
    cpcompile = Path(sys.executable).parent / "cpcompile"
    assert os.access(cpcompile, os.X_OK), cpcompile
    text = UNIT.read_text()
    assert f"ExecStart={UNIT_EXEC} serve --settings /etc/cpcompile/serve.toml\n" in text
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(UNIT_EXEC, str(cpcompile)))
    return unit


def test_the_systemd_unit_passes_systemd_analyze_verify(unit_copy: Path) -> None:
    assert _verify_unit(unit_copy) == []
    # and the check sees a mistake that systemd only warns about
    unit_copy.write_text(unit_copy.read_text().replace("PrivateTmp=yes", "PrivateTemp=yes"))
    assert any("PrivateTemp" in line for line in _verify_unit(unit_copy))


def test_the_systemd_unit_is_sandboxed(unit_copy: Path) -> None:
    tool = _required_tool("systemd-analyze", "Debian: apt-get install systemd")
    # exposure 0 (locked down) to 10 (unprotected), in tenths: at most 2.0, "OK"
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--threshold=20", str(unit_copy)],
        capture_output=True, text=True, cwd=unit_copy.parent, timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    lines = [line.partition("=") for line in UNIT.read_text().splitlines() if "=" in line and not line.startswith("#")]
    settings = {key: value for key, _, value in lines}
    assert settings["DynamicUser"] == "yes" and settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict" and settings["PrivateTmp"] == "yes"
    assert settings["Restart"] == "on-failure" and settings["RestartPreventExitStatus"] == "2"
    assert settings["EnvironmentFile"] == "/etc/cpcompile/tokens.env"
