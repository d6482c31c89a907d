# Front door for building, running and testing InfraMon. CMake does the real work.
BUILD_DIR ?= build
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DIM_WERROR=ON
endif

.PHONY: all build deps run test clean format

all: build

build:
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$$(nproc)

deps:
	@bash scripts/deps.sh

run: build
	@bash scripts/run-dev.sh

test:
	@bash scripts/test.sh

format:
	@clang-format -i $$(find src tests/unit -name '*.[ch]')

clean:
	rm -rf $(BUILD_DIR)
