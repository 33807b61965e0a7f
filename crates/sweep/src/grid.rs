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
//!
//! A block may distil from another cache than the sweep's: `cache = "DIR"` (a path as on
//! the command line). When that cache holds augmented views (`cache-logits --views K
//! --augment SPEC`), the block's baseline trains with the same augmentation drawn online,
//! so that distillation from views is compared with labels seeing the same images.

use std::path::{Path, PathBuf};

use distill_cache::Manifest;
use distill_data::ViewSpec;
use distill_student::{ArchSpec, HardLoss, KdLoss, Optimisation, StudentError};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::SweepError;

/// One row of the report: a student and how it is trained, over several seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// The student's architecture.
    pub arch: ArchSpec,
    /// Epochs, batch size, learning rate, weight decay: shared with its baseline.
    pub optimisation: Optimisation,
    /// The loss: the hard-label baseline distils with alpha = 0 at T = 1.
    pub loss: KdLoss,
    /// The seeds it is trained with.
    pub seeds: Vec<u64>,
    /// The cache it distils from, when not the sweep's (the block's `cache` key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<PathBuf>,
    /// The augmentation its training sees: the views of its cache when it distils, the
    /// same drawn online when it is the baseline of such a configuration.
    #[serde(default, skip_serializing_if = "ViewSpec::is_empty")]
    pub augment: ViewSpec,
}

/// `crop:0.3-1,flip` → `crop-0.3-1-flip`: a spec as a name part.
fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl Configuration {
    /// Whether this is a hard-label baseline (the distillation term weighs nothing).
    pub fn is_baseline(&self) -> bool {
        self.loss.alpha == 0.0
    }

    /// `hard`, or `T2-a0.5` (plus `-noT2` without T² scaling); a baseline with online
    /// augmentation adds the augmentation, a configuration with its own cache the cache's
    /// folder name.
    pub fn kd_tag(&self) -> String {
        if self.is_baseline() {
            if self.augment.is_empty() {
                return "hard".into();
            }
            return format!("hard-{}", slug(&self.augment.to_string()));
        }
        let kd = &self.loss;
        let cache = match self.cache.as_ref().and_then(|c| c.file_name()) {
            Some(name) => format!("-{}", slug(&name.to_string_lossy())),
            None => String::new(),
        };
        format!(
            "T{}-a{}{}{cache}",
            kd.temperature,
            kd.alpha,
            if kd.t2_scaling { "" } else { "-noT2" }
        )
    }

    /// `e10-b256-lr0.001-wd0.0001` (plus `-mse` for the MSE hard term).
    pub fn train_tag(&self) -> String {
        let t = &self.optimisation;
        format!(
            "e{}-b{}-lr{}-wd{}{}",
            t.epochs,
            t.batch_size,
            t.lr,
            t.weight_decay,
            if self.loss.hard_loss == HardLoss::Mse {
                "-mse"
            } else {
                ""
            }
        )
    }

    /// Whether `other` is this configuration's hard-label baseline.
    pub fn baseline_is(&self, other: &Configuration) -> bool {
        other.is_baseline()
            && other.arch == self.arch
            && other.optimisation == self.optimisation
            && other.loss.hard_loss == self.loss.hard_loss
            && other.augment == self.augment
    }

    /// What a run of it with `seed` trains, in words.
    pub fn describe(&self, seed: u64) -> String {
        let epochs = self.optimisation.epochs;
        if self.is_baseline() {
            let augment = if self.augment.is_empty() {
                String::new()
            } else {
                format!(" augmented online ({})", self.augment)
            };
            return format!(
                "{} hard-label baseline{augment}, {epochs} epochs, seed {seed}",
                self.arch
            );
        }
        let cache = match &self.cache {
            Some(c) => format!(" from {}", c.display()),
            None => String::new(),
        };
        format!(
            "{} distilled (T = {}, alpha = {}){cache}, {epochs} epochs, seed {seed}",
            self.arch, self.loss.temperature, self.loss.alpha
        )
    }
}

