"""docker-compose.yml without a Docker engine: the file is valid and its services fit together.

``docker compose config`` (or the older ``docker-compose config``) validates the file when one of
them is installed — neither needs the engine; the structural checks below run everywhere:
Odoo as the image's user ``odoo``, the bridge's key handed over by the one-shot ``bridge-init``
through a named volume (never a file of the repository), and the bridge's environment, as
compose gives it, accepted by the bridge's own configuration loader.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from whatsapp_bridge.config import load_config, parse_env_file

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's ``${VAR:-default}`` with an empty .env (or ``env``)."""
    env = env or {}
    return INTERPOLATION.sub(lambda match: env.get(match.group(1)) or match.group(2) or "", value)


def compose_cli() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_config_accepts_the_file():
    cli = compose_cli()
    # without either CLI on this machine the structural tests of this module are the check
    if cli is not None:
        done = subprocess.run([*cli, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                              cwd=ROOT, check=False)
        assert done.returncode == 0, f"{' '.join(cli)} config: {done.stderr}"
    assert yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def test_every_build_has_its_dockerfile(services):
    for name, service in services.items():
        if "build" in service:
            dockerfile = ROOT / service["build"].get("context", ".") / service["build"]["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"


def test_odoo_runs_as_its_own_user_and_installs_or_upgrades(services):
    odoo = services["odoo"]
    assert odoo["user"] == "odoo"
    dockerfile = (ROOT / odoo["build"]["dockerfile"]).read_text(encoding="utf-8")
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users[-1] == "odoo", "the image ends as the user odoo"
    assert odoo["command"] == ["/opt/whatsapp/odoo-start.sh"]
    start = (ROOT / "docker" / "odoo-start.sh").read_text(encoding="utf-8")
    assert "-u whatsapp_attendance" in start and "-i whatsapp_attendance" in start
    assert "odoo-start.sh" in dockerfile and "bridge_init.py" in dockerfile
    assert "healthcheck" in odoo


def test_the_bridge_gets_its_key_from_bridge_init_through_a_volume(services):
    init, bridge = services["bridge-init"], services["bridge"]
    assert bridge["depends_on"]["bridge-init"]["condition"] == "service_completed_successfully"
    assert init["depends_on"]["odoo"]["condition"] == "service_healthy"
    out = init["command"][init["command"].index("--out") + 1]
    env_file = bridge["command"][bridge["command"].index("--env-file") + 1]
    assert out == env_file
    init_volume, bridge_volume = init["volumes"][0].split(":"), bridge["volumes"][0].split(":")
    assert init_volume[0] == bridge_volume[0] and init_volume[0] in yaml.safe_load(COMPOSE.read_text())["volumes"], \
        "a named volume, not a folder of the repository"
    assert str(Path(out).parent) == init_volume[1] == bridge_volume[1]
    assert bridge_volume[2:] == ["ro"]
    assert "WA_ODOO_API_KEY" not in bridge.get("environment", {}), "the environment would override the key's file"


def test_the_bridge_environment_loads_in_demo_and_with_a_real_number(services, tmp_path):
    bridge = services["bridge"]
    key_file = tmp_path / "bridge.env"
    key_file.write_text("WA_ODOO_DB=whatsapp\nWA_ODOO_LOGIN=whatsapp-bridge\nWA_ODOO_API_KEY=" + "a" * 40 + "\n")
    demo_env = {name: interpolate(str(value)) for name, value in bridge["environment"].items()}
    config = load_config(environ=demo_env, env_file=key_file)
    assert config.demo and config.odoo_url == "http://odoo:8069" and config.graph_base_url == "http://simulator:8899"
    assert config.host == "0.0.0.0" and config.odoo_api_key == "a" * 40

    example = parse_env_file(ROOT / ".env.example")
    for name in ("WA_ACCESS_TOKEN", "WA_APP_SECRET", "WA_VERIFY_TOKEN", "WA_PHONE_NUMBER_ID"):
        assert name in example, f".env.example documents {name}"
    real = {"WA_ACCESS_TOKEN": "EAA" + "x" * 40, "WA_APP_SECRET": "f" * 32, "WA_VERIFY_TOKEN": "my-token",
            "WA_PHONE_NUMBER_ID": "123456789", "WA_GRAPH_BASE_URL": "https://graph.facebook.com"}
    real_env = {name: interpolate(str(value), real) for name, value in bridge["environment"].items()}
    config = load_config(environ=real_env, env_file=key_file)
    assert not config.demo and config.phone_number_id == "123456789"


def test_env_example_documents_every_variable_compose_reads():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?(\w+)=", example, re.MULTILINE))
    used = set(INTERPOLATION.findall(COMPOSE.read_text(encoding="utf-8")))
    missing = {name for name, _ in used} - documented
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_the_scale_profile_runs_two_bridge_shards_with_distinct_indexes(services, tmp_path):
    """``WA_INBOUND_SHARDS=2 WA_SHARD_INDEX=0 docker compose --profile scale up``: two bridge processes, one
    shard each, together serving every shard, one WhatsApp Web session; without the profile, one bridge."""
    key_file = tmp_path / "bridge.env"
    key_file.write_text("WA_ODOO_DB=whatsapp\nWA_ODOO_LOGIN=whatsapp-bridge\nWA_ODOO_API_KEY=" + "a" * 40 + "\n")
    scaled = {name: s for name, s in services.items() if "scale" in s.get("profiles", [])}
    assert list(scaled) == ["bridge-shard1"]
    default = [name for name, s in services.items() if not s.get("profiles") and "whatsapp_bridge" in str(
        s.get("command")) and "all" in s.get("command", [])]
    assert default == ["bridge"]
    env = {"WA_INBOUND_SHARDS": "2", "WA_SHARD_INDEX": "0"}
    configs = {}
    for name in ("bridge", "bridge-shard1"):
        service = services[name]
        environ = {k: interpolate(str(v), env) for k, v in service["environment"].items()}
        configs[name] = load_config(environ=environ, env_file=key_file)
        assert service["command"][-2:] == ["--env-file", "/run/wa/bridge.env"]
    assert {c.inbound_shards for c in configs.values()} == {2}
    assert [configs[n].served_shards for n in ("bridge", "bridge-shard1")] == [(0,), (1,)]
    assert [c.session_child for c in configs.values()] == [True, False], "one WhatsApp Web session process"
    assert services["bridge-shard1"]["ports"] != services["bridge"]["ports"]
    # one bridge alone (no profile): one shard, served by it
    single = load_config(environ={k: interpolate(str(v)) for k, v in services["bridge"]["environment"].items()},
                         env_file=key_file)
    assert single.inbound_shards == 1 and single.served_shards == (0,)


def test_redis_keeps_the_streams_on_disk(services):
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in services["redis"]["volumes"]
