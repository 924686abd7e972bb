# The two commands of the README. Both set up whatever is missing first (scripts/bootstrap.sh).
.PHONY: demo test setup bench

demo: setup
	.venv/bin/loopline demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest -q

setup:
	bash scripts/bootstrap.sh

bench: setup
	.venv/bin/python bench/simulate_throughput.py
	.venv/bin/python bench/pipeline_throughput.py
	.venv/bin/python bench/clean_throughput.py
	.venv/bin/python bench/scrub_throughput.py
	.venv/bin/python bench/dedup_throughput.py
	.venv/bin/python bench/train_throughput.py
