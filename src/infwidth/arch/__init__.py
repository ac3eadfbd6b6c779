"""One architecture description, read three ways (docs/CONTRIBUTING.md, "one description").

* :class:`Activation` / :func:`activation` -- the one activation registry;
* :class:`MLPSpec` -- depth, dimensions, phi, bias, residual blocks, per-layer constants;
* :class:`Routine` -- the training routine (data, loss, learning rate, batch size, steps, order);
* :class:`TrainingLimit` -- what ``infwidth.limits.limit_of(spec, param, routine)`` returns.

Readings: ``infwidth.nn.AbcMLP(spec, param, width)`` (and ``infwidth.nn.train(net, routine)``),
``infwidth.limits.tensor_program(spec, param, routine)``, ``infwidth.kernels.kernel(spec, param)``.

>>> from infwidth.arch import MLPSpec
>>> MLPSpec(2, d_in=16, d_out=3, phi="tanh", bias=True).describe()
'MLP(L=2, 16 -> 3, tanh, bias)'
"""

from infwidth.arch.activations import ACTIVATIONS, Activation, activation, names, polynomial_activation
from infwidth.arch.limit import TrainingLimit
from infwidth.arch.routine import LOSSES, ORDERS, Routine
from infwidth.arch.spec import MLPSpec

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "LOSSES",
    "MLPSpec",
    "ORDERS",
    "Routine",
    "TrainingLimit",
    "activation",
    "names",
    "polynomial_activation",
]
