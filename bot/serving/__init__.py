"""Serving: the Bolt app and its listeners, HTTP and Socket Mode on one lifecycle, the ops routes
and the wiring that opens the shared clients."""
