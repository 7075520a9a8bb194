"""Command modules; each exposes register(group)."""
