# The bot as a container image. Podman and Docker both find this file by its name.
#
#   podman build -t apikeyid .            (or: docker build -t apikeyid .)
#   podman build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t apikeyid .
#       on a network that inspects TLS: pip trusts that CA bundle; it is never stored in the image
#   podman build --build-arg BASE_IMAGE=localhost/my-python:3.11 -t apikeyid .
#       another base: any image with Python 3.11 at `python3` and its `venv` module
#
# Running it: README.md, "In a container, on Kubernetes" (deploy/kubernetes/).
# Checked by hadolint (tests/test_deploy.py) and built, run and stopped by tests/test_image.py.

ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

# ---- build: the runtime dependencies and the bot's wheel, into a venv copied whole below ----
FROM ${BASE_IMAGE} AS build
# Proxy variables are build arguments (never ENV), so no layer of the image keeps them.
ARG HTTPS_PROXY
ARG HTTP_PROXY
ARG NO_PROXY
ARG https_proxy
ARG http_proxy
ARG no_proxy
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120
WORKDIR /src
# Each step copies only what it reads, so the layers of the dependencies are rebuilt only when
# their lock changes. The optional build secret `ca` (a CA bundle) is mounted for the RUNs that
# download, and for nothing else.
# The runtime dependencies, each download checked against its hash in requirements.txt.
COPY requirements.txt ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python3 -m venv /opt/apikeyid \
    && /opt/apikeyid/bin/pip install --require-hashes --no-deps -r requirements.txt
# A venv that builds the wheel, with the pinned setuptools (its hashed lines from requirements-dev.txt).
COPY requirements-dev.txt ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python3 -m venv /opt/build \
    && awk '/^setuptools==/ {p=1} p {print} p && !/\\$/ {exit}' requirements-dev.txt > /tmp/setuptools.txt \
    && /opt/build/bin/pip install --require-hashes --no-deps -r /tmp/setuptools.txt
# The bot from its wheel, without its dependencies (installed above, pinned); then pip and
# setuptools leave the venv: nothing installs anything at run time. The import (-I: not from
# /src) fails the build when the wheel misses a module.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && /opt/apikeyid/bin/pip install --no-deps --no-index /tmp/wheels/apikeyid-*.whl \
    && /opt/apikeyid/bin/python -m pip uninstall --yes pip setuptools \
    && /opt/apikeyid/bin/python -I -c "import bot.serving.http, bot.serving.socket_mode"

# ---- the image: the base and the venv, nothing else ----
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/apikeyid/apikeyid
LABEL org.opencontainers.image.title="apikeyid" \
      org.opencontainers.image.description="Slack bot: /apikeyid <org> <name> gives the id of a Coveo API key" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /opt/apikeyid /opt/apikeyid
# A base image's own pip (the official Python images have one) goes too.
RUN if python3 -m pip --version > /dev/null 2>&1; then \
        python3 -m pip uninstall --yes --disable-pip-version-check pip setuptools wheel; \
    fi
# HTTP mode on every interface, port 3000; JSON log lines; nothing written to the filesystem
# (the image runs with a read-only root filesystem on Kubernetes).
ENV PATH=/opt/apikeyid/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json
# The working directory holds no .env, so only the environment configures the bot.
WORKDIR /
# Any numeric user with no passwd entry: the bot needs no home and owns no file.
USER 10001:10001
EXPOSE 3000
# The bot is PID 1: SIGTERM makes it stop taking commands, finish the ones in flight and exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["apikeyid"]
