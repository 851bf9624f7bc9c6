"""Operator tooling for the result collector: `alimt-collector submit|status|redrive|gallery|sweep`.

Never deployed. It reads and writes the same OSS layout as the function, through the function's own
adapters (`collector.layout`, `collector.records`, `collector.state`, `collector.object_store`)."""
