//! The RNG of data order and augmentation, shared with the views of `distill-data`.
pub use distill_data::SplitMix64;
