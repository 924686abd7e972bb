"""`python -m loopline.cli`: what the tests and benchmarks start as a subprocess."""

from loopline.cli import app

app()
