# The two commands a new user needs are `make run` and `make test`; the rest serve them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint fmt bench verify clean

$(BIN)/croupier: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

## run: create .venv if missing, migrate the SQLite database under var/, serve the API with a demo
## provider, and the sandbox provider (its own process) with simulated players playing through it
run: $(BIN)/croupier
	$(BIN)/croupier migrate
	$(BIN)/croupier run --demo

## test: the whole suite (PostgreSQL tests run when CROUPIER_TEST_POSTGRES_URL reaches a server)
test: $(BIN)/croupier
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff, formatting, mypy --strict and the import-layer contracts
lint: $(BIN)/croupier
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(BIN)/croupier
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## bench: bets per second and latency on SQLite and PostgreSQL, beside pgbench on the same SQL;
## then reconciliation of 100,000 and 1,000,000 feed rows (time, memory; CROUPIER_BENCH_RECON_ROWS);
## then rounds through the sandbox provider end to end, quiet and with chaos
bench: $(BIN)/croupier
	$(BIN)/python -m bench
	$(BIN)/python -m bench.recon_bench
	$(BIN)/python -m bench.sandbox_bench

## verify: prove the ledger invariants of the default database
verify: $(BIN)/croupier
	$(BIN)/croupier ledger verify

clean:
	rm -rf $(VENV) var/*.db var/*.db-* var/sandbox var/certify .pytest_cache .mypy_cache .ruff_cache
