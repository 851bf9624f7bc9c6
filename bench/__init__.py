"""Benchmarks of the collector against the local cloud: `python -m bench` (or `make bench`).

Every figure is a ratio of two measurements taken in the same run on the same machine, so the noise
of a shared machine cancels out. The emulators run in the benchmark process; whatever is measured
(the collector, the naive copier, the raw-limit loop) runs in a child process of its own, so its
CPU and memory are its own.
"""
