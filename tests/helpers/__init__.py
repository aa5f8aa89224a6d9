"""Helpers shared by the tests: polling with a deadline, sample files, peers, PostgreSQL."""
