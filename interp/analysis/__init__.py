"""The researcher's verbs in one namespace: sites, caching, interventions, ablation, patching, induction, circuits.

Each name is imported from its topic module when first used, so `import interp.analysis` is cheap and any
one submodule can still be imported on its own.

>>> from interp.analysis import Site, ZeroAblation
>>> ZeroAblation(Site.z(1), heads=[0]).site.hook_name
'blocks.1.attn.hook_z'
"""

from typing import TYPE_CHECKING

from interp.core.lazy_exports import lazy_exports

_EXPORTS = {
    # sites and caching
    "Site": "interp.model.sites",
    "SiteError": "interp.model.sites",
    "Activations": "interp.analysis.core.cache",
    "cache_activations": "interp.analysis.core.cache",
    "estimate_bytes": "interp.analysis.core.cache",
    # interventions (values applied inside a context manager)
    "ZeroAblation": "interp.analysis.core.interventions",
    "MeanAblation": "interp.analysis.core.interventions",
    "ResampleAblation": "interp.analysis.core.interventions",
    "Patch": "interp.analysis.core.interventions",
    "apply": "interp.analysis.core.interventions",
    "run_with": "interp.analysis.core.interventions",
    # metrics
    "LogitDiff": "interp.analysis.core.metrics",
    "logit_diff": "interp.analysis.core.metrics",
    "normalise": "interp.analysis.core.metrics",
    "per_token_loss": "interp.analysis.core.metrics",
    # ablation
    "AblationResult": "interp.analysis.ablation.study",
    "ablation_study": "interp.analysis.ablation.study",
    "compare_heads": "interp.analysis.ablation.compare",
    # patching
    "PatchingResult": "interp.analysis.patching.activation",
    "activation_patching": "interp.analysis.patching.activation",
    "PathPatchingResult": "interp.analysis.patching.path",
    "path_patching": "interp.analysis.patching.path",
    "attribution_patching": "interp.analysis.patching.attribution",
    # induction
    "InductionProbe": "interp.analysis.induction.probes",
    "make_probe": "interp.analysis.induction.probes",
    "induction_loss": "interp.analysis.induction.probes",
    "icl_score": "interp.analysis.induction.probes",
    "HeadScores": "interp.analysis.induction.head_scores",
    "classify_heads": "interp.analysis.induction.head_classes",
    "InductionSeries": "interp.analysis.induction.series",
    "evaluate_model": "interp.analysis.induction.series",
    "evaluate_series": "interp.analysis.induction.series",
    "probe_for_run": "interp.analysis.induction.series",
    "PhaseChange": "interp.analysis.induction.phase",
    "detect_phase_change": "interp.analysis.induction.phase",
    # circuits
    "CircuitWeights": "interp.analysis.circuits.qk_ov",
    "circuit_weights": "interp.analysis.circuits.qk_ov",
    "composition_scores": "interp.analysis.circuits.qk_ov",
    "full_ov_circuit": "interp.analysis.circuits.qk_ov",
    "full_qk_circuit": "interp.analysis.circuits.qk_ov",
    "ov_copying_scores": "interp.analysis.circuits.qk_ov",
    "attention_summary": "interp.analysis.summaries.attention",
    # edge-level circuit discovery
    "Graph": "interp.analysis.edges.graph",
    "EdgeScores": "interp.analysis.edges.scores",
    "edge_patching": "interp.analysis.edges.exact",
    "edge_attribution": "interp.analysis.edges.attribution",
    "acdc": "interp.analysis.edges.acdc",
    "Circuit": "interp.analysis.edges.circuit",
    "faithfulness": "interp.analysis.edges.faithfulness",
    "faithfulness_curve": "interp.analysis.edges.faithfulness",
    "CircuitTimeline": "interp.analysis.edges.timeline",
    "circuit_timeline": "interp.analysis.edges.timeline",
    "select_checkpoints": "interp.analysis.edges.timeline",
    "save_timeline": "interp.analysis.edges.files",
    "load_timeline": "interp.analysis.edges.files",
    # sparse dictionaries (SAEs, transcoders)
    "SAEConfig": "interp.analysis.sae.config",
    "SparseDictionary": "interp.analysis.sae.dictionary",
    "train_dictionary": "interp.analysis.sae.training",
    "evaluate_dictionary": "interp.analysis.sae.evaluation",
    "DictionaryEvaluation": "interp.analysis.sae.evaluation",
    "Splice": "interp.analysis.sae.splice",
    "save_dictionary": "interp.analysis.sae.files",
    "load_dictionary": "interp.analysis.sae.files",
    "feature_summaries": "interp.analysis.sae.features",
    "match_features": "interp.analysis.sae.matching",
    "feature_timeline": "interp.analysis.sae.feature_timeline",
    "train_series": "interp.analysis.sae.series",
    "series_timeline": "interp.analysis.sae.series",
    "feature_activations": "interp.analysis.sae.features",
    "token_feature_scores": "interp.analysis.sae.token_features",
    # direct logit attribution
    "LogitDirection": "interp.analysis.logit_attribution.directions",
    "task_direction": "interp.analysis.logit_attribution.directions",
    "token_direction": "interp.analysis.logit_attribution.directions",
    "LogitAttribution": "interp.analysis.logit_attribution.result",
    "direct_logit_attribution": "interp.analysis.logit_attribution.decompose",
    "AttributionSeries": "interp.analysis.logit_attribution.series",
    "attribution_series": "interp.analysis.logit_attribution.series",
    # logit lens and tuned lens
    "TunedLens": "interp.analysis.lens.translators",
    "LensMetrics": "interp.analysis.lens.metrics",
    "lens_metrics": "interp.analysis.lens.metrics",
    "train_tuned_lens": "interp.analysis.lens.training",
    "LensSeries": "interp.analysis.lens.series",
    "lens_series": "interp.analysis.lens.series",
    "save_lens": "interp.analysis.lens.files",
    "load_lens": "interp.analysis.lens.files",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # what type checkers and import-linter see; at run time each name loads on first use
    from interp.analysis.ablation.compare import compare_heads
    from interp.analysis.ablation.study import AblationResult, ablation_study
    from interp.analysis.circuits.qk_ov import (
        CircuitWeights,
        circuit_weights,
        composition_scores,
        full_ov_circuit,
        full_qk_circuit,
        ov_copying_scores,
    )
    from interp.analysis.core.cache import Activations, cache_activations, estimate_bytes
    from interp.analysis.core.interventions import MeanAblation, Patch, ResampleAblation, ZeroAblation, apply, run_with
    from interp.analysis.core.metrics import LogitDiff, logit_diff, normalise, per_token_loss
    from interp.analysis.edges.acdc import acdc
    from interp.analysis.edges.attribution import edge_attribution
    from interp.analysis.edges.circuit import Circuit
    from interp.analysis.edges.exact import edge_patching
    from interp.analysis.edges.faithfulness import faithfulness, faithfulness_curve
    from interp.analysis.edges.files import load_timeline, save_timeline
    from interp.analysis.edges.graph import Graph
    from interp.analysis.edges.scores import EdgeScores
    from interp.analysis.edges.timeline import CircuitTimeline, circuit_timeline, select_checkpoints
    from interp.analysis.induction.head_classes import classify_heads
    from interp.analysis.induction.head_scores import HeadScores
    from interp.analysis.induction.phase import PhaseChange, detect_phase_change
    from interp.analysis.induction.probes import InductionProbe, icl_score, induction_loss, make_probe
    from interp.analysis.induction.series import InductionSeries, evaluate_model, evaluate_series, probe_for_run
    from interp.analysis.lens.files import load_lens, save_lens
    from interp.analysis.lens.metrics import LensMetrics, lens_metrics
    from interp.analysis.lens.series import LensSeries, lens_series
    from interp.analysis.lens.training import train_tuned_lens
    from interp.analysis.lens.translators import TunedLens
    from interp.analysis.logit_attribution.decompose import direct_logit_attribution
    from interp.analysis.logit_attribution.directions import LogitDirection, task_direction, token_direction
    from interp.analysis.logit_attribution.result import LogitAttribution
    from interp.analysis.logit_attribution.series import AttributionSeries, attribution_series
    from interp.analysis.patching.activation import PatchingResult, activation_patching
    from interp.analysis.patching.attribution import attribution_patching
    from interp.analysis.patching.path import PathPatchingResult, path_patching
    from interp.analysis.sae.config import SAEConfig
    from interp.analysis.sae.dictionary import SparseDictionary
    from interp.analysis.sae.evaluation import DictionaryEvaluation, evaluate_dictionary
    from interp.analysis.sae.feature_timeline import feature_timeline
    from interp.analysis.sae.features import feature_activations, feature_summaries
    from interp.analysis.sae.files import load_dictionary, save_dictionary
    from interp.analysis.sae.matching import match_features
    from interp.analysis.sae.series import series_timeline, train_series
    from interp.analysis.sae.splice import Splice
    from interp.analysis.sae.token_features import token_feature_scores
    from interp.analysis.sae.training import train_dictionary
    from interp.analysis.summaries.attention import attention_summary
    from interp.model.sites import Site, SiteError