/// A parsed and checked grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Every configuration, in grid order: per block and architecture, the baseline first.
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
    cache: Spanned<String>,
}

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

    /// A non-negative integer setting (what it must be beyond that is the run's to say).
    fn count(&self, value: &Option<Spanned<i64>>, key: &str) -> Result<Option<usize>, SweepError> {
        match value {
            None => Ok(None),
            Some(v) => match usize::try_from(*v.get_ref()) {
                Ok(n) => Ok(Some(n)),
                Err(_) => self.error(
                    v.span(),
                    format!("`{key}` must be a count, got {}", v.get_ref()),
                ),
            },
        }
    }

    /// The span of the key the run's check names, for the error's line.
    fn setting_span(block: &Spanned<Block>, setting: &str) -> std::ops::Range<usize> {
        let b = block.get_ref();
        let span = match setting {
            "epochs" => b.epochs.as_ref().map(Spanned::span),
            "batch_size" => b.batch_size.as_ref().map(Spanned::span),
            "lr" => b.lr.as_ref().map(Spanned::span),
            "weight_decay" => b.weight_decay.as_ref().map(Spanned::span),
            _ => None,
        };
        span.unwrap_or_else(|| block.span())
    }

    /// The optimisation settings of a block over the defaults, checked as a run checks them.
    fn optimisation(&self, b: &Spanned<Block>) -> Result<Optimisation, SweepError> {
        let block = b.get_ref();
        let mut o = Optimisation::new();
        if let Some(n) = self.count(&block.epochs, "epochs")? {
            o.epochs = n;
        }
        if let Some(n) = self.count(&block.batch_size, "batch_size")? {
            o.batch_size = n;
        }
        if let Some(v) = &block.lr {
            o.lr = *v.get_ref();
        }
        if let Some(v) = &block.weight_decay {
            o.weight_decay = *v.get_ref();
        }
        match o.validate() {
            Ok(()) => Ok(o),
            Err(StudentError::Setting { setting, reason }) => {
                self.error(Self::setting_span(b, setting), reason)
            }
            Err(e) => self.error(b.span(), e.to_string()),
        }
    }

    /// The error of a loss setting, at the list element that holds it.
    fn check_loss(&self, loss: &KdLoss, span: std::ops::Range<usize>) -> Result<(), SweepError> {
        match loss.validate() {
            Ok(()) => Ok(()),
            Err(e) => self.error(span, e.to_string()),
        }
    }
}

