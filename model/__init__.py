"""Model: the network, checkpoints, canvas preprocessing and prediction."""
