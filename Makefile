# kprism — developer entry points. Everything installs itself; see README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help venv bins cluster cluster-down dataplane-up dataplane-down demo test test-unit test-integration test-dataplane bench-zero-downtime lint fmt clean

help:
	@echo "make demo          start the local cluster and run a blue-green release demo"
	@echo "make test          lint + type-check + unit + integration tests (real local cluster)"
	@echo "make cluster       build (if needed) and start the local cluster; prints the kubeconfig path"
	@echo "make cluster-down  stop the local cluster and remove its state"
	@echo "make dataplane-up  start the data plane (kube-proxy, process pods, gateway) in netns kprism-dp"
	@echo "make bench-zero-downtime  every strategy under load on the data plane (docs/zero-downtime.md)"

$(VENV)/.installed: pyproject.toml
	@command -v python3 >/dev/null || { echo "kprism: python3 is missing: install Python >= 3.11"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,web]'
	@touch $@

venv: $(VENV)/.installed

bins:
	@hack/build-bins.sh dataplane >/dev/null

cluster:
	@hack/cluster.sh up

cluster-down:
	@hack/cluster.sh down

dataplane-up: venv
	@hack/dataplane.sh up

dataplane-down:
	@hack/dataplane.sh down

test-dataplane: venv
	@KPRISM_TIERS=dataplane hack/test.sh

bench-zero-downtime: venv
	@hack/dataplane.sh up >/dev/null
	@hack/dataplane.sh exec -- $(abspath $(PY)) bench/zero_downtime.py $(ARGS)

demo: venv
	@hack/demo.sh

lint: venv
	$(VENV)/bin/ruff check src tests testkit bench
	$(VENV)/bin/ruff format --check src tests testkit bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/oxlint -c .oxlintrc.json --deny-warnings src/kprism/web/static

fmt: venv
	$(VENV)/bin/ruff format src tests testkit bench
	$(VENV)/bin/ruff check --fix src tests testkit bench

test-unit: venv
	$(VENV)/bin/pytest -q tests/unit

# The whole suite: static checks, unit tier, then the integration tier against a
# dedicated local cluster inside a loopback-only network namespace (hack/test.sh).
test: venv bins lint
	@hack/test.sh

clean: cluster-down
	rm -rf .cache $(VENV)
