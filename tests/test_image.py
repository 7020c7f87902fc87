"""The Dockerfile's image, built and run for real with Podman (or Docker): it answers a signed
command through the fakes on the host, serves its probes, runs as a non-root PID 1 with no dev
tools inside, and stops cleanly on SIGTERM within the Deployment's grace period.

Skipped, with the reason, where neither `podman` nor a working `docker` is installed. Run alone
with `make image-test` (`make test` runs it too).

The base image: `APIKEYID_BASE_IMAGE` when set; otherwise, where `debootstrap` is installed, a
local Debian 12 with Python 3.11 (`localhost/apikeyid-base:bookworm`, made once with
`debootstrap --variant=minbase` and `podman import`, then reused from the engine's store), since
the machines this runs on reach no image registry; otherwise the Dockerfile's default (the
official Python image, pulled). A CA bundle (`APIKEYID_BUILD_CA`, or the system's) is handed to
the build as the `ca` secret, for networks whose TLS is inspected; proxy variables as build
arguments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ALLOWED_USER, BotProcess, free_port, message_text, new_org
from tests.fakes.coveo import EU_TOKEN, GOOD_TOKEN, FakeCoveo, api_key
from tests.fakes.slack import BOT_TOKEN, FakeSlack

ROOT = Path(__file__).resolve().parent.parent
TAG = "localhost/apikeyid:test"
LOCAL_BASE = "localhost/apikeyid-base:bookworm"
DEBIAN_MIRROR = os.environ.get("APIKEYID_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")
# The limits the engine sets explicitly: some hosts' defaults are refused by the runtime.
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
DEPLOYMENT = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text(encoding="utf-8"))
GRACE = float(DEPLOYMENT["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])
SECRETS_DIR = "/run/secrets/apikeyid"
DEV_TOOLS = ("pip", "setuptools", "wheel", "pytest", "mypy", "ruff", "uv", "hypothesis", "hadolint")


def find_engine() -> tuple[list[str], str]:
    """The engine's command prefix, or ([], why there is none)."""
    podman, runc, docker = shutil.which("podman"), shutil.which("runc"), shutil.which("docker")
    if podman:
        # Debian's default runtime (crun) refuses some hosts' cgroup setup; runc works everywhere.
        return ([podman, "--runtime", "runc"] if runc else [podman]), ""
    if docker:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30, check=False)
        if info.returncode == 0:
            return [docker], ""
        return (
            [],
            "docker is installed but its daemon does not answer (`docker info` failed); podman is not installed",
        )
    return [], "neither podman nor docker is installed (Debian: apt-get install podman runc debootstrap)"


ENGINE, NO_ENGINE = find_engine()
pytestmark = pytest.mark.skipif(not ENGINE, reason=NO_ENGINE)


