# kprism — developer entry points. Everything installs itself; see README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help venv bins cluster cluster-down dataplane-up dataplane-down demo test test-unit test-integration test-dataplane bench bench-controller bench-zero-downtime chaos lint fmt clean

help:
	@echo "make demo          start the local cluster and run a blue-green release demo"
	@echo "make test          lint + type-check + unit + integration tests (real local cluster)"
	@echo "make cluster       build (if needed) and start the local cluster; prints the kubeconfig path"
	@echo "make cluster-down  stop the local cluster and remove its state"
	@echo "make dataplane-up  start the data plane (kube-proxy, process pods, gateway) in netns kprism-dp"
	@echo "make bench-zero-downtime  every strategy under load on the data plane (docs/zero-downtime.md)"
	@echo "make bench         scale figures on a cluster of its own: concurrent releases, requests, start-up, kprism vs kubectl (docs/benchmarks.md)"
	@echo "make bench-controller  kprism controller with 500 apps, 50 releases, two shards and a SIGKILL (docs/controller.md)"
	@echo "make chaos         the long chaos run: 50 SIGKILLs, 100 back-to-back releases, an API-server restart (docs/reliability.md)"

$(VENV)/.installed: pyproject.toml
	@command -v python3 >/dev/null || { echo "kprism: python3 is missing: install Python >= 3.11"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,web]'
	@touch $@

venv: $(VENV)/.installed

bins:
	@hack/build-bins.sh dataplane helm >/dev/null

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

# Scale figures on a cluster of its own (not the one `make cluster` keeps for you), then
# kprism side by side with kubectl and the API server (bench/versus.py; VERSUS_ARGS).
bench: venv bins
	@KPRISM_CLUSTER_NAME=kprism-bench KPRISM_APISERVER_PORT=36943 hack/cluster.sh up >/dev/null
	@export KUBECONFIG=$$(KPRISM_CLUSTER_NAME=kprism-bench hack/cluster.sh kubeconfig); \
	  $(PY) bench/scale.py $(ARGS) && $(PY) bench/versus.py $(VERSUS_ARGS); \
	  rc=$$?; KPRISM_CLUSTER_NAME=kprism-bench hack/cluster.sh down >/dev/null; exit $$rc

# The controller at 500 apps (bench/controller.py), on a cluster of its own.
bench-controller: venv bins
	@KPRISM_CLUSTER_NAME=kprism-bench KPRISM_APISERVER_PORT=36943 hack/cluster.sh up >/dev/null
	@KUBECONFIG=$$(KPRISM_CLUSTER_NAME=kprism-bench hack/cluster.sh kubeconfig) $(PY) bench/controller.py $(ARGS); \
	  rc=$$?; KPRISM_CLUSTER_NAME=kprism-bench hack/cluster.sh down >/dev/null; exit $$rc

chaos: venv bins
	@KPRISM_CHAOS_KILLS=$${KPRISM_CHAOS_KILLS:-50} KPRISM_CHAOS_RELEASES=$${KPRISM_CHAOS_RELEASES:-100} \
	  KPRISM_TIERS=cluster hack/test.sh -k chaos

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
