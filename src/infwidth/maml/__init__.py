"""MAML for any ``torch.nn.Module`` and for kernel models, with the TP4 Omniglot models (Section 9.2).

* :mod:`~infwidth.maml.core` -- first-/second-order MAML for any module (per-parameter muP learning rates);
* :mod:`~infwidth.maml.fast_linear` -- batched first-order MAML for linear 1-hidden-layer networks;
* :mod:`~infwidth.maml.kernel` -- function-space MAML for NNGP/NTK kernel models;
* :mod:`~infwidth.maml.models` -- the muP limit, finite-width muP MLPs, linear kernel readouts;
* :mod:`~infwidth.maml.learners` -- one interface over all of them, parsed from a model spec.
"""

from infwidth.maml.core import MAMLConfig, adapt, evaluate, meta_step, task_meta_gradient
from infwidth.maml.models import LinearReadout, MupLinear1LP, MupMLP1

__all__ = ["LinearReadout", "MAMLConfig", "MupLinear1LP", "MupMLP1", "adapt", "evaluate", "meta_step",
           "task_meta_gradient"]
