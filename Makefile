# Thin wrapper over meson (README). Every target installs what it needs.
BUILD ?= build

.PHONY: all deps build test demo bench clean format

all: build

deps:
	@tools/install-deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	ninja -C $(BUILD)

test:
	@BUILD=$(BUILD) tools/run-tests.sh

demo:
	@BUILD=$(BUILD) tools/demo.sh

# Benchmarks measure a release build of their own (build-release, made by
# perf/bench.sh); BENCH_BUILD=dir measures another one.
bench: deps
	@BUILD=$(BENCH_BUILD) perf/bench.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
