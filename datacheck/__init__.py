"""datacheck: audit image-classification datasets before training."""

from .audit import audit
from .checks import BUILTIN, Check, CheckResult, Skip, register
from .checks.balance import BalanceOptions
from .checks.label_noise import LabelNoiseOptions
from .checks.shift import ShiftOptions
from .compare import Diff, diff
from .errors import BadInputError, DatacheckError
from .features.scan import ScanOptions, scan
from .learning.decomposition import decompose
from .matching.copies import CopyOptions
from .report import AuditReport, load_report
from .report.diff import diff_reports
from .sources.dataset import Dataset, load_dataset

__version__ = "0.1.0"
#: The built-in checks (``checks.names()`` lists every registered one in report order).
CHECKS = BUILTIN
__all__ = ["CHECKS", "AuditReport", "BadInputError", "BalanceOptions", "Check", "CheckResult",
           "CopyOptions", "DatacheckError", "Dataset", "Diff", "LabelNoiseOptions",
           "ScanOptions", "ShiftOptions", "Skip", "audit", "decompose", "diff", "diff_reports",
           "load_dataset", "load_report", "register", "scan", "__version__"]
