# Developer and CI entry points. The two to remember:
#   make test   venv + local Kafka, Redis and Redis Cluster + the whole test suite (unit, integration, browser)
#   make demo   venv + local Kafka and Redis (and the cluster) + the demo (`make demo-serve` keeps it running with the page)
# Servers: deploy/local/servers.sh (state in var/, git-ignored); `make stop` ends them.
# CG_KAFKA_PORT / CG_REDIS_PORT / CG_REDIS_CLUSTER_PORT move the servers; the app's
# CG_KAFKA_BOOTSTRAP / CG_REDIS_URL then follow (unless set explicitly), and so does the
# cluster URL the integration tests use (tests/integration/conftest.py).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
SERVERS := deploy/local/servers.sh

ifneq ($(CG_KAFKA_PORT),)
export CG_KAFKA_BOOTSTRAP ?= 127.0.0.1:$(CG_KAFKA_PORT)
endif
ifneq ($(CG_REDIS_PORT),)
export CG_REDIS_URL ?= redis://127.0.0.1:$(CG_REDIS_PORT)/0
endif

.PHONY: venv servers browser stop status test demo demo-serve bench faults clean distclean

venv: $(STAMP)

# Re-installs only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

servers: venv
	$(SERVERS) start

# Debian's chromium and chromium-driver, for the Customer Groups page's browser tests.
browser:
	$(SERVERS) browser

stop:
	$(SERVERS) stop

status:
	$(SERVERS) status

# pytest exit code 5 means "no tests ran": a failure here, never a pass.
test: venv servers browser
	@rc=0; $(VENV)/bin/pytest tests/unit tests/integration || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

demo: venv servers
	$(VENV)/bin/customer-groups demo

# The demo, then the worker stays up with the Customer Groups page (it prints the URL and token); Ctrl-C stops it.
demo-serve: venv servers
	$(VENV)/bin/customer-groups demo --serve

# The benchmark against the real local Kafka and Redis (bench/); writes docs/benchmarks.md.
# Under 20 minutes on 2 cores. `make bench BENCH_ARGS=--quick` is a smoke run of a few minutes.
bench: venv servers
	@$(VENV)/bin/python -c 'import pyinstrument' 2>/dev/null || \
		$(VENV)/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

# The fault suite against the real local Kafka and Redis (faults/): SIGKILLs, failover, Redis and
# Kafka restarts, each compared key by key with an uninterrupted run. Writes docs/reliability.md.
# It stops and starts the local broker (kafka_restart): run it on its own. FAULTS_ARGS=--help for more.
faults: venv servers
	$(VENV)/bin/python -m faults --report --runs 3 $(FAULTS_ARGS)

# Stops the servers and removes their state and test caches; keeps the downloads
# (var/m2, var/kafka/lib) and .venv. `make distclean` removes those too.
clean: stop
	rm -rf var/kafka/data var/kafka/logs var/kafka/server.properties var/redis var/redis-cluster var/worker
	rm -rf .pytest_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf var $(VENV)
