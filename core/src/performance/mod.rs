//! Model performance in production: *estimated* from the scores before labels arrive
//! (confidence-based performance estimation, CBPE, as NannyML 0.13.1 does it) and
//! *realized* once delayed ground truth arrives (`/feedback` labels joined to logged
//! predictions by request id).
//!
//! Pure: rows in, numbers out, no IO. The reference implementations and the golden
//! tests (`core/tests/performance_golden.rs`, fixtures written by
//! `core/tests/fixtures/performance/make_fixtures.py`):
//!
//! | here | reference |
//! | --- | --- |
//! | [`IsotonicRegression`] | `sklearn.isotonic.IsotonicRegression(out_of_bounds="clip")` 1.5 |
//! | [`needs_calibration`], [`stratified_shuffle_splits`] | `nannyml.calibration.needs_calibration`, `StratifiedShuffleSplit(10, test_size=0.1, random_state=42)` |
//! | [`Cbpe`] | `nannyml.CBPE(problem_type="classification_binary")` 0.13.1 |
//! | [`realize`] | scikit-learn metrics; Wilson intervals as `statsmodels` `proportion_confint(method="wilson")` |
//! | [`LabelJoin`] | a pandas merge of the same records |

mod calibration;
mod cbpe;
mod check;
mod chunk;
mod error;
mod isotonic;
mod join;
mod lookback;
mod metric;
mod mt19937;
mod realized;
mod report;
mod sampling;

pub use calibration::{
    choose_calibrator, needs_calibration, stratified_shuffle_splits, CalibrationDecision,
    CalibrationReason, Calibrator,
};
pub use cbpe::{
    Cbpe, CbpeParams, ChunkEstimate, MetricEstimate, Thresholds, MIN_REFERENCE_ROWS,
    SAMPLING_ERROR_RANGE, THRESHOLD_STD_MULTIPLIER,
};
pub use check::{
    assess_window, CheckPerformance, EarlierWindow, MaturedBrief, MaturedWindow, MetricValue,
    PerformanceBrief, Relabelled, WindowState, DEFAULT_REFERENCE_CHUNKS, INSUFFICIENT_LABELS,
};
pub use chunk::Chunking;
pub use error::PerformanceError;
pub use isotonic::IsotonicRegression;
pub use join::{JoinCounts, JoinParams, LabelJoin, LabelMatcher, LabelRecord, PredictionRecordRef};
pub use lookback::{
    decode_labelled, decode_scored, encode_labelled, encode_scored, merge_labelled, FormatError,
    Joined, KeyedRow, Lookback, Merged, PendingLabel, ScoredPrediction,
};
pub use metric::{Confusion, LabelledRow, Metric, ScoredRow};
pub use mt19937::RandomState;
pub use realized::{realize, Interval, RealizedMetric, RealizedPerformance, RealizedRefusal};
pub use report::{
    window, MaybeLabelledRow, MetricGap, PerformanceReport, ReferenceSummary, WindowPerformance,
    GAP_STANDARD_ERRORS, GAP_WINDOWS,
};
pub use sampling::{component as sampling_error_component, ErrorComponent};
