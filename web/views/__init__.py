"""The HTML admin: full pages, and htmx partials from the same URLs (`HX-Request`). One module per
resource, each with its `routes` (named; templates build URLs with `url_for`). Views call
`web.services` and never import `web.api`."""
