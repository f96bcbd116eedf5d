//! What a request asks for: the nine intents the router's classifier answers
//! (`layerr::routing::intent`), plus `embedding` for embeddings requests, which are not
//! classified. Recorded on `RequestReceived` (a closed vocabulary since version 1.1; version 1.0
//! wrote the same lowercase strings as free text).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of intents the classifier answers (every variant but [`Intent::Embedding`]).
pub const N_CLASSIFIED: usize = 9;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Intent {
    /// Writing, fixing, explaining or reviewing code; build and tooling problems.
    Coding = 0,
    /// Analysis, comparison, trade-offs, "why" questions, logic puzzles.
    Reasoning = 1,
    /// Calculation, equations, proofs, probability and statistics.
    Math = 2,
    /// Stories, poems, lyrics, slogans, brainstorming.
    Creative = 3,
    /// Shortening or recapping a given text.
    Summarization = 4,
    /// Pulling fields, entities or structured data out of a given text.
    Extraction = 5,
    /// Turning text from one human language into another.
    Translation = 6,
    /// Assigning labels, categories or sentiment.
    Classification = 7,
    /// Greetings, small talk, everyday questions: the classifier's fallback.
    Chat = 8,
    /// An embeddings request (`/v1/embeddings`): never classified.
    Embedding = 9,
}

impl Intent {
    /// Every intent the classifier answers, in index order (`CLASSIFIED[i] as usize == i`).
    pub const CLASSIFIED: [Intent; N_CLASSIFIED] = [
        Intent::Coding,
        Intent::Reasoning,
        Intent::Math,
        Intent::Creative,
        Intent::Summarization,
        Intent::Extraction,
        Intent::Translation,
        Intent::Classification,
        Intent::Chat,
    ];

    /// Every intent, [`Intent::CLASSIFIED`] first.
    pub const ALL: [Intent; N_CLASSIFIED + 1] = [
        Intent::Coding,
        Intent::Reasoning,
        Intent::Math,
        Intent::Creative,
        Intent::Summarization,
        Intent::Extraction,
        Intent::Translation,
        Intent::Classification,
        Intent::Chat,
        Intent::Embedding,
    ];

    /// The lowercase name, as used in config, serde, events and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Intent::Coding => "coding",
            Intent::Reasoning => "reasoning",
            Intent::Math => "math",
            Intent::Creative => "creative",
            Intent::Summarization => "summarization",
            Intent::Extraction => "extraction",
            Intent::Translation => "translation",
            Intent::Classification => "classification",
            Intent::Chat => "chat",
            Intent::Embedding => "embedding",
        }
    }

    /// Position in [`Intent::ALL`]; below [`N_CLASSIFIED`] it is also the position in
    /// [`Intent::CLASSIFIED`] and in the classifier's score arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the classifier can answer this intent.
    pub const fn is_classified(self) -> bool {
        self.index() < N_CLASSIFIED
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error from parsing an unknown intent name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIntentError(pub String);

impl fmt::Display for ParseIntentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown intent {:?} (expected one of: ", self.0)?;
        for (i, intent) in Intent::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(intent.as_str())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ParseIntentError {}

impl FromStr for Intent {
    type Err = ParseIntentError;

    /// Case-insensitive; surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Intent::ALL
            .into_iter()
            .find(|i| i.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParseIntentError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_recorded_strings_and_parse_back() {
        for (k, i) in Intent::ALL.into_iter().enumerate() {
            assert_eq!(i.index(), k);
            assert_eq!(serde_json::to_value(i).unwrap(), serde_json::json!(i.as_str()));
            assert_eq!(serde_json::from_value::<Intent>(serde_json::json!(i.as_str())).unwrap(), i);
            assert_eq!(format!(" {} ", i.as_str().to_uppercase()).parse::<Intent>(), Ok(i));
        }
        assert_eq!(Intent::CLASSIFIED[..], Intent::ALL[..N_CLASSIFIED]);
        assert!(!Intent::Embedding.is_classified() && Intent::Chat.is_classified());
        let err = "poetry".parse::<Intent>().unwrap_err();
        assert!(err.to_string().starts_with("unknown intent \"poetry\" (expected one of: coding, "), "{err}");
    }
}
