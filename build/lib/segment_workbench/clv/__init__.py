"""Customer lifetime value: repeat-purchase models (BG/NBD, Pareto/NBD), spend models
(Gamma-Gamma, mean spend), the calibration/holdout check and the valuation."""

from segment_workbench.clv.models import (
    BetaGeoModel,
    GammaGammaModel,
    MeanSpendModel,
    ParetoNBDModel,
    lifetime_value,
    simulate_lifetime_value,
)

__all__ = ["BetaGeoModel", "GammaGammaModel", "MeanSpendModel", "ParetoNBDModel", "lifetime_value", "simulate_lifetime_value"]
