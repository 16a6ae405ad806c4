"""What only the dashboard needs: background jobs and their checks, hosting (demo limits,
uploads, housekeeping), figures, tables, and run loading for the pages. The core (bedash/*.py)
never imports this package (tests/test_layout.py)."""
