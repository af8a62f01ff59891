"""Flask extension for Kero (placeholder until the Flask issue lands)."""
