# resilient-stack: the two commands of a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RS := $(VENV)/bin/resilient-stack
# Tests that need a tool (SARIF schema, Pulumi engine, podman) FAIL instead of skipping.
export RESILIENT_STACK_REQUIRE_TOOLS ?= 1

.PHONY: venv demo test bench soak tools clean

venv: $(VENV)/.installed

# With a pulumi on PATH, it also installs the plugin versions the stack pins into that pulumi's plugin cache (or
# prints the commands); it never builds an engine (`make tools` and `make demo` do, offline, when there is no pulumi).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[pulumi,policy,test,drill]'
	bash scripts/install-pulumi-engine.sh --no-build
	touch $@

tools:
	bash scripts/install-pulumi-engine.sh
	bash scripts/fetch-sarif-schema.sh >/dev/null
	bash scripts/fetch-cloud-init-schema.sh >/dev/null
	bash scripts/build-host-image.sh
	python3 scripts/local-openstack/local_openstack.py build
	bash scripts/install-opentofu.sh >/dev/null
	bash scripts/install-prometheus-tools.sh >/dev/null

demo: venv
	@echo "== 1. A design spread over Gravelines, Warsaw and Infomaniak (Geneva), backups in Limburg"
	$(RS) audit examples/production.design.yaml
	@echo "== 2. The March 2021 replay: everything on the Strasbourg campus (must be REJECTED)"
	@$(RS) audit examples/sbg2021.design.yaml; rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "-> rejected (exit 1), as it must be"; else echo "-> UNEXPECTED exit $$rc"; exit 1; fi
	@echo "== 3. Fire drill: what survives the loss of each site"
	$(RS) drill examples/production.design.yaml --level site
	@$(RS) drill examples/sbg2021.design.yaml --level site; rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "-> service down on a site loss (exit 1), as it must be"; else echo "-> UNEXPECTED exit $$rc"; exit 1; fi
	@echo "== 4. The real Pulumi engine: pulumi preview --policy-pack policies of the shipped stacks"
	bash scripts/demo-engine.sh

# Two lanes at once (scripts/test-lanes.sh): the podman tests one after the other; beside them every other test,
# then the local clouds' tests.
test: venv tools
	PY=$(PY) bash scripts/test-lanes.sh

bench: venv
	$(PY) -m bench.run --sizes 1000,10000,100000 --repeat 3 --check

# Long drills (not in CI; their figures go to docs/firedrill.md): the tests marked `soak` (staging's asynchronous
# loss), ten burns of the production primary's site on one boot (synchronous replication: no acknowledged row may be
# lost, the promoted member is the synchronous standby), then the frozen primary and the partition three times each.
soak: venv tools
	RESILIENT_STACK_SOAK=1 $(PY) -m pytest -m soak
	$(RS) firedrill production --repeat 10 --format markdown
	$(RS) firedrill production --fault pause,partition --repeat 3 --format markdown

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
