"""packaging/compose.yaml, parsed with PyYAML and checked: the services, their environment (every variable
documented in compose.env.example, no password on a command line), the `weavegraph` commands against the
real CLI parser, the order of start-up, the stop grace, and the Prometheus and Docker files it uses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import build_parser

PACKAGING = Path(__file__).resolve().parents[3] / "packaging"
WEAVEGRAPH_SERVICES = {"migrate", "worker-1", "worker-2"}

PENDING_COMMANDS: set[str] = set()
"""Subcommands the CLI does not have yet (none since the queue's `worker` landed): every compose command
line is parsed by the real parser (a typo there fails this test)."""

_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def load(name: str) -> Any:
    return yaml.safe_load((PACKAGING / name).read_text(encoding="utf-8"))


def example_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in (PACKAGING / "compose.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def referenced(value: Any) -> set[str]:
    """Every ${VAR} a compose value (nested) refers to (`$${...}` is a literal for the container's shell)."""
    if isinstance(value, dict):
        return set().union(*(referenced(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {m["name"] for m in _VAR.finditer(value.replace("$$", ""))}
    return set()


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's substitution: ${VAR}, ${VAR:-default}, ${VAR:?error} (error when unset or empty)."""

    def one(m: re.Match[str]) -> str:
        value = env.get(m["name"], "")
        if m["op"] == ":?" and not value:
            raise AssertionError(f"${{{m['name']}}} is required: {m['arg']}")
        if m["op"] == ":-" and not value:
            return m["arg"]
        return value

    return _VAR.sub(one, text)


@pytest.fixture(scope="module")
def compose() -> Any:
    return load("compose.yaml")


def test_services_and_profiles(compose: Any) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "worker-1", "worker-2", "jaeger", "prometheus"}
    assert services["jaeger"]["profiles"] == ["tracing"]
    assert services["prometheus"]["profiles"] == ["metrics"]
    for name in ("postgres", *WEAVEGRAPH_SERVICES):
        assert "profiles" not in services[name], name
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pgdata" in compose["volumes"]


def test_start_order_and_stop_grace(compose: Any) -> None:
    services = compose["services"]
    assert services["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    env = example_env()
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert worker["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert worker["restart"] == "unless-stopped"
        assert worker["stop_signal"] == "SIGTERM"
        command = [interpolate(str(part), env) for part in worker["command"]]
        grace = float(command[command.index("--grace-s") + 1])
        assert grace + 5 <= float(worker["stop_grace_period"].removesuffix("s"))


def test_environment_is_documented_and_keeps_the_password_off_command_lines(compose: Any) -> None:
    env = example_env()
    used = referenced(compose)
    assert used <= set(env), f"not in compose.env.example: {sorted(used - set(env))}"
    services = compose["services"]
    for name in WEAVEGRAPH_SERVICES:
        environment = services[name]["environment"]
        assert environment["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")
        for key in (
            "OTEL_SERVICE_NAME",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_TRACES_EXPORTER",
            "OTEL_SDK_DISABLED",
        ):
            assert key in environment, (name, key)
        for part in services[name]["command"]:
            assert "POSTGRES_PASSWORD" not in str(part)
            assert not re.search(r"postgresql://[^@/]*:[^@/]*@", interpolate(str(part), env)), part
    assert services["worker-1"]["environment"]["OTEL_RESOURCE_ATTRIBUTES"] == "service.instance.id=worker-1"
    assert services["worker-2"]["environment"]["OTEL_RESOURCE_ATTRIBUTES"] == "service.instance.id=worker-2"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    # The example's commented-out endpoint is the bundled Jaeger's OTLP/HTTP port.
    assert (
        "# OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318" in (PACKAGING / "compose.env.example").read_text()
    )
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD"):
        interpolate(services["migrate"]["environment"]["PGPASSWORD"], {})


def test_commands_exist_in_the_cli(compose: Any) -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    known = set(subparsers.choices)  # type: ignore[attr-defined]
    env = example_env()
    checked = 0
    for name in WEAVEGRAPH_SERVICES:
        command = [interpolate(str(part), env) for part in compose["services"][name]["command"]]
        assert command[0] == "weavegraph", name
        sub = command[1]
        if sub not in known:
            assert sub in PENDING_COMMANDS, f"{name}: weavegraph has no command {sub!r}"
            continue
        try:
            parser.parse_args(command[1:])
        except SystemExit as exc:
            raise AssertionError(f"{name}: `{' '.join(command)}` is not a valid command line") from exc
        checked += 1
    # The options the workers use exist today on `run` (and `worker` is expected to take the same ones).
    args = parser.parse_args(["run", "x.wgraph.json", "--metrics-port", "9464", "--grace-s", "25"])
    assert (args.metrics_port, args.grace_s) == (9464, 25.0)
    assert checked == len(WEAVEGRAPH_SERVICES) - sum(
        1 for n in WEAVEGRAPH_SERVICES if compose["services"][n]["command"][1] in PENDING_COMMANDS - known
    )


def test_prometheus_scrapes_both_workers_metrics_port(compose: Any) -> None:
    config = load("prometheus.yml")
    (job,) = config["scrape_configs"]
    targets = job["static_configs"][0]["targets"]
    ports = set()
    for name in ("worker-1", "worker-2"):
        command = compose["services"][name]["command"]
        ports.add(command[command.index("--metrics-port") + 1])
    assert len(ports) == 1
    assert sorted(targets) == [f"worker-1:{next(iter(ports))}", f"worker-2:{next(iter(ports))}"]
    mount = compose["services"]["prometheus"]["volumes"][0]
    assert mount.split(":")[0] == "./prometheus.yml"


def test_the_image_installs_what_the_services_need(compose: Any) -> None:
    build = compose["services"]["migrate"]["build"]
    assert (PACKAGING / build["context"] / build["dockerfile"]).resolve() == (
        PACKAGING / "Dockerfile"
    ).resolve()
    dockerfile = (PACKAGING / "Dockerfile").read_text(encoding="utf-8")
    assert 'pip install ".[postgres,otel,metrics]"' in dockerfile
    root = (PACKAGING / build["context"]).resolve()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source
    ignore = (PACKAGING / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!engine/" in ignore and "!pyproject.toml" in ignore
