"""Data: MNIST with the standard splits, and where runtime state lives."""
