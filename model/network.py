"""The reference MNIST network. Imports only torch (and the Hub mixin for save/load)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

# MNIST's pixel mean and std; normalisation lives inside the model so that callers
# (the app, the attacks) work in plain [0, 1] pixel space.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class MNIST_Model(nn.Module, PyTorchModelHubMixin):
    """conv 1→c1 (k5) → maxpool → ReLU; conv c1→c2 (k5) → Dropout2d → maxpool → ReLU;
    fc 16·c2→hidden → ReLU → dropout; fc hidden→10; log_softmax.

    The defaults (10, 20, 50) are the reference architecture. (32, 64, 1024) is the wider
    "robust" size used for adversarial training.
    """

    def __init__(self, conv1_channels: int = 10, conv2_channels: int = 20, hidden: int = 50, dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(1, conv1_channels, kernel_size=5)
        self.conv2 = nn.Conv2d(conv1_channels, conv2_channels, kernel_size=5)
        self.conv2_drop = nn.Dropout2d(dropout)
        self.fc1 = nn.Linear(conv2_channels * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, 28, 28) in [0, 1], ink = 1
        x = (x - MNIST_MEAN) / MNIST_STD
        x = F.relu(F.max_pool2d(self.conv1(x), 2))  # (B, c1, 12, 12)
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))  # (B, c2, 4, 4)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, p=self.dropout, training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)  # (B, 10) log-probabilities


ARCHITECTURES = {
    "reference": dict(conv1_channels=10, conv2_channels=20, hidden=50),
    "robust": dict(conv1_channels=32, conv2_channels=64, hidden=1024),
}


def build_model(architecture: str = "reference", dropout: float = 0.5) -> MNIST_Model:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}")
    return MNIST_Model(**ARCHITECTURES[architecture], dropout=dropout)
