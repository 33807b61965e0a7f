//! The grid file (TOML): which students a sweep trains.
//!
//! ```toml
//! seeds = [1, 2]            # top-level keys are defaults for every [[grid]] block
//! epochs = 10
//! batch_size = 256
//!
//! [[grid]]                  # a block: the cross product arch × temperature × alpha
//! arch = ["mlp:128", "cnn:8,16"]
//! temperature = [2, 4]
//! alpha = [0.5, 0.9]
//!
//! [[grid]]
//! arch = ["cnn:8,16,32"]
//! temperature = [2]
//! alpha = [0.5]
//! epochs = 6                # a block overrides any default
//! ```
//!
//! Without `[[grid]]` blocks the top level is the one block. For every architecture (and
//! training setting) the hard-label baseline, alpha = 0, is added automatically. Every
//! mistake is reported with its line.

use std::path::Path;

use distill_student::{ArchSpec, HardLoss};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::SweepError;

/// The training settings a configuration shares with its hard-label baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub hard_loss: HardLoss,
}

/// The distillation settings of a configuration (none: the hard-label baseline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KdSettings {
    pub temperature: f64,
    pub alpha: f64,
    pub t2_scaling: bool,
}

/// One row of the report: a student and how it is trained, over several seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    pub arch: ArchSpec,
    pub train: TrainSettings,
    pub kd: Option<KdSettings>,
    pub seeds: Vec<u64>,
}

impl Configuration {
    /// `hard`, or `T2-a0.5` (plus `-noT2` without T² scaling).
    pub fn kd_tag(&self) -> String {
        match &self.kd {
            None => "hard".into(),
            Some(kd) => format!(
                "T{}-a{}{}",
                kd.temperature,
                kd.alpha,
                if kd.t2_scaling { "" } else { "-noT2" }
            ),
        }
    }

    /// `e10-b256-lr0.001-wd0.0001` (plus `-mse` for the MSE hard term).
    pub fn train_tag(&self) -> String {
        let t = &self.train;
        format!(
            "e{}-b{}-lr{}-wd{}{}",
            t.epochs,
            t.batch_size,
            t.lr,
            t.weight_decay,
            if t.hard_loss == HardLoss::Mse {
                "-mse"
            } else {
                ""
            }
        )
    }

    /// Whether `other` is this configuration's hard-label baseline.
    pub fn baseline_is(&self, other: &Configuration) -> bool {
        other.kd.is_none() && other.arch == self.arch && other.train == self.train
    }
}

/// A parsed and checked grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub configurations: Vec<Configuration>,
}

type List<T> = Spanned<Vec<Spanned<T>>>;

/// Declares the keys a block and the top level share once, for both structs.
macro_rules! settings {
    ($($field:ident: $ty:ty),* $(,)?) => {
        #[derive(Deserialize, Default, Clone)]
        #[serde(deny_unknown_fields)]
        struct Block {
            $($field: Option<$ty>,)*
        }

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct GridFile {
            $($field: Option<$ty>,)*
            #[serde(default)]
            grid: Vec<Spanned<Block>>,
        }

        impl GridFile {
            /// The defaults and the blocks.
            fn split(self) -> (Block, Vec<Spanned<Block>>) {
                (Block { $($field: self.$field,)* }, self.grid)
            }
        }

        impl Block {
            /// This block's keys, falling back to `defaults` for the ones it does not set.
            fn or(self, defaults: &Block) -> Block {
                Block { $($field: self.$field.or_else(|| defaults.$field.clone()),)* }
            }
        }
    };
}

settings! {
    arch: List<String>,
    temperature: List<f64>,
    alpha: List<f64>,
    seeds: List<i64>,
    epochs: Spanned<i64>,
    batch_size: Spanned<i64>,
    lr: Spanned<f64>,
    weight_decay: Spanned<f64>,
    hard_loss: Spanned<String>,
    t2_scaling: Spanned<bool>,
}

/// Defaults of the training settings a grid leaves out (those of `train-student`).
const DEFAULT_EPOCHS: usize = 10;
const DEFAULT_BATCH: usize = 128;
const DEFAULT_LR: f64 = 1e-3;
const DEFAULT_WEIGHT_DECAY: f64 = 1e-4;

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn error<T>(
        &self,
        span: std::ops::Range<usize>,
        reason: impl Into<String>,
    ) -> Result<T, SweepError> {
        Err(SweepError::Grid {
            path: self.path.to_path_buf(),
            line: self.line(span.start),
            reason: reason.into(),
        })
    }

    /// A list that must name at least one value.
    fn list<'l, T>(
        &self,
        list: &'l Option<List<T>>,
        key: &str,
        block: &Spanned<Block>,
    ) -> Result<&'l [Spanned<T>], SweepError> {
        match list {
            Some(l) if l.get_ref().is_empty() => {
                self.error(l.span(), format!("empty grid: `{key}` lists no values"))
            }
            Some(l) => Ok(l.get_ref()),
            None => self.error(
                block.span(),
                format!("empty grid: the block sets no `{key}`"),
            ),
        }
    }

    fn at_least(
        &self,
        value: &Option<Spanned<i64>>,
        key: &str,
        min: i64,
        default: usize,
    ) -> Result<usize, SweepError> {
        match value {
            None => Ok(default),
            Some(v) if *v.get_ref() >= min => Ok(*v.get_ref() as usize),
            Some(v) => self.error(
                v.span(),
                format!("`{key}` must be at least {min}, got {}", v.get_ref()),
            ),
        }
    }

    fn positive_f64(
        &self,
        value: &Option<Spanned<f64>>,
        key: &str,
        default: f64,
        zero_ok: bool,
    ) -> Result<f64, SweepError> {
        match value {
            None => Ok(default),
            Some(v) => {
                let x = *v.get_ref();
                if x.is_finite() && (x > 0.0 || (zero_ok && x == 0.0)) {
                    Ok(x)
                } else {
                    let bound = if zero_ok { ">= 0" } else { "> 0" };
                    self.error(v.span(), format!("`{key}` must be {bound}, got {x}"))
                }
            }
        }
    }
}

