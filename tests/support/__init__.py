"""Test support that is not product code: an in-memory call (`loopback.LoopbackCall`)."""
