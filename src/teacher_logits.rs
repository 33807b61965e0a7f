//! Joining the cached teacher logits of the training and test splits to their data, shared
//! by `train-student` and `sweep` (the teacher itself is never loaded for training).

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use distill_data::Dataset;
use distill_student::TeacherTargets;

/// The training split's cache joined to `train` (loaded whole within `max_memory`, else
/// streamed) and, if given, the test split's cache joined to `test`; both must come from the
/// same teacher.
pub fn join_caches(
    cache: &Path,
    test_cache: Option<&Path>,
    train: &Dataset,
    test: &Dataset,
    max_memory: u64,
) -> Result<(TeacherTargets, Option<TeacherTargets>)> {
    let started = Instant::now();
    let targets = TeacherTargets::join(cache, train, max_memory)?;
    let sha = &targets.identity.teacher_sha256;
    eprintln!(
        "teacher logits: {} ({} classes, teacher {}, sha256 {}…) {} in {:.2} s",
        cache.display(),
        targets.classes,
        targets.identity.teacher_file,
        &sha[..12.min(sha.len())],
        if targets.is_streamed() {
            "indexed for streaming"
        } else {
            "loaded"
        },
        started.elapsed().as_secs_f64()
    );
    let test_targets = match test_cache {
        Some(dir) => {
            let t = TeacherTargets::join(dir, test, u64::MAX)?;
            if t.identity.teacher_sha256 != targets.identity.teacher_sha256
                || t.classes != targets.classes
            {
                bail!(
                    "--test-cache {} was made by another teacher than --cache {}",
                    dir.display(),
                    cache.display()
                );
            }
            Some(t)
        }
        None => None,
    };
    Ok((targets, test_targets))
}
