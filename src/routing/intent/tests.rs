//! The classifier on examples, odd input and the labelled set.

use serde::Deserialize;

use super::lexicon::{table, F_HEAD};
use super::*;

fn assert_intent(expected: Intent, cases: &[&str]) {
    for text in cases {
        let c = classify(text);
        assert_eq!(c.intent, expected, "{text:?} -> {c:?}");
    }
}

#[test]
fn coding() {
    assert_intent(
        Intent::Coding,
        &[
            "Write a Rust function that returns the longest word in a sentence.",
            "Fix this please:\n```python\nitems = [1, 2, 3]\nprint(items[3])\n```",
            "How do I undo the last git commit but keep my changes?",
            "TypeError: Cannot read properties of undefined (reading 'map') in my React component",
            "Refactor this class so the database calls are injectable and add unit tests.",
        ],
    );
}

#[test]
fn reasoning() {
    assert_intent(
        Intent::Reasoning,
        &[
            "Why do airlines overbook flights? Think it through step by step.",
            "Compare leasing and buying a car: what are the pros and cons?",
            "If every dentist is a doctor and no doctor is a pilot, can a dentist be a pilot? Explain the logic.",
            "What are the trade-offs of raising the minimum wage?",
        ],
    );
}

#[test]
fn math() {
    assert_intent(
        Intent::Math,
        &[
            "Solve 2x^2 - 8 = 0",
            "What is the probability of getting exactly two heads in three coin tosses?",
            "Compute the integral of 1/x from 1 to e.",
            "Prove that the sum of two even numbers is even.",
            "What is 12% of 250?",
        ],
    );
}

#[test]
fn creative() {
    assert_intent(
        Intent::Creative,
        &[
            "Write a haiku about autumn leaves.",
            "Write a short story about a robot who wants to be a chef.",
            "Give me a catchy slogan for a lemonade stand.",
            "Write song lyrics about a summer road trip.",
        ],
    );
}

#[test]
fn summarization() {
    assert_intent(
        Intent::Summarization,
        &[
            "Summarize this paragraph:\n\nThe council met on Tuesday to discuss the budget. After a long debate it \
             approved a 3% increase for schools and delayed the road repairs until spring.",
            "tl;dr: I bought a used bike, the chain broke on day two, the seller won't answer and the shop wants $80.",
            "What are the key points of this memo?\n\nStarting Monday, all visitors must sign in at reception. \
             Badges must be worn at all times. Parking in the north lot is reserved for staff.",
        ],
    );
}

#[test]
fn extraction() {
    assert_intent(
        Intent::Extraction,
        &[
            "Extract all phone numbers from this text: call 555-1234 or 555-9876 after 6pm.",
            "Return the names and email addresses in this text as JSON: 'Contact Ana (ana@x.org) or Bo (bo@y.com).'",
            "Parse this line into fields: 'ORD-1182 | 2024-05-02 | 3 units | shipped'",
        ],
    );
}

#[test]
fn translation() {
    assert_intent(
        Intent::Translation,
        &[
            "Translate 'good night, sleep well' into Spanish.",
            "Traduce 'buenos días' al inglés.",
            "翻译成英文：今天天气很好。",
            "How do you say 'where is the bathroom' in Italian?",
        ],
    );
}

#[test]
fn classification() {
    assert_intent(
        Intent::Classification,
        &[
            "Classify the sentiment of this review: 'I love this phone, the camera is amazing.'",
            "Categorize this ticket as billing or technical: 'My card was declined twice.'",
            "Is this message spam or not? 'You won a free cruise, reply YES now'",
            "Label each headline with a topic: sports, politics or business.",
        ],
    );
}

#[test]
fn chat() {
    assert_intent(Intent::Chat, &["hello!", "thanks a lot", "how are you doing?", "ok, bye", "good morning :)"]);
}

#[test]
fn empty_and_low_signal_text_is_chat_with_low_confidence() {
    for text in ["", "   \n\t ", "...", "42", "the"] {
        let c = classify(text);
        assert_eq!(c.intent, Intent::Chat, "{text:?} -> {c:?}");
        assert!(c.confidence < 0.5, "{text:?} -> {c:?}");
    }
    assert!(classify("").confidence < 0.3);
}

#[test]
fn clear_requests_are_confident() {
    for text in [
        "Translate this sentence into German: 'The train leaves at noon.'",
        "Summarize the following article in three bullet points:\n\nLorem ipsum dolor sit amet.",
        "```rust\nfn main() { println!(\"hi\"); }\n```\nWhy doesn't this compile?",
    ] {
        assert!(classify(text).confidence > 0.7, "{text:?} -> {:?}", classify(text));
    }
}

#[test]
fn scores_are_probabilities_in_intent_order() {
    for text in ["", "hi", "Solve x + 1 = 3", "Write a poem about rust in Rust", "翻译：你好"] {
        let c = classify(text);
        assert!((0.0..=1.0).contains(&c.confidence));
        let total: f32 = c.scores.iter().map(|(_, p)| p).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        for (k, (intent, p)) in c.scores.iter().enumerate() {
            assert_eq!(*intent, Intent::CLASSIFIED[k]);
            assert!((0.0..=1.0).contains(p));
            assert!(*p <= c.confidence);
        }
        assert_eq!(c.score(c.intent), c.confidence);
        assert_ne!(c.runner_up().0, c.intent);
    }
}