impl Grid {
    /// Reads and checks the grid file at `path`.
    pub fn read(path: &Path) -> Result<Grid, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|e| SweepError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Grid::parse(path, &text)
    }

    /// Parses grid `text`; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Grid, SweepError> {
        let src = Source { path, text };
        let file: GridFile = toml::from_str(text).map_err(|e| SweepError::Grid {
            path: path.to_path_buf(),
            line: e.span().map_or(1, |s| src.line(s.start)),
            reason: e.message().trim().to_string(),
        })?;
        let (defaults, blocks) = file.split();
        let blocks = if blocks.is_empty() {
            vec![Spanned::new(0..0, defaults.clone())]
        } else {
            if let Some(arch) = &defaults.arch {
                return src.error(arch.span(), "`arch` at the top level is ignored when there are [[grid]] blocks: move it into a block");
            }
            blocks
        };
        let mut configurations: Vec<Configuration> = Vec::new();
        for block in &blocks {
            let span = block.span();
            let merged = block.get_ref().clone().or(&defaults);
            let b = Spanned::new(span, merged);
            for c in src.block(&b)? {
                add(&mut configurations, c);
            }
        }
        Ok(Grid { configurations })
    }

    /// Every run: each configuration once per seed, in grid order.
    pub fn runs(&self) -> Vec<(usize, u64)> {
        self.configurations
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.seeds.iter().map(move |&s| (i, s)))
            .collect()
    }
}

/// Adds `c` to the list, merging its seeds into an equal configuration already there.
fn add(list: &mut Vec<Configuration>, c: Configuration) {
    let same = |o: &Configuration| o.arch == c.arch && o.train == c.train && o.kd == c.kd;
    match list.iter_mut().find(|o| same(o)) {
        Some(o) => {
            for s in c.seeds {
                if !o.seeds.contains(&s) {
                    o.seeds.push(s);
                }
            }
            o.seeds.sort_unstable();
        }
        None => list.push(c),
    }
}

impl Source<'_> {
    /// The configurations of one block: per architecture the baseline, then T × alpha.
    fn block(&self, b: &Spanned<Block>) -> Result<Vec<Configuration>, SweepError> {
        let block = b.get_ref();
        let mut archs = Vec::new();
        for a in self.list(&block.arch, "arch", b)? {
            match a.get_ref().parse::<ArchSpec>() {
                Ok(spec) => archs.push(spec),
                Err(e) => return self.error(a.span(), e.to_string()),
            }
        }
        let mut alphas = Vec::new();
        for a in self.list(&block.alpha, "alpha", b)? {
            let x = *a.get_ref();
            if !(0.0..=1.0).contains(&x) {
                return self.error(a.span(), format!("alpha {x} is outside [0, 1]"));
            }
            alphas.push(x);
        }
        let mut temperatures = Vec::new();
        if alphas.iter().any(|&a| a > 0.0) || block.temperature.is_some() {
            for t in self.list(&block.temperature, "temperature", b)? {
                let x = *t.get_ref();
                if !(x > 0.0 && x.is_finite()) {
                    return self.error(
                        t.span(),
                        format!("temperature {x} must be a positive number"),
                    );
                }
                temperatures.push(x);
            }
        }
        let mut seeds = Vec::new();
        match &block.seeds {
            None => seeds.push(1),
            Some(_) => {
                for s in self.list(&block.seeds, "seeds", b)? {
                    let x = *s.get_ref();
                    if x < 0 {
                        return self.error(s.span(), format!("seed {x} must be >= 0"));
                    }
                    if !seeds.contains(&(x as u64)) {
                        seeds.push(x as u64);
                    }
                }
            }
        }
        let hard_loss = match &block.hard_loss {
            None => HardLoss::Ce,
            Some(h) => match h.get_ref().parse::<HardLoss>() {
                Ok(h) => h,
                Err(_) => {
                    return self.error(
                        h.span(),
                        format!("hard_loss '{}' is not \"ce\" or \"mse\"", h.get_ref()),
                    );
                }
            },
        };
        let train = TrainSettings {
            epochs: self.at_least(&block.epochs, "epochs", 1, DEFAULT_EPOCHS)?,
            // Batch-norm needs two samples for batch statistics.
            batch_size: self.at_least(&block.batch_size, "batch_size", 2, DEFAULT_BATCH)?,
            lr: self.positive_f64(&block.lr, "lr", DEFAULT_LR, false)?,
            weight_decay: self.positive_f64(
                &block.weight_decay,
                "weight_decay",
                DEFAULT_WEIGHT_DECAY,
                true,
            )?,
            hard_loss,
        };
        let t2_scaling = block.t2_scaling.as_ref().is_none_or(|t| *t.get_ref());
        let mut out = Vec::new();
        for arch in archs {
            let config = |kd| Configuration {
                arch: arch.clone(),
                train: train.clone(),
                kd,
                seeds: seeds.clone(),
            };
            add(&mut out, config(None));
            for &temperature in &temperatures {
                for &alpha in alphas.iter().filter(|&&a| a > 0.0) {
                    add(
                        &mut out,
                        config(Some(KdSettings {
                            temperature,
                            alpha,
                            t2_scaling,
                        })),
                    );
                }
            }
        }
        Ok(out)
    }
}
