"""apikeyid: a Slack bot that finds the id of a Coveo API key (`/apikeyid <org> <name>`)."""

from __future__ import annotations

import os
import sys


def program() -> str:
    """How the user started us, for help lines and advice: `apikeyid` when installed, else `python -m bot`."""
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    return "python -m bot" if name in ("__main__.py", "", "-c", "-m") or name.startswith("python") else name


def version() -> str:
    """The installed distribution's version (the wheel's, or the editable install's)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("apikeyid")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"
