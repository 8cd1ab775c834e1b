//! `fuzz`: runs generated inputs through the parsers that take outside input.
//!
//! ```sh
//! cargo run --release -p fuzz -- --target all --inputs 1000000
//! cargo run --release -p fuzz -- --target webhook --inputs 200000 --seed 7
//! ```
//! Prints, per target, the inputs run, how many the code accepted and the time; exits non-zero
//! if any input failed (each kept under `fuzz/crashes/<target>/`, with a `.why` beside it).

use std::time::Instant;

use anyhow::{bail, Context};

fn main() -> anyhow::Result<()> {
    let mut target = "all".to_owned();
    let mut inputs = 100_000u64;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--target" => target = value()?,
            "--inputs" => inputs = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            other => bail!("unknown argument {other}; use --target NAME|all --inputs N --seed S"),
        }
    }
    let targets: Vec<&str> = match target.as_str() {
        "all" => fuzz::TARGETS.to_vec(),
        one => vec![one],
    };
    let crashes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes");
    let mut failed = 0;
    for t in targets {
        let started = Instant::now();
        let report = fuzz::run(t, inputs, seed, &crashes)?;
        println!(
            "{:<9} {:>9} inputs  {:>9} accepted  {:>4} failures  {:>7.1} s",
            report.target,
            report.inputs,
            report.accepted,
            report.failures.len(),
            started.elapsed().as_secs_f64()
        );
        for f in &report.failures {
            println!("  kept {}", f.display());
        }
        failed += report.failures.len();
    }
    if failed > 0 {
        bail!("{failed} inputs failed");
    }
    Ok(())
}
