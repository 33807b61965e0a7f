//! `distill`: offline knowledge distillation. A thin CLI over the library crates: flags,
//! printing and wiring live here; all domain logic lives in `crates/`.

mod commands;
mod either;
mod hints;
mod interrupt;
mod loading;
mod progress;
mod remote;
mod shard;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "distill", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an ONNX teacher over a dataset split and cache its raw logits as Parquet.
    CacheLogits(commands::cache_logits::Args),
    /// Train a student model; with no cache this is plain supervised training on the labels.
    TrainStudent(Box<commands::train_student::Args>),
    /// Accuracy, latency, size and parameter count of an ONNX model on a dataset.
    Eval(commands::eval::Args),
    /// What a logit cache holds: rows, classes, size, teacher, dataset, completeness, and
    /// the teacher's accuracy on the cached labels.
    Inspect(commands::inspect::Args),
    /// Train a grid of students (architectures x temperatures x alphas x seeds) from one
    /// cache, with a hard-label baseline per architecture; report accuracy, size and
    /// latency against the teacher, the Pareto front, and the best student for a budget.
    /// `distill sweep report DIR` rewrites the report from the finished runs.
    Sweep(Box<commands::sweep::Args>),
}

fn main() {
    let cli = Cli::parse();
    interrupt::install();
    let result = match cli.command {
        Command::CacheLogits(args) => commands::cache_logits::run(args),
        Command::TrainStudent(args) => commands::train_student::run(*args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Sweep(args) => commands::sweep::run(*args),
    };
    if let Err(err) = result {
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        for hint in hints::for_error(&err) {
            eprintln!("  hint: {hint}");
        }
        std::process::exit(1);
    }
}
