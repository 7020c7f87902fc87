"""The Coveo regions the bot knows: their names and platform hosts (coveo/platform-client,
src/Endpoints.ts), and the one-region token variable."""

from __future__ import annotations

REGION_URLS: dict[str, str] = {
    "us": "https://platform.cloud.coveo.com",
    "eu": "https://platform-eu.cloud.coveo.com",
    "au": "https://platform-au.cloud.coveo.com",
    "ca": "https://platform-ca.cloud.coveo.com",
    "hipaa": "https://platformhipaa.cloud.coveo.com",
}


REGIONS = tuple(REGION_URLS)


# The one-region form's token variable, named in "rotate …" answers.
SINGLE_TOKEN_VARIABLE = "COVEO_ACCESS_TOKEN"  # noqa: S105 - a variable's name, not a secret
