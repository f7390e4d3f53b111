# The two commands: `make run` runs the quickstart capacity sweep, `make test` runs the test suite.
# Each installs what it needs first. `make install PREFIX=/usr/local` (and DESTDIR) installs Metron.
SWIFT ?= swift
METRON := .build/release/metron

PREFIX ?= /usr/local
DESTDIR ?=
# The binary to install: the release build unless another is named (a test installs its debug build).
METRON_BIN ?= $(METRON)
BINDIR = $(DESTDIR)$(PREFIX)/bin
SHAREDIR = $(DESTDIR)$(PREFIX)/share/metron
BASH_COMPLETIONS = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSH_COMPLETIONS = $(DESTDIR)$(PREFIX)/share/zsh/site-functions

.PHONY: setup build test run bench clean install uninstall

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build -c release --product metron

test: setup
	$(SWIFT) build --build-tests
	bash scripts/slurm-up.sh
	SWIFT=$(SWIFT) bash scripts/test.sh

run: build
	$(METRON) sweep sweeps/quickstart.yaml

# metron finds plot_sweep.py in ../share/metron/ beside its executable.
install: $(if $(filter $(METRON),$(METRON_BIN)),build)
	install -d $(BINDIR) $(SHAREDIR) $(BASH_COMPLETIONS) $(ZSH_COMPLETIONS)
	install -m 755 $(METRON_BIN) $(BINDIR)/metron
	install -m 644 plots-scripts/plot_sweep.py $(SHAREDIR)/plot_sweep.py
	$(METRON_BIN) --generate-completion-script bash > $(BASH_COMPLETIONS)/metron
	$(METRON_BIN) --generate-completion-script zsh > $(ZSH_COMPLETIONS)/_metron

uninstall:
	rm -f $(BINDIR)/metron $(SHAREDIR)/plot_sweep.py $(BASH_COMPLETIONS)/metron $(ZSH_COMPLETIONS)/_metron
	-rmdir $(SHAREDIR) 2>/dev/null

bench: build
	@METRON_BENCH=1 bash scripts/setup.sh
	bash bench/run.sh

clean:
	rm -rf .build results/*/
