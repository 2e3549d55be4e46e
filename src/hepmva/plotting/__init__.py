"""Plot functions: arrays in, a :class:`matplotlib.figure.Figure` out, saved where told.

Histograms are :mod:`hepmva.histograms` objects (scikit-hep ``hist``) drawn with ``mplhep``; every
``luminosity_pb`` argument also takes a :class:`~hepmva.plotting.style.PlotLabel` (tag, luminosity,
centre-of-mass energy from the config's ``plotting`` block).

Submodules by subject: :mod:`~hepmva.plotting.style` (HEP conventions shared by all),
:mod:`~hepmva.plotting.inputs` (feature distributions), :mod:`~hepmva.plotting.roc` (ROC curves),
and the study-specific modules (training, evaluation, methods, unsupervised).
Import the submodule you need; this package imports nothing heavy at import time.
"""

__all__: list[str] = []
