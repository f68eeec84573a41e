"""Helpers any app may use on a request path (the floor just above `ml`): no app's models."""
