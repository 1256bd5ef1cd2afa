"""Helpers shared by the tests: suite runs started once and read by many tests."""
