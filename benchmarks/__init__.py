"""Speed benchmarks (scripts printing frames per second against a named reference)."""
