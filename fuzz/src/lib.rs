//! Generated-input fuzzing of every parser that takes outside input. Each target starts from
//! a seed corpus kept in `fuzz/corpus/<target>/` (Meta's spec examples among the webhook
//! seeds), mutates seeds byte by byte and, for JSON, node by node, and runs each input through
//! the real code: a panic (or, for the API, a 500) is a failure, kept in
//! `fuzz/crashes/<target>/` to replay. Not coverage-guided: libFuzzer needs a nightly
//! toolchain and instrumentation this project's test command does not install; a fixed seed
//! makes every run reproducible instead.

pub mod mutate;
pub mod targets;

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;

/// The targets, by the names the command takes.
pub const TARGETS: [&str; 4] = ["webhook", "csv", "payments", "api"];

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub target: String,
    pub inputs: u64,
    /// Inputs the code under test accepted (parsed, or answered 2xx).
    pub accepted: u64,
    pub failures: Vec<PathBuf>,
}

/// The seed corpus of `target`.
pub fn corpus(target: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut seeds = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        seeds.push(std::fs::read(entry.path())?);
    }
    anyhow::ensure!(!seeds.is_empty(), "no seeds in {}", dir.display());
    Ok(seeds)
}

/// Runs `inputs` generated inputs through `target`, from `seed` (the same seed, the same
/// inputs). Failures are written under `crashes` and listed in the report.
pub fn run(target: &str, inputs: u64, seed: u64, crashes: &Path) -> anyhow::Result<Report> {
    let seeds = corpus(target)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut check = targets::Target::new(target)?;
    let mut report = Report {
        target: target.to_owned(),
        ..Default::default()
    };
    // Quiet: a panic is caught, reported and kept; its message would only flood the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for n in 0..inputs {
        let input = match n < seeds.len() as u64 {
            true => seeds[n as usize].clone(),
            false => mutate::mutate(&mut rng, &seeds, check.json()),
        };
        report.inputs += 1;
        match check.run(&input) {
            Ok(true) => report.accepted += 1,
            Ok(false) => {}
            Err(why) => {
                let dir = crashes.join(target);
                std::fs::create_dir_all(&dir)?;
                let path = dir.join(format!("{seed}-{n}"));
                std::fs::write(&path, &input)?;
                std::fs::write(path.with_extension("why"), why)?;
                report.failures.push(path);
            }
        }
    }
    std::panic::set_hook(hook);
    Ok(report)
}
