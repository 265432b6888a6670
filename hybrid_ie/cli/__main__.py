"""`python -m hybrid_ie.cli ...`: the same as the `hybrid-ie` command."""

from hybrid_ie.cli import app

app(prog_name="hybrid-ie")
