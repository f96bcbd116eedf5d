//! Measure the request-intent classifier against the labelled set.
//!
//! ```text
//! cargo run --release --example intent_accuracy [-- [PATH] [--split dev|test] [--errors]]
//! ```
//!
//! PATH defaults to `data/intents/labelled.jsonl` (one `{"text", "intent", "split"}` object a line).
//! Prints, per split: accuracy, per-intent precision/recall, the confusion matrix and how
//! confidence relates to being right; then the mean classify latency. `--split` restricts the
//! report to one split (tune on `dev`, report `test`); `--errors` lists the misclassified prompts
//! of the reported splits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use layerr::routing::intent::{classify, Intent, N_INTENTS};
use serde::Deserialize;

#[derive(Deserialize)]
struct Example {
    text: String,
    intent: Intent,
    #[serde(default = "default_split")]
    split: String,
}

fn default_split() -> String {
    "all".to_owned()
}

fn main() {
    let mut path: Option<PathBuf> = None;
    let mut only_split: Option<String> = None;
    let mut show_errors = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--split" => only_split = Some(args.next().expect("--split needs dev or test")),
            "--errors" => show_errors = true,
            "-h" | "--help" => {
                println!("usage: intent_accuracy [PATH] [--split dev|test] [--errors]");
                return;
            }
            _ => path = Some(PathBuf::from(a)),
        }
    }
    let path = path.unwrap_or_else(|| {
        let local = PathBuf::from("data/intents/labelled.jsonl");
        if local.exists() {
            local
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/intents/labelled.jsonl")
        }
    });
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut examples = Vec::new();
    for (n, line) in raw.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let ex: Example = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
        examples.push(ex);
    }
    println!("{}: {} examples", path.display(), examples.len());

    let mut by_split: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for ex in &examples {
        if only_split.as_deref().is_none_or(|s| s == ex.split) {
            by_split.entry(ex.split.as_str()).or_default().push(ex);
        }
    }
    for (split, exs) in &by_split {
        report(split, exs, show_errors);
    }

    // Latency: the whole set, repeated for at least a second.
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let (calls, elapsed) = time_calls(&texts, Duration::from_secs(1));
    let per_call = elapsed.as_secs_f64() * 1e6 / calls as f64;
    println!("\nlatency over the set ({} texts, mean {} bytes):", texts.len(), bytes / texts.len().max(1));
    println!(
        "  mean {per_call:.2} µs per classify ({calls} calls), {:.2} µs per KB",
        per_call * 1024.0 / (bytes as f64 / texts.len() as f64)
    );

    // A 1 KB prompt built from the set.
    let mut kb = String::new();
    for t in &texts {
        if kb.len() >= 1024 {
            break;
        }
        kb.push_str(t);
        kb.push('\n');
    }
    let mut cut = 1024.min(kb.len());
    while !kb.is_char_boundary(cut) {
        cut -= 1;
    }
    kb.truncate(cut);
    let (calls, elapsed) = time_calls(&[kb.as_str()], Duration::from_millis(500));
    println!("  1 KB prompt: mean {:.2} µs per classify ({calls} calls)", elapsed.as_secs_f64() * 1e6 / calls as f64);
}

fn time_calls(texts: &[&str], budget: Duration) -> (u64, Duration) {
    for t in texts {
        black_box(classify(black_box(t)));
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for t in texts {
            black_box(classify(black_box(t)));
        }
        calls += texts.len() as u64;
    }
    (calls, start.elapsed())
}

fn report(split: &str, exs: &[&Example], show_errors: bool) {
    let mut confusion = [[0u32; N_INTENTS]; N_INTENTS];
    let mut right = 0usize;
    let (mut conf_right, mut conf_wrong) = (0f64, 0f64);
    // Confidence buckets: [0, .4), [.4, .6), [.6, .8), [.8, 1]
    let mut buckets = [(0u32, 0u32); 4];
    let mut errors = Vec::new();
    for ex in exs {
        let c = classify(&ex.text);
        confusion[ex.intent.index()][c.intent.index()] += 1;
        let ok = c.intent == ex.intent;
        let b = match c.confidence {
            x if x < 0.4 => 0,
            x if x < 0.6 => 1,
            x if x < 0.8 => 2,
            _ => 3,
        };
        buckets[b].0 += 1;
        if ok {
            right += 1;
            conf_right += c.confidence as f64;
            buckets[b].1 += 1;
        } else {
            conf_wrong += c.confidence as f64;
            errors.push((ex, c));
        }
    }
    let n = exs.len();
    let wrong = n - right;
    println!("\n=== split {split}: accuracy {:.1}% ({right}/{n})", 100.0 * right as f64 / n.max(1) as f64);
    println!(
        "mean confidence: {:.2} when right, {:.2} when wrong",
        conf_right / right.max(1) as f64,
        conf_wrong / wrong.max(1) as f64
    );
    print!("accuracy by confidence:");
    for (label, (tot, ok)) in ["<0.4", "0.4-0.6", "0.6-0.8", ">=0.8"].iter().zip(buckets) {
        if tot > 0 {
            print!("  {label}: {:.0}% of {tot}", 100.0 * ok as f64 / tot as f64);
        }
    }
    println!();

    println!("\n{:<15} {:>9} {:>7} {:>5} {:>8}", "intent", "precision", "recall", "f1", "support");
    for i in Intent::CLASSIFIED {
        let k = i.index();
        let tp = confusion[k][k] as f64;
        let support: u32 = confusion[k].iter().sum();
        let predicted: u32 = (0..N_INTENTS).map(|r| confusion[r][k]).sum();
        let p = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
        let r = if support > 0 { tp / support as f64 } else { 0.0 };
        let f1 = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
        println!("{:<15} {:>9.2} {:>7.2} {:>5.2} {:>8}", i.as_str(), p, r, f1, support);
    }

    println!("\nconfusion (rows: labelled, columns: predicted)");
    print!("{:<15}", "");
    for i in Intent::CLASSIFIED {
        print!(" {:>5}", i.as_str().get(..5).unwrap_or(i.as_str()));
    }
    println!();
    for i in Intent::CLASSIFIED {
        print!("{:<15}", i.as_str());
        for j in Intent::CLASSIFIED {
            print!(" {:>5}", confusion[i.index()][j.index()]);
        }
        println!();
    }

    if show_errors && !errors.is_empty() {
        println!("\nerrors in {split}:");
        for (ex, c) in errors {
            let (ru, rp) = c.runner_up();
            let mut text: String = ex.text.chars().take(110).collect::<String>().replace('\n', "⏎");
            if ex.text.chars().count() > 110 {
                text.push('…');
            }
            println!(
                "  {:>14} -> {:<14} {:.2} (then {} {:.2})  {text}",
                ex.intent.as_str(),
                c.intent.as_str(),
                c.confidence,
                ru.as_str(),
                rp
            );
        }
    }
}
