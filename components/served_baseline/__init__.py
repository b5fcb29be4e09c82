"""The gate's baseline: the light model that serving holds now, as a plain step."""

from components.served_baseline.component import ServedModelBaseline, latest_served_version

__all__ = ["ServedModelBaseline", "latest_served_version"]
