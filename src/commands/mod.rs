pub mod cache_logits;
pub mod eval;
pub mod inspect;
pub mod sweep;
pub mod sweep_report;
pub mod train_student;
