//! Raw f32 buffers of Flex tensors for the handwritten kernels (`conv`, `bn_relu`,
//! `pool2x2`), and a per-thread scratch buffer so a kernel's workers do not allocate (and
//! zero) a fresh buffer for every piece of work rayon hands them.

use std::cell::RefCell;

use burn::backend::flex::FlexTensor;
use burn::backend::{DType, TensorData};

/// A contiguous f32 copy of `t`, or `t` itself (O(1)) when it already is one.
pub fn contiguous_f32(t: &FlexTensor, op: &str) -> FlexTensor {
    assert_eq!(t.dtype(), DType::F32, "{op}: only f32 is supported");
    t.to_contiguous()
}

/// The values of a contiguous f32 tensor.
pub fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32")
}

/// The values of any f32 tensor, copied.
pub fn vector(t: &FlexTensor) -> Vec<f32> {
    slice(&t.to_contiguous()).to_vec()
}

/// The shape of a 4-d tensor.
pub fn dims4(t: &FlexTensor) -> [usize; 4] {
    t.layout().shape().dims::<4>()
}

/// A tensor of `shape` holding `values`.
pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `len` values (contents unspecified). `f` must
/// not call back into a kernel that uses the scratch buffer.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < len {
            s.resize(len, 0.0);
        }
        f(&mut s[..len])
    })
}
