use std::path::PathBuf;

/// Everything that can go wrong with ONNX Runtime and a model; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A sample that could not be read while its batch was built (an image file changed or
    /// gone since the split was read).
    #[error("reading the data")]
    Data(#[from] distill_data::DataError),
    /// Files of a streamed split that changed since an earlier run cached them: the cache
    /// would mix logits of two versions of the data.
    #[error(
        "{cache}: {part} was cached from files that have changed since (the same names, sizes and labels, other bytes: content {recorded} then, {now} now); rewrite the cache from the data as it is now",
        cache = .cache.display()
    )]
    DataChanged {
        /// The cache directory.
        cache: PathBuf,
        /// The part whose samples changed.
        part: String,
        /// The content hash recorded with the part.
        recorded: String,
        /// The content hash of its samples now.
        now: String,
    },
    /// No `libonnxruntime.so` where it was looked for.
    #[error("ONNX Runtime library not found (looked in: {searched})")]
    RuntimeNotFound {
        /// The places looked in.
        searched: String,
    },
    /// The library was found but could not be loaded.
    #[error("cannot load ONNX Runtime from {path}", path = .path.display())]
    RuntimeLoad {
        /// The library.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A model file that is missing or not a model ONNX Runtime accepts.
    #[error("cannot open ONNX model {path}", path = .path.display())]
    Open {
        /// The model file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ort::Error,
    },
    /// A file that could not be read.
    #[error("cannot read {path}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A model whose inputs or outputs distill cannot use.
    #[error("{path}: {reason}", path = .path.display())]
    Shape {
        /// The model file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// A model input that the preprocessed data does not fill.
    #[error(
        "{path}: input '{input}' has shape {expected} but the preprocessed data is {got}",
        path = .path.display()
    )]
    InputMismatch {
        /// The model file.
        path: PathBuf,
        /// The input's name.
        input: String,
        /// Its declared shape.
        expected: String,
        /// The shape of the preprocessed samples.
        got: String,
    },
    /// Model metadata that cannot be read.
    #[error("{path}: metadata '{key}' is not valid", path = .path.display())]
    Metadata {
        /// The model file.
        path: PathBuf,
        /// The metadata key.
        key: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A preprocessing that does not fit the data.
    #[error("preprocessing for {path}", path = .path.display())]
    Preprocess {
        /// The model file.
        path: PathBuf,
        /// Why.
        #[source]
        source: distill_data::PreprocessError,
    },
    /// A session run that failed.
    #[error("running {path} failed", path = .path.display())]
    Run {
        /// The model file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ort::Error,
    },
    /// A model output that is neither float32 nor float64.
    #[error("{path}: output #{output} is neither a float32 nor a float64 tensor", path = .path.display())]
    OutputType {
        /// The model file.
        path: PathBuf,
        /// The output's index.
        output: usize,
    },
    /// A teacher output that is NaN or infinite.
    #[error(
        "{path} produced {value} for sample id {sample_id}; refusing to cache non-finite logits",
        path = .path.display()
    )]
    NonFinite {
        /// The model file.
        path: PathBuf,
        /// The first sample with a non-finite output.
        sample_id: u64,
        /// The value.
        value: f32,
    },
    /// An output read as probabilities (or log-probabilities) that does not hold them.
    #[error(
        "{path}: output '{output}' does not hold {kind} for sample id {sample_id}: {reason}; read it as what it holds (logits, probs or log-probs)",
        path = .path.display()
    )]
    NotProbabilities {
        /// The model file.
        path: PathBuf,
        /// The output.
        output: String,
        /// What it was read as.
        kind: distill_cache::OutputKind,
        /// The first sample whose row is not one.
        sample_id: u64,
        /// What the row holds.
        reason: String,
    },
    /// A GPU asked of a library without the CUDA execution provider (the CPU build).
    #[error(
        "{library} has no CUDA execution provider: it is a CPU build of ONNX Runtime, and a GPU needs the GPU build (the onnxruntime-gpu wheel's library, with its CUDA provider and libraries beside it; or ORT_DYLIB_PATH pointing at one)",
        library = .library.display()
    )]
    NoCudaProvider {
        /// The ONNX Runtime library loaded.
        library: PathBuf,
    },
    /// No GPU to run on: the NVIDIA driver is missing, or does not see the GPU asked for.
    #[error("no CUDA GPU: {0}")]
    NoGpu(String),
    /// A CUDA library set up beside ONNX Runtime that does not load.
    #[error("cannot load the CUDA library {path}: {reason}", path = .path.display())]
    CudaLibrary {
        /// The library.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The CUDA execution provider that did not start (no GPU, no driver, a CUDA or cuDNN
    /// library missing): ONNX Runtime's message names what it could not load.
    #[error("cannot run {path} on {device} with ONNX Runtime's CUDA execution provider", path = .path.display())]
    Cuda {
        /// The model file.
        path: PathBuf,
        /// The device asked for.
        device: distill_data::ComputeDevice,
        /// ONNX Runtime's error.
        #[source]
        source: ort::Error,
    },
    /// A setting that cannot be used (`batch_size`, `rows_per_part`).
    #[error("{reason}")]
    Setting {
        /// The setting at fault.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The stage-one pipeline broke down.
    #[error("cache-logits pipeline: {0}")]
    Pipeline(String),
    /// The cache being written.
    #[error(transparent)]
    Cache(#[from] distill_cache::CacheError),
}
