"""Step builders, one module per phase. Each returns Steps; none does I/O while building."""
