"""Helpers shared by the example app's function modules (not functions themselves)."""