impl Grid {
    /// Reads and checks the grid file at `path`.
    pub fn read(path: &Path) -> Result<Grid, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|e| SweepError::io(path, e))?;
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
    let same = |o: &Configuration| {
        o.arch == c.arch
            && o.optimisation == c.optimisation
            && o.loss == c.loss
            && o.cache == c.cache
            && o.augment == c.augment
    };
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
    /// The architectures of a block.
    fn archs(&self, b: &Spanned<Block>) -> Result<Vec<ArchSpec>, SweepError> {
        let mut archs = Vec::new();
        for a in self.list(&b.get_ref().arch, "arch", b)? {
            match a.get_ref().parse::<ArchSpec>() {
                Ok(spec) => archs.push(spec),
                Err(e) => return self.error(a.span(), e.to_string()),
            }
        }
        Ok(archs)
    }

    /// The distillation losses of a block (temperature × alpha, alpha > 0), each value
    /// checked as a run checks it.
    fn losses(&self, b: &Spanned<Block>, base: &KdLoss) -> Result<Vec<KdLoss>, SweepError> {
        let block = b.get_ref();
        let mut alphas = Vec::new();
        for a in self.list(&block.alpha, "alpha", b)? {
            let alpha = *a.get_ref();
            self.check_loss(
                &KdLoss {
                    alpha,
                    ..base.clone()
                },
                a.span(),
            )?;
            alphas.push(alpha);
        }
        let mut temperatures = Vec::new();
        if alphas.iter().any(|&a| a > 0.0) || block.temperature.is_some() {
            for t in self.list(&block.temperature, "temperature", b)? {
                let temperature = *t.get_ref();
                self.check_loss(
                    &KdLoss {
                        temperature,
                        ..base.clone()
                    },
                    t.span(),
                )?;
                temperatures.push(temperature);
            }
        }
        let mut losses = Vec::new();
        for &temperature in &temperatures {
            for &alpha in alphas.iter().filter(|&&a| a > 0.0) {
                losses.push(KdLoss {
                    temperature,
                    alpha,
                    ..base.clone()
                });
            }
        }
        Ok(losses)
    }

    /// The seeds of a block (1 when it sets none), without repeats.
    fn seeds(&self, b: &Spanned<Block>) -> Result<Vec<u64>, SweepError> {
        if b.get_ref().seeds.is_none() {
            return Ok(vec![1]);
        }
        let mut seeds = Vec::new();
        for s in self.list(&b.get_ref().seeds, "seeds", b)? {
            let seed = u64::try_from(*s.get_ref())
                .or_else(|_| self.error(s.span(), format!("seed {} must be >= 0", s.get_ref())))?;
            if !seeds.contains(&seed) {
                seeds.push(seed);
            }
        }
        Ok(seeds)
    }

    /// The hard-label baseline's loss of a block: alpha = 0, T = 1, its hard term.
    fn baseline_loss(&self, b: &Spanned<Block>) -> Result<KdLoss, SweepError> {
        let block = b.get_ref();
        let hard_loss = match &block.hard_loss {
            None => HardLoss::default(),
            Some(h) => h
                .get_ref()
                .parse::<HardLoss>()
                .or_else(|e| self.error(h.span(), e.to_string()))?,
        };
        Ok(KdLoss {
            temperature: 1.0,
            alpha: 0.0,
            hard_loss,
            t2_scaling: block.t2_scaling.as_ref().is_none_or(|t| *t.get_ref()),
        })
    }

    /// The block's own cache, if it names one, and the augmentation of its views (empty
    /// for a cache of plain images). The cache must be readable now: a typo is found before
    /// any run starts.
    fn cache(&self, b: &Spanned<Block>) -> Result<(Option<PathBuf>, ViewSpec), SweepError> {
        let Some(c) = &b.get_ref().cache else {
            return Ok((None, ViewSpec::default()));
        };
        let path = PathBuf::from(c.get_ref());
        let manifest =
            Manifest::read(&path).or_else(|e| self.error(c.span(), format!("`cache`: {e}")))?;
        let augment = manifest.views.map_or_else(ViewSpec::default, |v| ViewSpec {
            // The baseline draws a new view every epoch: there is no view 0.
            plain_first: false,
            ..v.augment
        });
        Ok((Some(path), augment))
    }

    /// The configurations of one block: per architecture the baseline, then T × alpha.
    fn block(&self, b: &Spanned<Block>) -> Result<Vec<Configuration>, SweepError> {
        let (cache, augment) = self.cache(b)?;
        let archs = self.archs(b)?;
        let baseline = self.baseline_loss(b)?;
        let losses = self.losses(b, &baseline)?;
        let seeds = self.seeds(b)?;
        let optimisation = self.optimisation(b)?;
        let mut out = Vec::new();
        for arch in archs {
            // The baseline always scales by T² (irrelevant at alpha = 0), so one baseline
            // serves blocks that differ only in `t2_scaling`.
            let baseline = KdLoss {
                t2_scaling: true,
                ..baseline.clone()
            };
            for loss in std::iter::once(baseline).chain(losses.iter().cloned()) {
                // The baseline learns from labels only: the sweep's cache serves it (for the
                // agreement it reports), with its block's augmentation drawn online.
                let cache = if loss.alpha == 0.0 {
                    None
                } else {
                    cache.clone()
                };
                add(
                    &mut out,
                    Configuration {
                        arch: arch.clone(),
                        optimisation: optimisation.clone(),
                        loss,
                        seeds: seeds.clone(),
                        cache,
                        augment: augment.clone(),
                    },
                );
            }
        }
        Ok(out)
    }
}
