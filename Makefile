# gpuops.mig: every entry point works from a fresh clone (only PyPI is needed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# Collections are resolved from the local tree only: nothing is downloaded from Galaxy.
INSTALL_ROOT := $(CURDIR)/build/collections
DEV_ROOT := $(CURDIR)/build/dev
export ANSIBLE_COLLECTIONS_PATH := $(INSTALL_ROOT)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_LOCALHOST_WARNING := false
export ANSIBLE_INVENTORY_UNPARSED_WARNING := false

.PHONY: demo demo-hosts test test-fast venv install units integration reliability container container-deps molecule \
	molecule-hosts hosts-test lint sanity bench clean host-image clean-hosts real-hosts

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: venv
	rm -rf build/dist $(INSTALL_ROOT)/ansible_collections/gpuops/mig
	$(BIN)/ansible-galaxy collection build --force --output-path build/dist . >/dev/null
	$(BIN)/ansible-galaxy collection install --force --offline --no-deps -p $(INSTALL_ROOT) build/dist/gpuops-mig-*.tar.gz >/dev/null
	@echo "installed gpuops.mig into $(INSTALL_ROOT)"

demo: install
	$(BIN)/ansible-playbook -i inventories/simulated playbooks/demo.yml

# Real managed hosts (tests/hosts/): systemd containers over SSH on 127.0.0.1. host-image
# builds the managed-host image once (podman keeps it; podman, runc and mmdebstrap come from
# container-deps) and downloads the nvidia-ml-py wheels the hosts get their NVML bindings
# from (the current one, and an old one for the bad-input test).
HOST_WHEELS := build/hosts/wheels
HOST_SCENARIOS := $(notdir $(patsubst %/molecule.yml,%,$(wildcard extensions/molecule/hosts_*/molecule.yml)))
NVML_OLD_VERSION := 11.495.46

host-image: container-deps venv
	bash tests/hosts/build-image.sh
	for version in $$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("nvidia-ml-py"))') $(NVML_OLD_VERSION); do \
	  ls $(HOST_WHEELS)/nvidia_ml_py-$$version-*.whl >/dev/null 2>&1 || \
	  $(BIN)/pip download --quiet --no-deps --only-binary=:all: -d $(HOST_WHEELS) "nvidia-ml-py==$$version" || exit 1; \
	done

# Three systemd containers (inventories/hosts), site.yml and the report over SSH, then the
# containers are removed (also when the run fails).
demo-hosts: install host-image
	$(BIN)/ansible-playbook -i inventories/hosts extensions/molecule/hosts_shared/create.yml
	status=0; $(BIN)/ansible-playbook -i inventories/hosts playbooks/demo.yml || status=$$?; \
	  $(BIN)/ansible-playbook -i inventories/hosts extensions/molecule/hosts_shared/destroy.yml; exit $$status

# The molecule scenarios on real hosts (hosts_*), and the bad-input hosts (tests/hosts).
molecule-hosts: install host-image
	for scenario in $(HOST_SCENARIOS); do $(BIN)/molecule test -s $$scenario || exit 1; done

hosts-test: install host-image
	$(BIN)/pytest -q tests/hosts

# Everything on real managed hosts (what `make test` runs of it).
real-hosts: molecule-hosts hosts-test

clean-hosts:
	podman rm --force --volumes $$(podman ps --all --quiet --filter label=gpuops-mig-test) 2>/dev/null || true

units: venv
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q -n 2 --dist loadfile tests/integration

reliability: install
	$(BIN)/pytest -q -n 2 --dist loadfile tests/reliability

# What tests/container needs (podman with runc, mmdebstrap for its image), installed from
# Debian only when missing; where apt-get cannot run (not root, not Debian) the test skips
# and says why.
CONTAINER_TOOLS := podman runc mmdebstrap
container-deps:
	@missing=""; for tool in $(CONTAINER_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CONTAINER_TOOLS); \
	else echo "container-deps: missing$$missing and apt-get cannot install them here: tests/container will skip"; fi

# A real container engine with the CDI spec (podman, in the managed-host image).
container: install host-image
	$(BIN)/pytest -q -rs tests/container

molecule: install
	$(BIN)/molecule test --all $(addprefix --exclude ,$(HOST_SCENARIOS))

lint: install
	$(BIN)/ansible-lint --offline

sanity: venv
	bash tests/sanity/run.sh

# Every test (tests/run-all.sh, which prints the seconds of each stage): test-fast beside the
# preparation of the containers, the container test, the localhost molecule scenarios beside
# the real managed hosts, ansible-test sanity beside ansible-lint.
test: install
	MAKE="$(MAKE)" bash tests/run-all.sh

# The inner loop: the pytest part only (two workers: most tests wait on ansible-playbook
# processes), without containers.
test-fast: install
	$(BIN)/pytest -q -rs -n 2 --dist loadfile tests/unit tests/integration tests/reliability

bench: install
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf build $(VENV) tests/output
