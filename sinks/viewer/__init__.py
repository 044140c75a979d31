"""A live browser view of a running graph (the `viewer` sink) and its small HTTP server."""
