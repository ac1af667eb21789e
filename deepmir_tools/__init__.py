"""deepmir-tools: classify microRNA sequences into families with CNNs (Tang & Sun 2019)."""

__version__ = "0.1.0"
