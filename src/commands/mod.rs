pub mod cache_logits;
pub mod eval;
pub mod inspect;
pub mod train_student;
