"""The JSON API under /api/v1 (Bearer API keys, or the browser session). One module per
resource, each with its `routes` (named `api.…`). Handlers call `web.services` and never import
`web.views`; errors are `{"error": {"id", "message", "fields"}}` (`web.errors`)."""
from __future__ import annotations

PREFIX = "/api/v1"
