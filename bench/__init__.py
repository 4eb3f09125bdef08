"""`make bench`: the performance benchmark (not part of the test suite). See bench/run.py."""
