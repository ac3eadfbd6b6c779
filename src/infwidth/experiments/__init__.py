"""One module per experiment of the papers. Each exposes ``run(config) -> results`` and nothing about the CLI."""
