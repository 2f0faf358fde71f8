"""datacheck: audit image-classification datasets before training."""

from .audit import CHECKS, audit
from .checks import CheckResult
from .dataset import Dataset, load_dataset
from .errors import BadInputError, DatacheckError
from .report import AuditReport
from .scan import scan

__version__ = "0.1.0"
__all__ = ["CHECKS", "AuditReport", "BadInputError", "CheckResult", "DatacheckError", "Dataset",
           "audit", "load_dataset", "scan", "__version__"]
