//! A month's Meta-priced messages per day and category as a stacked bar chart, drawn as SVG
//! on the server (no chart library, no script), with the same figures in a table beside it.

use maud::{html, Markup};
use shared::domain::Usage;

const WIDTH: u32 = 620;
const HEIGHT: u32 = 160;
const LEFT: u32 = 36;
const BOTTOM: u32 = 20;

/// Categories in the order they stack, with their colours (distinguishable in greyscale too).
const CATEGORIES: [(&str, &str); 5] = [
    ("marketing", "#0b6e4f"),
    ("utility", "#5aa9e6"),
    ("authentication", "#f0b429"),
    ("service", "#a2a9b1"),
    ("other", "#7a3e9d"),
];

fn slot(category: &str) -> usize {
    CATEGORIES
        .iter()
        .position(|(c, _)| category.eq_ignore_ascii_case(c))
        .unwrap_or(CATEGORIES.len() - 1)
}

pub fn usage_chart(usage: &Usage) -> Markup {
    // Day of the month → messages per category slot.
    let mut days = [[0u64; CATEGORIES.len()]; 31];
    for (day, categories) in &usage.by_day {
        let Some(d) = day.rsplit('-').next().and_then(|d| d.parse::<usize>().ok()) else {
            continue;
        };
        if !(1..=31).contains(&d) {
            continue;
        }
        for (category, count) in categories {
            days[d - 1][slot(category)] += count.billable + count.free;
        }
    }
    let top = days
        .iter()
        .map(|d| d.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = HEIGHT - BOTTOM;
    let bar_w = (WIDTH - LEFT) / 31;
    let total: u64 = days.iter().flatten().sum();
    let summary = format!(
        "{total} messages priced by Meta in {}, by day and category; the table below has the figures.",
        usage.period
    );
    // Each bar's segments, bottom up: (x, y, height, colour, what it counts).
    let mut segments = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let x = LEFT + 1 + i as u32 * bar_w;
        let mut y = plot_h;
        for (slot, n) in day.iter().enumerate().filter(|(_, n)| **n > 0) {
            let h = ((*n as f64 / top as f64) * f64::from(plot_h - 12))
                .ceil()
                .max(1.0) as u32;
            y -= h;
            let what = format!("Day {}: {n} {}", i + 1, CATEGORIES[slot].0);
            segments.push((x, y, h, CATEGORIES[slot].1, what));
        }
    }
    html! {
        figure.chart {
            svg role="img" aria-label=(summary) viewBox={"0 0 " (WIDTH) " " (HEIGHT)} width="100%" {
                line x1=(LEFT) y1="0" x2=(LEFT) y2=(plot_h) stroke="#57606a" {}
                line x1=(LEFT) y1=(plot_h) x2=(WIDTH) y2=(plot_h) stroke="#57606a" {}
                text x="2" y="10" font-size="10" fill="#1b1f23" { (top) }
                text x="2" y=(plot_h) font-size="10" fill="#1b1f23" { "0" }
                @for (x, y, h, colour, what) in &segments {
                    rect x=(x) y=(y) width=(bar_w.saturating_sub(2)) height=(h) fill=(colour) { title { (what) } }
                }
                @for i in (0..31u32).step_by(5) {
                    text x=(LEFT + 1 + i * bar_w) y=(HEIGHT - 6) font-size="10" fill="#1b1f23" { (i + 1) }
                }
            }
            figcaption {
                @for (name, colour) in CATEGORIES {
                    span.key { svg width="10" height="10" aria-hidden="true" { rect width="10" height="10" fill=(colour) {} } " " (name) }
                }
            }
        }
    }
}
