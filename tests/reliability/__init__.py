"""Reliability tests: hostile input, faults and load against the running stack (nginx + workers)."""
