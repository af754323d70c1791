"""Pure HTTP helpers: no I/O, only header parsing and formatting."""
