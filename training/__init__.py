"""Training: round-0 training, evaluation, augmentation (and later attacks and rounds)."""
