"""alimt image batch result collector: domain logic and adapters. Entry point: `index.handler`."""
