# Front door for building, running and testing InfraMon. CMake does the real work.
BUILD_DIR ?= build
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DIM_WERROR=ON
endif

.PHONY: all build web deps run test clean format

all: build

build: web
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$$(nproc)

# The web UI (web/dist, embedded by CMake). Without npm the server still builds, with a
# page that says the UI was not built.
# The build is skipped while web/dist is newer than every source file of the UI.
WEB_SOURCES = web/src web/index.html web/package.json web/package-lock.json web/vite.config.ts \
	web/tsconfig.json web/tsconfig.app.json web/tsconfig.node.json
web:
	@if command -v npm >/dev/null 2>&1; then \
		if [ -f web/dist/index.html ] && \
			[ -z "$$(find $(WEB_SOURCES) -newer web/dist/index.html 2>/dev/null | head -n 1)" ]; then \
			echo "make: web/dist is up to date"; \
		else \
			bash scripts/deps.sh --npm-only && cd web && npm run --silent build; \
		fi; \
	else \
		echo "make: npm not found: building the server without the web UI (install Node.js 20 and npm, then run make again)"; \
	fi

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
