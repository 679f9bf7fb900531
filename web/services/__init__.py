"""What the HTML views (`web.views`) and the JSON API (`web.api`) both do, written once: each
function takes the running server's `AppState` and the caller's organisation, and raises
`web.errors.ApiError` (or lets `data.errors.Conflict` through) for the caller to present."""
