"""infwidth: width-scaling theory of neural networks, made usable.

Subpackages:
  parametrization  exact abc algebra (TP4 Sections 3-5); no torch needed
"""

__version__ = "0.1.0"
