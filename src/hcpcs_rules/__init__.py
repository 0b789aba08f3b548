"""hcpcs_rules: check health-insurance claim lines against declarative, policy-cited rulesets.

The pipeline, one module per stage: :mod:`~hcpcs_rules.load` (find and read ruleset files) ->
:mod:`~hcpcs_rules.compile` (validate into the :mod:`~hcpcs_rules.ir`) -> :mod:`~hcpcs_rules.backends`
(durable_rules or generated Python) -> :mod:`~hcpcs_rules.engine` (evaluate claims).
"""

from importlib.metadata import PackageNotFoundError, version

from .batch import evaluate_many
from .claims import parse_claim
from .engine import (
    Engine,
    EngineConfig,
    evaluate,
    evaluate_json,
    reload_default_engine,
    reset_default_engine,
)
from .errors import (
    BackendError,
    ClaimError,
    EngineClosed,
    RuleExecutionError,
    RulesetError,
    RulesetProblem,
    WorkerError,
)
from .failure import EvaluationFailure
from .limits import Limits
from .model import (
    Claim,
    ClaimLine,
    Finding,
    LineResult,
    Provenance,
    Result,
    TraceStep,
)
from .policy import Policy, PolicyError
from .slot import EngineSlot

try:
    __version__ = version("hcpcs-rules")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "BackendError",
    "Claim",
    "ClaimError",
    "ClaimLine",
    "Engine",
    "EngineClosed",
    "EngineConfig",
    "EngineSlot",
    "EvaluationFailure",
    "Finding",
    "Limits",
    "LineResult",
    "Policy",
    "PolicyError",
    "Provenance",
    "Result",
    "RuleExecutionError",
    "RulesetError",
    "RulesetProblem",
    "TraceStep",
    "WorkerError",
    "__version__",
    "evaluate",
    "evaluate_json",
    "evaluate_many",
    "parse_claim",
    "reload_default_engine",
    "reset_default_engine",
]
