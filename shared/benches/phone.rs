//! Phone number parsing as imports use it (numbering-plan check included), one thread and four
//! threads at once. Run: `cargo bench -p shared --bench phone`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::domain::{PhoneNumber, Region};

/// International and national forms of four countries' numbers, as contact files carry them.
const INPUTS: [(&str, Option<&str>); 8] = [
    ("+5511960000123", None),
    ("+49 151 00012345", None),
    ("+44 7400 123456", None),
    ("+1 212-200-0123", None),
    ("(11) 96000-0123", Some("BR")),
    ("0151 00012345", Some("DE")),
    ("07400 123456", Some("GB")),
    ("212 200 0123", Some("US")),
];

fn parse_all(inputs: &[(&str, Option<Region>)]) -> usize {
    inputs
        .iter()
        .filter(|(s, r)| PhoneNumber::parse(s, *r).is_ok())
        .count()
}

fn bench(c: &mut Criterion) {
    let inputs: Vec<(&str, Option<Region>)> = INPUTS
        .iter()
        .map(|(s, r)| (*s, r.map(|r| Region::parse(r).unwrap())))
        .collect();
    assert_eq!(parse_all(&inputs), inputs.len(), "every input is valid");
    let (international, national) = inputs.split_at(4);
    let mut g = c.benchmark_group("phone");
    g.throughput(Throughput::Elements(4));
    g.bench_function("international_1_thread", |b| {
        b.iter(|| parse_all(international))
    });
    g.bench_function("national_1_thread", |b| b.iter(|| parse_all(national)));
    // Four threads parsing at once, as an import's parse stage does: shows contention.
    g.throughput(Throughput::Elements(4 * 100 * inputs.len() as u64));
    g.bench_function("mixed_4_threads", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| (0..100).map(|_| parse_all(&inputs)).sum::<usize>());
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
