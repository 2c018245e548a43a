"""cnncore: the computing half of CNN Explorer (data, models, training, runs, experiments, figures).

Plain PyTorch; never imports Streamlit. Everything here is reachable from ``python -m cnncore``.
"""

from cnncore.errors import UserError

__all__ = ["UserError"]
