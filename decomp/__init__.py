"""decomp: cooperative multi-agent value decomposition (VDN, QMIX, QTRAN, Qatten, ...)."""

__version__ = "0.1.0"
