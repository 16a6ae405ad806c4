"""Seed sweeps: the grid, statistics over seeds, engines (in-process, Ray), the CLI."""
