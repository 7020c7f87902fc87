"""A real install: the sdist and the wheel hold every module, and the wheel installed with the
locked requirements into a fresh venv runs `apikeyid lookup` and `apikeyid` (serving) from a
directory outside the repository: no checkout, no PYTHONPATH, no editable install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import ROOT, SIGNING_SECRET, free_port, new_org, sign
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, api_key
from tests.fakes.slack import BOT_TOKEN, FakeSlack


def tracked(prefix: str = ".") -> set[str]:
    """The project's files as a fresh clone has them (and new ones not yet committed); outside a
    git checkout (say, an unpacked sdist), the files of the folders the package and tests live in."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "--cached", "--others", "--exclude-standard", prefix],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    else:
        folders = ("bot", "tests", "slack") if prefix == "." else (prefix,)
        listed = [
            str(path.relative_to(ROOT))
            for folder in folders
            for path in (ROOT / folder).rglob("*")
            if "__pycache__" not in path.parts
        ]
        listed += [p.name for p in ROOT.iterdir() if p.is_file()] if prefix == "." else []
    return {path for path in listed if (ROOT / path).is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist built from a clean copy of the project (no build/ or egg-info left by an editable
    install), and the wheel built from that sdist as `python -m build` does, so a file the sdist
    forgets is missing from the wheel too."""
    clean = tmp_path_factory.mktemp("clone")
    for path in tracked():
        (clean / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, clean / path)
    out = tmp_path_factory.mktemp("dist")
    code = (
        "import sys; from setuptools import build_meta as b; "
        "print(b.build_sdist(sys.argv[1]) if sys.argv[2] == 'sdist' else b.build_wheel(sys.argv[1]))"
    )
    sdist_name = subprocess.run(
        [sys.executable, "-c", code, str(out), "sdist"], cwd=clean, capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    sdist = out / sdist_name
    with tarfile.open(sdist) as archive:
        archive.extractall(out, filter="data")
    unpacked = out / sdist_name.removesuffix(".tar.gz")
    wheel_name = subprocess.run(
        [sys.executable, "-c", code, str(out), "wheel"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    return sdist, out / wheel_name


def test_wheel_holds_every_module_and_bot_is_a_regular_package(built: tuple[Path, Path]) -> None:
    _, wheel = built
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path for path in tracked("bot") if path.endswith(".py")}
    assert modules - names == set()
    assert "bot/serving/listeners/actions.py" in names and "bot/replies/messages.py" in names
    # A regular package: no bot.py or bot/ earlier on sys.path can silently stand in for it.
    packages = {str(Path(path).parent) for path in modules}
    assert {f"{p}/__init__.py" for p in packages} <= names


def test_sdist_holds_every_module_and_what_the_tests_need(built: tuple[Path, Path]) -> None:
    sdist, _ = built
    with tarfile.open(sdist) as archive:
        top = sdist.name.removesuffix(".tar.gz") + "/"
        names = {name.removeprefix(top) for name in archive.getnames()}
    wanted = tracked("bot") | tracked("tests") | tracked("slack")
    wanted |= {"pyproject.toml", "requirements.txt", "requirements-dev.txt", ".env.example", "README.md"}
    assert wanted - names == set()


@pytest.fixture(scope="module")
def venv(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the locked requirements (hash-checked) and the wheel, nothing else."""
    _, wheel = built
    home = tmp_path_factory.mktemp("venv")
    # No pip inside it: the test's own pip installs into it (--python), which saves seconds.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = home / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-input"]
    subprocess.run([*pip, "--require-hashes", "-r", str(ROOT / "requirements.txt")], check=True, timeout=600)
    # The project itself has no hash in the lock: a second call, without dependencies (all locked above).
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=300)
    return home


def outside(tmp_path: Path) -> Path:
    """A working directory with no path to the checkout (an empty .env-less folder)."""
    assert ROOT not in tmp_path.parents
    return tmp_path


def run(venv: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "apikeyid"), *args],
        env={"PATH": "/usr/bin:/bin", **env},  # no PYTHONPATH: the install alone must do
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_installed_lookup_runs_outside_the_repository(
    venv: Path, fake_coveo: FakeCoveo, tmp_path: Path
) -> None:
    org = new_org()
    key = api_key("Installed key")
    fake_coveo.add_org(org, [key])
    env = {"COVEO_ACCESS_TOKEN": GOOD_TOKEN, "COVEO_PLATFORM_URL": fake_coveo.url}
    done = run(venv, ["lookup", org, "Installed key"], env, outside(tmp_path))
    assert done.returncode == 0, done.stderr
    assert key["id"] in done.stdout
    version = run(venv, ["--version"], {}, tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "apikeyid 0.1.0"
    bare = run(venv, ["lookup"], {}, tmp_path)
    assert bare.returncode == 2 and "optional" in bare.stderr and "apikeyid lookup" in bare.stderr


@pytest.fixture
def served(venv: Path, fake_coveo: FakeCoveo, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "COVEO_ACCESS_TOKEN": GOOD_TOKEN,
        "COVEO_PLATFORM_URL": fake_coveo.url,
        "APIKEYID_ALLOWED_USERS": "U0ALLOWED",
        "APIKEYID_SHUTDOWN_DELAY": "0",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
    }
    log = (tmp_path / "bot.log").open("wb")
    process = subprocess.Popen(
        [str(venv / "bin" / "apikeyid")], cwd=outside(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 20
    while time.monotonic() < end and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        code = process.wait(15)
        log.close()
        assert code == 0, (tmp_path / "bot.log").read_text()


def test_installed_command_serves_slack_outside_the_repository(
    served: str, fake_coveo: FakeCoveo, fake_slack: FakeSlack
) -> None:
    org = new_org()
    key = api_key("Served key")
    fake_coveo.add_org(org, [key])
    body = urlencode(
        {
            "team_id": "T0001",
            "user_id": "U0ALLOWED",
            "channel_id": "C0SUPPORT",
            "command": "/apikeyid",
            "text": f"{org} Served key",
            "response_url": fake_slack.new_response_url(),
            "trigger_id": "1.2.3",
        }
    )
    answer = httpx.post(
        f"{served}/slack/events", content=body, headers=sign(body), trust_env=False, timeout=10
    )
    assert answer.status_code == 200
    text = answer.text
    if "Looking up" in text:  # the answer followed on response_url
        text = str(
            fake_slack.wait_for_answers(dict(p.split("=", 1) for p in body.split("&"))["response_url"])
        )
    assert key["id"] in text


def test_dotenv_is_read_from_the_current_directory_only(tmp_path: Path) -> None:
    # A parent folder's .env (another project's) must not configure the bot.
    (tmp_path / ".env").write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\n", encoding="utf-8")
    child = tmp_path / "child"
    child.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    started = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=child, env=env, capture_output=True, text=True, timeout=30
    )
    assert started.returncode == 2 and "SLACK_BOT_TOKEN" in started.stderr
    assert "Makefile" not in started.stderr
    # The current directory's own .env is read.
    (child / ".env").write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\n", encoding="utf-8")
    started = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=child, env=env, capture_output=True, text=True, timeout=30
    )
    assert started.returncode == 2 and "SLACK_BOT_TOKEN" not in started.stderr.split("problems.", 1)[1]
