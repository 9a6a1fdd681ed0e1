"""Helpers shared by the test suites: processes, HTTP, images made in code."""
