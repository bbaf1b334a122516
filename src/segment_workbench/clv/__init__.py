"""Customer lifetime value: repeat-purchase models (BG/NBD, Pareto/NBD, MBG/NBD, BG/CNBD-k,
MBG/CNBD-k), spend models
(Gamma-Gamma, mean spend), the calibration/holdout check (``holdout``) and the valuation
(``valuation``). One module per model family; the public names are here."""

from segment_workbench.clv.base import TransactionModel, check_rfm
from segment_workbench.clv.bgnbd import BetaGeoModel
from segment_workbench.clv.cnbd import BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel, ModifiedBetaGeoModel
from segment_workbench.clv.pareto_nbd import ParetoNBDModel
from segment_workbench.clv.spend import GammaGammaModel, MeanSpendModel, frequency_spend_correlation
from segment_workbench.clv.value import lifetime_value, per_period_rate, simulate_lifetime_value

__all__ = [
    "BetaGeoCNBDModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "MeanSpendModel",
    "ModifiedBetaGeoCNBDModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "TransactionModel",
    "check_rfm",
    "frequency_spend_correlation",
    "lifetime_value",
    "per_period_rate",
    "simulate_lifetime_value",
]
