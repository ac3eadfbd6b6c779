"""``python -m infwidth`` runs the CLI."""

from infwidth.cli import main

main()