#[test]
fn deterministic() {
    let texts = ["Write a SQL query for the top 3 products", "Why is the sky blue?", "", "Résume ce texte : bla"];
    let first: Vec<_> = texts.iter().map(|t| classify(t)).collect();
    for _ in 0..3 {
        let again: Vec<_> = texts.iter().map(|t| classify(t)).collect();
        assert_eq!(first, again);
    }
    let handles: Vec<_> =
        (0..2).map(|_| std::thread::spawn(move || texts.iter().map(|t| classify(t)).collect::<Vec<_>>())).collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), first);
    }
}

#[test]
fn system_prompt_tilts_but_does_not_override() {
    let question = "How should I handle errors here?";
    let sys = "You are a senior Rust engineer. Answer with idiomatic code.";
    let with = classify_messages(Some(sys), question);
    assert_eq!(with.intent, Intent::Coding, "{with:?}");
    assert!(with.score(Intent::Coding) > classify(question).score(Intent::Coding));
    // A clear user request wins over the system prompt.
    let c = classify_messages(Some(sys), "Translate 'see you tomorrow' into French.");
    assert_eq!(c.intent, Intent::Translation, "{c:?}");
    // No or empty system prompt is the same as classify.
    assert_eq!(classify_messages(None, question), classify(question));
    assert_eq!(classify_messages(Some("  "), question), classify(question));
}

#[test]
fn odd_input_never_panics() {
    // xorshift over a palette of ASCII, multi-byte and tricky characters.
    let palette: Vec<char> =
        "ab xyz=+-*/^(){}[];:'\"`\n\t_.,!?@#0123456789éßñü中文日本語かな한국어Жж£€²√∫«»“”‘’—🙂\u{200b}\r"
            .chars()
            .collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in 0..400 {
        let mut s = String::new();
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push(palette[(state % palette.len() as u64) as usize]);
        }
        let c = classify(&s);
        assert!((0.0..=1.0).contains(&c.confidence), "{s:?}");
        let _ = classify_messages(Some(&s), &s);
    }
    let long_word = "a".repeat(10_000);
    assert_eq!(classify(&long_word).intent, Intent::Chat);
    let big = "Summarize: ".to_owned() + &"the cat sat on the mat. ".repeat(5_000);
    assert_eq!(classify(&big).intent, Intent::Summarization);
}

#[test]
fn names_round_trip() {
    for i in Intent::ALL {
        assert_eq!(i.as_str().parse::<Intent>(), Ok(i));
        assert_eq!(i.as_str().to_uppercase().parse::<Intent>(), Ok(i));
        assert_eq!(i.to_string(), i.as_str());
        assert_eq!(Intent::ALL[i.index()], i);
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(json, format!("\"{}\"", i.as_str()));
        assert_eq!(serde_json::from_str::<Intent>(&json).unwrap(), i);
    }
    assert!("poetry".parse::<Intent>().is_err());
    let c = classify("hi");
    let back: Classification = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back.intent, c.intent);
}

#[test]
fn lexicon_parses() {
    let t = table();
    assert!(t.words.len() > 500);
    assert!(t.words.contains_key("step by"));
    assert!(t.words["step"].flags & F_HEAD != 0);
    assert!(!t.cjk.is_empty() && !t.prefixes.is_empty());
}

/// Accuracy on the labelled set's held-out "test" split. Measured 0.881 (119/135); the bar sits a
/// few points under it so a regression fails here. Tune on "dev" only
/// (`cargo run --release --example intent_accuracy -- --split dev --errors`).
#[test]
fn labelled_test_split_accuracy() {
    #[derive(Deserialize)]
    struct Row {
        text: String,
        intent: Intent,
        split: String,
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/intents/labelled.jsonl");
    let raw = std::fs::read_to_string(path).expect("labelled set");
    let rows: Vec<Row> =
        raw.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.len() >= 240);
    for i in Intent::CLASSIFIED {
        assert!(rows.iter().filter(|r| r.intent == i).count() >= 20, "too few {i}");
    }
    let test: Vec<&Row> = rows.iter().filter(|r| r.split == "test").collect();
    assert!(test.len() >= 100);
    let right = test.iter().filter(|r| classify(&r.text).intent == r.intent).count();
    let accuracy = right as f64 / test.len() as f64;
    assert!(accuracy >= TEST_THRESHOLD, "test-split accuracy {accuracy:.3} < {TEST_THRESHOLD}");
}

const TEST_THRESHOLD: f64 = 0.85;

/// `INTENT_TEXT='...' cargo test explain -- --ignored --nocapture` prints the evidence for a text.
#[test]
#[ignore]
fn explain() {
    let text = std::env::var("INTENT_TEXT").unwrap_or_default();
    let f = scan(&text);
    println!("{f:#?}");
    let s = score(&f);
    for i in Intent::CLASSIFIED {
        println!("{:>15} kw {:6.2}  total {:6.2}", i.as_str(), f.kw[i.index()], s[i.index()]);
    }
    println!("{:?}", classify(&text));
}
