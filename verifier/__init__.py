"""Standalone, dependency-light verifier for Custodia custody-log evidence."""
