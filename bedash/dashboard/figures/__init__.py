"""The dashboard's charts: a module per page that draws them, and one style."""
