"""Django app for Kero (placeholder until the Django issue lands)."""
