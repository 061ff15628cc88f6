"""The benchmark harness behind `bench/run.py` (see bench/README.md). Not used by the tests."""
