# The two commands: `make run` (set up, then the pipeline on the embedded sample) and
# `make test` (set up, then the whole test suite). Everything installs into .venv.
VENV := .venv
STAMP := $(VENV)/.installed
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

# Container image of the compiled pipeline (infra/Dockerfile); override IMAGE with your
# registry path, e.g. make image image-push IMAGE=europe-docker.pkg.dev/P/ml/rocket-launching-tfx:0.1.0
IMAGE ?= rocket-launching-tfx:0.1.0

.PHONY: setup run test test-fast lint clean image image-push

setup: $(STAMP)

$(STAMP): pyproject.toml infra/constraints-py310.txt infra/find_python310.sh
	@python=$$(infra/find_python310.sh) || exit 1; \
	if [ ! -x $(VENV)/bin/python ]; then echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --progress-bar off --no-compile -c infra/constraints-py310.txt -e '.[dev]'
	@# Bytecode on every core at once (pip compiles file by file: 168 s -> 96 + 48 s here).
	@# Not left to first import: PYTHONDONTWRITEBYTECODE is set on some machines (this one).
	@echo "compiling the environment's bytecode"; \
	$(VENV)/bin/python -m compileall -q -j 0 $$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') > /dev/null \
	  || echo "some files did not compile; as with pip, Python compiles them when imported"
	@touch $(STAMP)

run: setup
	$(VENV)/bin/rocket run $(ARGS)

# Two xdist workers (the machines have 2 cores), a whole test module per worker at a time so
# each module fixture runs once, the heaviest modules first (tests/conftest.py orders them
# by tests/suite_budget.py, which keeps the suite within its budget). PYTEST_ARGS="-n 0"
# runs in one process.
PYTEST_XDIST := -n 2 --dist loadfile --no-loadscope-reorder

test: setup
	$(VENV)/bin/python -m pytest -v -rs --durations=25 $(PYTEST_XDIST) $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_XDIST) $(PYTEST_ARGS)

image:
	docker build -f infra/Dockerfile -t $(IMAGE) .

image-push: image
	docker push $(IMAGE)

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf output .pytest_cache
