"""What only the dashboard needs: jobs, hosting, figures, tables and run loading for the pages.
The core never imports this package (tests/test_layout.py)."""
