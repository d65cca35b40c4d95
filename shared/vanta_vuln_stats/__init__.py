"""vanta-vuln-stats: Vanta vulnerability data synced into a store you keep, with statistics."""

__version__ = "0.1.0"
