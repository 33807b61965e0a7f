/// A preprocessing that cannot be applied: the setting (a field of
/// [`Preprocess`](crate::Preprocess)) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("preprocessing setting `{setting}`: {reason}")]
pub struct PreprocessError {
    /// The field of `Preprocess` at fault (`resize`, `mean`, …).
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl PreprocessError {
    pub(crate) fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        PreprocessError {
            setting,
            reason: reason.into(),
        }
    }
}
