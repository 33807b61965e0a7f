//! Baseline for `scripts/bench/cache-throughput.sh`: the throughput of a bare loop of
//! `session.run` over batches preprocessed beforehand, on the same teacher, data, batch
//! size and threads as `distill cache-logits`. Prints `{"samples_per_second": X}`.
//!
//! Usage: bare_session_loop TEACHER.onnx KIND:PATH SPLIT LIMIT BATCH THREADS

use std::time::Instant;

use anyhow::{Context, Result};
use distill_data::DatasetSpec;
use distill_runtime::{InferencePlan, OnnxModel, model_preprocess};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [teacher, spec, split, limit, batch, threads] = &args[..] else {
        anyhow::bail!("usage: bare_session_loop TEACHER.onnx KIND:PATH SPLIT LIMIT BATCH THREADS");
    };
    let spec: DatasetSpec = spec.parse()?;
    let mut data = spec.load(split, &Default::default())?;
    data.truncate(limit.parse().context("LIMIT")?);
    let batch: usize = batch.parse().context("BATCH")?;
    let mut model = OnnxModel::open(teacher.as_ref(), Some(threads.parse().context("THREADS")?))?;
    let preprocess = model_preprocess(&model, data.shape)?;
    let plan = InferencePlan::new(&model, &preprocess.input_dims(data.shape), None)?;
    let batch = plan.batch_rows(batch);
    // Every batch is preprocessed before the clock starts.
    let positions: Vec<usize> = (0..data.len()).collect();
    let batches: Vec<(usize, Vec<f32>)> = positions
        .chunks(batch)
        .map(|p| Ok((p.len(), data.batch(&preprocess, p)?)))
        .collect::<Result<_, distill_data::DataError>>()?;
    let started = Instant::now();
    for (rows, values) in &batches {
        plan.run(&mut model, values, *rows)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"samples": data.len(), "seconds": seconds, "samples_per_second": data.len() as f64 / seconds})
    );
    Ok(())
}
