"""asyncrl."""
