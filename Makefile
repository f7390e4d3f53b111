# The two commands: `make run` runs the quickstart capacity sweep, `make test` runs the test suite.
# Each installs what it needs first.
SWIFT ?= swift
METRON := .build/release/metron

.PHONY: setup build test run bench clean

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build -c release --product metron

test: setup
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) bash scripts/test.sh

run: build
	$(METRON) sweep sweeps/quickstart.yaml

bench: build
	bash bench/run.sh

clean:
	rm -rf .build results/*/