def engine(
    *args: str, timeout: float = 60, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*ENGINE, *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def base_image() -> str | None:
    """The BASE_IMAGE build argument, or None for the Dockerfile's default."""
    if os.environ.get("APIKEYID_BASE_IMAGE"):
        return os.environ["APIKEYID_BASE_IMAGE"]
    if engine("image", "inspect", LOCAL_BASE, check=False).returncode == 0:
        return LOCAL_BASE  # made by an earlier run: reused
    debootstrap, tar_command = shutil.which("debootstrap"), shutil.which("tar")
    if not debootstrap or not tar_command:
        return None
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="apikeyid-base-", dir="/var/tmp") as work:
        root = Path(work) / "root"
        subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(root),
                DEBIAN_MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / cache).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen([tar_command, "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        engine("import", "-", LOCAL_BASE, stdin=tar.stdout, timeout=600)
        assert tar.wait() == 0
    print(f"\nbase image {LOCAL_BASE}: made in {time.monotonic() - started:.0f} s (debootstrap)")
    return LOCAL_BASE


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from the Dockerfile (layers cached between runs by the engine)."""
    build = ["build", *ULIMITS, "--build-arg", f"VERSION={VERSION}", "-t", TAG, "-f", "Dockerfile"]
    base = base_image()
    if base:
        build += ["--build-arg", f"BASE_IMAGE={base}"]
    ca = Path(os.environ.get("APIKEYID_BUILD_CA", SYSTEM_CA))
    if ca.is_file():
        build += ["--secret", f"id=ca,src={ca}"]
    for name in PROXY_VARIABLES:
        if os.environ.get(name):
            build += ["--build-arg", f"{name}={os.environ[name]}"]
    started = time.monotonic()
    engine(*build, ".", timeout=1800, cwd=ROOT, env=os.environ | {"DOCKER_BUILDKIT": "1"})
    seconds = time.monotonic() - started
    size = int(engine("image", "inspect", "--format", "{{.Size}}", TAG).stdout.strip())
    print(f"\nimage {TAG} on {base or 'the default base'}: {size / 1e6:.0f} MB, built in {seconds:.1f} s")
    return TAG


class ContainerBot(BotProcess):
    """The image running with the fakes on the host (host network: they listen on 127.0.0.1),
    locked down as deploy/kubernetes/deployment.yaml runs it, its secrets mounted as files."""

    def __init__(self, image: str, us: FakeCoveo, eu: FakeCoveo, slack: FakeSlack) -> None:
        super().__init__(us, slack)
        self.image = image
        self.name = f"apikeyid-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        secrets = self.workdir / "secrets"
        secrets.mkdir()
        for key, value in {
            "slack-bot-token": BOT_TOKEN,
            "slack-signing-secret": self.env["SLACK_SIGNING_SECRET"],
            "coveo-us": GOOD_TOKEN,
            "coveo-eu": EU_TOKEN,
        }.items():
            (secrets / key).write_text(value + "\n", encoding="utf-8")
            (secrets / key).chmod(0o444)  # the container's user is not the file's owner
        secrets.chmod(0o755)
        self.secrets = secrets
        self.container_env = {
            "SLACK_BOT_TOKEN_FILE": f"{SECRETS_DIR}/slack-bot-token",
            "SLACK_SIGNING_SECRET_FILE": f"{SECRETS_DIR}/slack-signing-secret",
            "COVEO_ACCESS_TOKEN_US_FILE": f"{SECRETS_DIR}/coveo-us",
            "COVEO_ACCESS_TOKEN_EU_FILE": f"{SECRETS_DIR}/coveo-eu",
            "COVEO_PLATFORM_URL_US": us.url,
            "COVEO_PLATFORM_URL_EU": eu.url,
            "SLACK_API_URL": slack.api_url,
            "APIKEYID_ALLOWED_USERS": ALLOWED_USER,
            "APIKEYID_RATE_LIMIT": "10000",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }

    def start(self) -> ContainerBot:
        options = [
            "run",
            "--detach",
            "--name",
            self.name,
            "--network",
            "host",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            *ULIMITS,
            "--volume",
            f"{self.secrets}:{SECRETS_DIR}:ro",
        ]
        for name, value in self.container_env.items():
            options += ["--env", f"{name}={value}"]
        engine(*options, self.image)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if not self.state()["Running"]:
                raise RuntimeError(f"the container exited ({self.state()['ExitCode']}):\n{self.logs()}")
            try:
                if self.client.get(f"{self.url}/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the container did not serve /healthz:\n{self.logs()}")

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(engine("inspect", "--format", "{{json .State}}", self.name).stdout)
        return state

    def logs(self) -> str:
        result = engine("logs", self.name, check=False)
        return result.stdout + result.stderr

    def stop(self, sig: int = 15, timeout: float = GRACE) -> int:
        """`podman stop`: the image's STOPSIGNAL (SIGTERM), then SIGKILL after `timeout` s."""
        engine("stop", "--time", str(int(timeout)), self.name, timeout=timeout + 30)
        code = int(self.state()["ExitCode"])
        self.log_path.write_text(self.logs(), encoding="utf-8")  # for the suite's no-secret check
        self.client.close()
        return code

    def remove(self) -> None:
        engine("rm", "--force", self.name, check=False)


@pytest.fixture
def container(
    image: str, fake_coveo: FakeCoveo, fake_coveo_eu: FakeCoveo, fake_slack: FakeSlack
) -> Iterator[ContainerBot]:
    bot = ContainerBot(image, fake_coveo, fake_coveo_eu, fake_slack)
    try:
        yield bot.start()
    finally:
        bot.remove()


def test_the_image_answers_a_signed_command_and_stops_cleanly(
    container: ContainerBot, fake_coveo_eu: FakeCoveo
) -> None:
    health = container.client.get(f"{container.url}/healthz")
    assert health.status_code == 200
    assert health.json()["regions"] == ["us", "eu"]  # both tokens read from the mounted files
    ready = container.wait_for_health("slack_auth_warm")
    assert ready["slack_auth_warm"], ready
    readiness = container.client.get(f"{container.url}/readyz")
    assert readiness.status_code == 200 and readiness.json()["ready"] is True, readiness.text

    # A key in an EU org: found through the EU region, with the EU token from its file.
    org = new_org()
    key = api_key("Image test key")
    fake_coveo_eu.add_org(org, [key, api_key("Other key")])
    answer = container.ask(f"{org} Image test key")
    assert f"`{key['id']}`" in message_text(answer)

    # PID 1 of the container is the bot, running as the Dockerfile's numeric, non-root user.
    pid = int(container.state()["Pid"])
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert set(uids) == {"10001"}, status
    assert b"apikeyid" in Path(f"/proc/{pid}/cmdline").read_bytes()

    started = time.monotonic()
    code = container.stop()
    seconds = time.monotonic() - started
    logs = container.log_path.read_text(encoding="utf-8")
    assert code == 0, logs
    assert seconds < GRACE, f"stopping took {seconds:.1f} s, the grace period is {GRACE:.0f} s"
    events = [json.loads(line).get("event") for line in logs.splitlines() if line.startswith("{")]
    assert "shutdown" in events, logs  # it drained, rather than dying at the signal
    for secret in (BOT_TOKEN, GOOD_TOKEN, EU_TOKEN, container.env["SLACK_SIGNING_SECRET"]):
        assert secret not in logs
    print(f"\nstopped with exit code 0 in {seconds:.1f} s (grace period {GRACE:.0f} s)")


# Run inside the image by its own Python: what can be imported or found on PATH, by the venv's
# Python and by the base image's, and whether the build's CA secret was left behind.
INSPECT = f"""
import importlib.util, json, os, shutil, subprocess, sys
tools = {DEV_TOOLS!r}
base = os.path.join(sys.base_prefix, "bin", "python3")
probe = "import importlib.util, json; print(json.dumps([m for m in {DEV_TOOLS!r} if importlib.util.find_spec(m)]))"
print(json.dumps({{
    "modules": [m for m in tools if importlib.util.find_spec(m)],
    "base_modules": json.loads(subprocess.run([base, "-c", probe], capture_output=True, text=True, check=True).stdout),
    "on_path": [t for t in tools if shutil.which(t)],
    "ca_secret": os.path.exists("/run/secrets/ca"),
    "uid": os.getuid(),
    "bot": importlib.util.find_spec("bot.serving.listeners") is not None and importlib.util.find_spec("bot.replies") is not None,
}}))
"""


def test_the_image_runs_as_non_root_with_no_dev_tools(image: str) -> None:
    config = json.loads(engine("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["apikeyid"] and not config.get("Cmd")
    assert config["StopSignal"] == "SIGTERM"
    assert "3000/tcp" in config["ExposedPorts"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert config["Labels"]["org.opencontainers.image.source"].startswith("https://")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert not {name.upper() for name in env} & {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "PIP_CERT"}

    result = engine(
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        *ULIMITS,
        "--entrypoint",
        "python3",
        image,
        "-c",
        INSPECT,
    )
    found = json.loads(result.stdout)
    assert found["modules"] == [] and found["base_modules"] == [] and found["on_path"] == [], found
    assert found["ca_secret"] is False
    assert found["uid"] == 10001
    assert found["bot"] is True  # the wheel holds every subpackage


def test_a_configuration_error_exits_2_without_a_shell(image: str) -> None:
    """No secret given: the bot names what is missing and exits 2, the code the systemd unit
    does not restart on (RestartPreventExitStatus=2)."""
    result = engine("run", "--rm", "--network", "none", *ULIMITS, image, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "SLACK_BOT_TOKEN" in result.stdout + result.stderr
