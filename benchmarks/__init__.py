"""asv benchmarks and comparison scripts for minidl (see docs/benchmarks.md)."""
