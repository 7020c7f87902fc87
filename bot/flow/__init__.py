"""The flow: one answer pipeline for every surface (admit, read, look up, answer once, audit)."""
