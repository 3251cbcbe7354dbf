"""The `slipway` command line: thin Typer commands over the SDK."""
