"""Running it as a service: secrets from files, the console script, the deployment files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

from tests.conftest import ROOT, SIGNING_SECRET, BotProcess, message_text, new_org
from tests.fakes.coveo import GOOD_TOKEN, FakeCoveo, api_key
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack


def secret_files(folder: Path, **secrets: str) -> dict[str, str]:
    """Each secret in its own file, ending with newlines as `echo` or an editor leaves them;
    the plain variable set empty, so only the `_FILE` form can work."""
    env = {}
    for name, value in secrets.items():
        path = folder / name.lower()
        path.write_text(value + "\n\n", encoding="utf-8")
        env[name] = ""
        env[f"{name}_FILE"] = str(path)
    return env


def assert_no_writable_executable_memory_users(bot: BotProcess) -> None:
    """deploy/apikeyid.service sets MemoryDenyWriteExecute=yes. CPython has no JIT, so what would
    break it is libffi closures, made by ctypes or cffi callbacks: none may be loaded once the bot has worked."""
    assert bot.process is not None
    maps = Path(f"/proc/{bot.process.pid}/maps")
    if not maps.exists():
        return  # not Linux: systemd is not there either
    loaded = {line.rsplit("/", 1)[-1] for line in maps.read_text().splitlines() if "/" in line}
    assert not [name for name in loaded if name.startswith(("_ctypes", "_cffi_backend", "libffi"))], loaded


def test_http_mode_with_every_secret_from_files(start_bot, fake_coveo: FakeCoveo, tmp_path: Path) -> None:
    bot = start_bot(
        **secret_files(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            COVEO_ACCESS_TOKEN=GOOD_TOKEN,
        )
    )
    assert "SLACK_BOT_TOKEN" in bot.env and bot.env["SLACK_BOT_TOKEN"] == ""
    # The fake Slack accepts only the exact bot token: a stray newline would leave auth cold.
    assert bot.wait_for_health("slack_auth_warm")["slack_auth_warm"] is True
    org = new_org()
    key = api_key("from files")
    fake_coveo.add_org(org, [key])
    # The command is signed with SIGNING_SECRET and Coveo accepts only GOOD_TOKEN: both came from files.
    assert key["id"] in message_text(bot.ask(f"{org} from files"))
    assert_no_writable_executable_memory_users(bot)
    assert bot.stop() == 0


def test_socket_mode_with_every_secret_from_files(
    start_bot, fake_coveo: FakeCoveo, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    bot = start_bot(
        SLACK_SIGNING_SECRET="",
        **secret_files(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            COVEO_ACCESS_TOKEN=GOOD_TOKEN,
        ),
    )
    health = bot.wait_for_health("socket_connected")
    assert health["mode"] == "socket" and health["socket_connected"] is True
    org = new_org()
    key = api_key("over the socket from files")
    fake_coveo.add_org(org, [key])
    body, _response_url = bot.command_body(f"{org} over the socket from files")
    envelope = fake_slack.send_slash_command(dict(parse_qsl(body)))
    assert key["id"] in message_text(fake_slack.wait_for_envelope(envelope)["payload"])
    assert_no_writable_executable_memory_users(bot)
    assert bot.stop() == 0


# `make install` puts the console script beside the interpreter that runs the tests.
CONSOLE_SCRIPT = Path(sys.executable).with_name("apikeyid")


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH: the console script must find the bot through the install alone.
    return subprocess.run(
        command,
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_console_script_answers_like_python_m_bot(fake_coveo: FakeCoveo, tmp_path: Path) -> None:
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT} is missing: `make install` installs the project"
    org = new_org()
    key = api_key("Console key")
    fake_coveo.add_org(org, [key, api_key("Other key")])
    env = {"COVEO_ACCESS_TOKEN": GOOD_TOKEN, "COVEO_PLATFORM_URL": fake_coveo.url}
    for args in (
        ["lookup", org, "console", "key"],
        ["lookup", "--json", org, "Console key"],
        ["lookup", org, "nope"],
    ):
        script = run([str(CONSOLE_SCRIPT), *args], env, tmp_path)
        module = run([sys.executable, "-m", "bot", *args], {**env, "PYTHONPATH": str(ROOT)}, tmp_path)
        assert (script.returncode, script.stdout) == (module.returncode, module.stdout), script.stderr
        assert script.stdout.strip()
    assert key["id"] in run([str(CONSOLE_SCRIPT), "lookup", org, "Console key"], env, tmp_path).stdout


def test_console_script_exit_code_and_help_name(tmp_path: Path) -> None:
    # main()'s return value is the exit code: 2 for a configuration problem, as with python -m bot.
    empty = run([str(CONSOLE_SCRIPT)], {}, tmp_path)
    assert empty.returncode == 2 and "SLACK_BOT_TOKEN" in empty.stderr
    script_help = run([str(CONSOLE_SCRIPT), "lookup", "--help"], {}, tmp_path)
    assert script_help.returncode == 0 and script_help.stdout.startswith("usage: apikeyid lookup ")
    module_help = run([sys.executable, "-m", "bot", "--help"], {"PYTHONPATH": str(ROOT)}, tmp_path)
    assert module_help.returncode == 0 and module_help.stdout.startswith("usage: python -m bot ")
