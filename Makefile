# Two commands a newcomer needs: `make run` and `make test`. Everything else is set-up for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit image-test bench check clean lock

install: $(STAMP)

# Re-installs only when a dependency file changed, so repeated runs are instant.
# --require-hashes: every download must match a hash in the lock, so a swapped file fails.
# Then the project itself (the `apikeyid` command), editable, built by the pinned setuptools just
# installed: a second call, because hash-checking mode refuses a requirement without a hash.
$(STAMP): pyproject.toml requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Re-pins requirements.txt (runtime) and requirements-dev.txt (runtime + tools, constrained to the
# same runtime pins) from pyproject.toml, with hashes, keeping every current version it can.
# `make lock UPGRADE=httpx` (or UPGRADE="httpx anyio", or UPGRADE=all) moves those to the newest
# versions pyproject's ranges allow. uv rather than pip-tools: one wheel with no dependencies and
# no reliance on pip's internals (pinned in requirements-dev.txt like every tool), and --universal
# keeps the lock valid on macOS and Windows too.
UPGRADE ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" \
	$(if $(filter all,$(UPGRADE)),--upgrade,$(addprefix --upgrade-package ,$(UPGRADE)))

lock: install
	$(UV_COMPILE) pyproject.toml -o requirements.txt
	$(UV_COMPILE) pyproject.toml --extra dev -c requirements.txt -o requirements-dev.txt

run: install
	$(BIN)/python -m bot

# `make check ORG=myorg` also checks that the token can list that organization's keys.
check: install
	$(BIN)/python -m bot check $(ORG)

lint: install
	$(BIN)/ruff check bot tests scripts
	$(BIN)/ruff format --check bot tests scripts

typecheck: install
	$(BIN)/mypy

# Spread over pytest-xdist workers, a file's tests kept together on one worker (--dist loadfile),
# so a module's fixtures (one built wheel and venv, one bot) are made once. Most tests wait (on
# sleeps, deadlines, bot processes) rather than compute, so more workers than cores still pays.
# `make unit PYTEST_WORKERS=0` runs them in this one process.
PYTEST_WORKERS ?= 4

unit: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --ignore=tests/test_image.py

# Builds the image from the Dockerfile, runs it with the fakes and stops it (tests/test_image.py):
# with podman (or a docker whose daemon answers); skipped, saying why, where there is neither.
# -s shows the image's size and build time.
image-test: install
	$(BIN)/python -m pytest tests/test_image.py -rs -s

# All four side by side (the image build mostly waits on the engine while the tests wait on
# sleeps); each one's output is printed whole when it ends. A failure in any fails `make test`.
test: install
	@$(MAKE) --no-print-directory -j4 --output-sync=target lint typecheck unit image-test

bench: install
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
