"""asyncrl: asynchronous actor-critic reinforcement learning on PyTorch and Gymnasium."""

from asyncrl.api import A2C, A3C, A3CPS, APPO, IMPALA, FeUdal, Policy, load
from asyncrl.config import TrainConfig
from asyncrl.train import train

__version__ = "0.1.0"
__all__ = ["A2C", "A3C", "A3CPS", "APPO", "IMPALA", "FeUdal", "Policy", "TrainConfig", "load", "train", "__version__"]
