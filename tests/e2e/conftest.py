"""End-to-end tests run on the session's embedded endpoint (tests/conftest.py)."""
