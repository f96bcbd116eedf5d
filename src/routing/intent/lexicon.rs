//! The keyword lexicon and the hash table built from it once. Most of this file is the
//! lexicon itself (data: one line per intent and weight); the table code follows it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::{Intent, N_INTENTS};

/// The keyword lexicon, parsed once into a hash table.
///
/// Each line is `intent weight: entry entry ...`; a word may appear on several lines and its
/// weights add up. An entry is a lowercase word, `a+b` for the two-word phrase "a b" (consecutive
/// words, any punctuation between them), or `prefix*` for any unlisted word starting with `prefix`.
/// Lines starting with `@` set flags instead: `@lang` natural-language names (a strong
/// translation cue after "in/into/to/from"), `@en` English function words, `@foreign` function
/// words of other languages, `@prog` programming languages.
pub const LEXICON: &str = r#"
coding 2.5: refactor* refactor refactoring debug debugging debugger segfault traceback stacktrace regex regexp struct impl fn def
coding 2.5: dockerfile kubernetes k8s clippy valgrind gdb usestate useeffect setstate serialize deserialize
coding 2.5: compile compiler compiling runtime repo println printf cout std boilerplate parcelable
coding 2.0: function functions method methods code coding snippet script scripts implement implementation programming
coding 2.0: api apis endpoint endpoints cli sql query queries database schema git github commit rebase squash diff
coding 2.0: async await callback callbacks unittest pytest workflow docker container nginx yaml toml npm cargo pip
coding 2.0: bug bugs array arrays vec vector hashmap dict linked cache lru class constructor variable variables
coding 2.0: exception null nullptr pointer pointers borrow mutable immutable lifetime trait generic generics
coding 2.0: frontend backend deploy deployment react flask django component handler pandas numpy dataframe
coding 2.0: typescript javascript python rust java kotlin golang cpp csharp ruby php swift scala haskell bash powershell
coding 1.5: error errors panic panics crash crashes fix fails failing loop loops recursion recursive algorithm
coding 1.5: string strings int integer bool boolean type types parameter parameters return import library crate
coding 1.5: tests unit mock server http request response json html css linux terminal command shell xargs gzip
coding 1.5: replicas probe readiness binary optimize performance memory thread threads mutex lock sqlite
coding 1.5: postgres postgresql mongodb redis kafka s3 aws lambda terraform ci pipeline pr diff
coding 2.0: makefile cmake gradle maven div flexbox selector stylesheet slice slices ints floats
coding 1.0: file files csv install build run package version review test testing data structure tree node
coding 2.0: python+function in+c in+go write+tests unit+tests pull+request stack+trace merge+conflict
coding 1.5: función fonction funktion código codigo programa programación programmation
coding 2.5: 代码 函数 内存 读取 编程 报错 程序 コード 関数

reasoning 2.5: why puzzle riddle fallacy dilemma tradeoff tradeoffs trade+offs trade+off pros+and and+cons
reasoning 1.5: and+why
reasoning 2.5: step+by by+step think+through walk+me me+through root+causes would+happen what+if
reasoning 2.0: compare comparing comparison versus vs reasoning logic logical explain+why critique evaluate analyze
reasoning 2.0: analyse analysis flaw flaws valid invalid argument premise premises conclusion therefore deduce infer
reasoning 2.0: consequences implications effects ethical ethics moral assumptions strengths weaknesses should+i
reasoning 2.0: advantages disadvantages pros cons better+for which+would you+choose most+likely explanation
reasoning 2.0: justify and+against
reasoning 1.0: how+would
reasoning 1.5: explain reason reasons cause causes causation correlation implies imply assess judge decide
reasoning 1.5: strategy thesis consider risks diagnose contradiction paradox hypothesis factors
reasoning 1.0: better worse best choose choice option options plan likely think thought who+is
reasoning 2.5: pourquoi warum почему por+qué por+que 为什么 なぜ
reasoning 1.5: explique explica erkläre schritt

math 3.0: equation equations integral integrals derivative derivatives eigenvalues eigenvalue determinant
math 3.0: hypotenuse irrational theorem lemma quadratic polynomial factorial permutations combinations
math 3.0: solve+for differential+equation expected+value standard+deviation confidence+interval compound+interest
math 2.5: solve integrate differentiate limit lim prove proof induction probability probabilities matrix matrices
math 2.5: perimeter variance deviation prime primes divisible gcd lcm cyclic modulo logarithm sine cosine tangent
math 2.5: sin cos tan sqrt dx dy ode calculus algebra geometry trigonometry arithmetic geometric series
math 2.5: slope intercept coordinates
math 2.0: calculate compute simplify factor factors fraction fractions percent percentage ratio mean median
math 2.0: average sum triangle angle angles area volume radius circle diameter dice die
math 2.0: how+many how+much compounded interest
math 0.5: number numbers
math 1.5: digits ways odds chance vector vectors x y n f k
math 1.5: square root cube inverse rational group order
math 3.0: résous équation уравнение решите ecuación gleichung resuelve calcula 方程 求解 计算 積分 微分
math 2.0: résoudre

creative 3.5: poem poems poetry haiku sonnet limerick lyrics jingle slogan slogans tagline taglines
creative 3.0: story stories tale tales verse verses rhyme rhyming rhymes poet ballad monologue screenplay
creative 2.5: fiction novel fantasy sci+fi fairy bedtime toast catchy imagine invent brainstorm compose song
creative 2.5: rap dialogue hero plot creative short+story once+upon love+letter
creative 1.0: write+a
creative 2.0: write+me writing come+up backstory witty playful funny ideas concept concepts pitch names continue
creative 1.5: describe character characters scene narrator voice style rewrite draft description
creative 1.5: tweet thread marketing ad humorous
creative 0.5: write
creative 1.0: letter card message birthday wedding
creative 3.0: poème poema gedicht geschichte histoire cuento canción chanson 诗 詩 故事 物語
creative 1.5: écris escribe schreibe écrire

summarization 4.0: summar* summarize summarise summary summaries summarizing summarization tldr synopsis recap tl+dr
summarization 3.0: condense gist takeaways overview digest shorten sum+up boil+down key+points main+points
summarization 3.0: executive+summary in+short catch+up bullet+points main+arguments main+takeaways
summarization 2.0: brief briefly shorter essentials highlights outline abstract nutshell recap synopsis
summarization 2.0: one+sentence one+paragraph two+sentences few+lines few+bullets gist main+sections
summarization 1.5: transcript article post thread chapter paper passage text plot report notes read
summarization 4.0: résume résumez resumen resume resumir zusammenfassen zusammenfassung fasse 总结 概括 摘要 要約 まとめ
summarization 1.0: kurz essentiel

extraction 4.0: extract extracting extraction extract*
extraction 3.0: parse parsing entities schema fields pull+out pick+out fill+in structured mentioned mentions
extraction 2.5: emails email+addresses phone+numbers urls url dates
extraction 2.0: json csv list+all list+every find+every get+me just+the all+the columns column table
extraction 2.0: resume cv address addresses phone numbers names
extraction 1.5: identify pull capture scrape fill return output into+json as+json each+line item items
extraction 1.0: find list date time number values key value pairs
extraction 4.0: extrae extraer extraire extraiga herausziehen extrahiere 抽出 提取 取り出 извлеки

translation 4.0: translat* translate translated translating translation translations traduce traduis traduza traduire
translation 4.0: traducir traducción tradução traduction übersetze übersetzen übersetzung tradurre traduci
translation 3.0: localize localise localization localisation how+you you+say say+this in+english
translation 2.0: mean+in meaning language languages phrase english+for english+to spanish+to
translation 3.0: 翻译 翻訳 перевод переведи по+английски 英文 英語 英语 inglés anglais englische
translation 1.5: say word words locale

classification 4.0: classify classifying classification categorize categorise categorization sentiment
classification 4.0: classif* categoriz* categoris*
classification 3.0: categories category label labels tag triage toxic spam emotion
classification 2.5: positive+or or+negative spam+or or+not yes+or
classification 2.5: which+category one+word assign priority intent topic sort+into group+into
classification 2.0: positive negative neutral rating rate rank star tone sarcasm scam flag detect
classification 1.5: determine decide+whether whether opinion
classification 2.5: language+of which+language what+language
classification 1.5: each
classification 4.0: clasifica clasificar classifie klassifiziere 分类 分類 感情 ポジティブ ネガティブ
classification 2.5: stimmung positivos negativos positiv negativ 中立 positif négatif

chat 3.0: hi hello hey hiya howdy greetings hola bonjour hallo ciao salut lol lmao bye goodbye thanks thank
chat 3.0: how+are are+you your+name who+are nice+to good+morning good+evening good+night fun+fact 你好 привет
chat 2.5: thx cheers ok okay cool awesome haha hmm bored talk+to joke joke+about
chat 2.0: how+tall weather recommend recommendations advice
chat 1.5: help+me ai cook dinner podcast movie sure nice
chat 0.5: you great book
chat 2.5: qué+tal geht geht+s wie+geht tu+parles

@lang english spanish french german italian portuguese japanese chinese mandarin cantonese korean russian
@lang arabic hindi turkish dutch swedish polish greek thai vietnamese hebrew ukrainian danish norwegian
@lang finnish czech hungarian indonesian malay tagalog swahili persian farsi urdu bengali latin romanian
@lang catalan brazilian
@prog python rust java javascript typescript kotlin golang ruby php swift scala haskell bash sql c go
@en the a an is are was this that these those of to in on for with and or what how it be do does please
@en can could would my me your you from by as at about which when where there into i we
@foreign el la los las del que y por para una es con se lo le les des est et une pour ce je tu sur il
@foreign der die das und ist ich nicht mit zu ein eine bitte auf den dem wir sie um o do da não uma com
@foreign di che il non per sono le och är и в не на что это как
"#;

// ---------------------------------------------------------------------------------------------
// The table.

pub(super) const F_LANG: u8 = 1;
pub(super) const F_EN: u8 = 2;
pub(super) const F_FOREIGN: u8 = 4;
pub(super) const F_PROG: u8 = 8;
/// The word starts some two-word phrase.
pub(super) const F_HEAD: u8 = 16;

#[derive(Clone, Copy, Default)]
pub(super) struct Entry {
    pub(super) w: [f32; N_INTENTS],
    pub(super) flags: u8,
}

pub(super) struct Table {
    pub(super) words: HashMap<Box<str>, Entry, BuildHasherDefault<FxHasher>>,
    pub(super) prefixes: Vec<(&'static str, Entry)>,
    /// Substring keywords for scripts written without spaces (CJK, kana).
    pub(super) cjk: Vec<(&'static str, Entry)>,
}

pub(super) fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| build_table(LEXICON))
}

#[allow(
    clippy::expect_used,
    reason = "the source is LEXICON, a constant of this crate: a malformed line is a bug the lexicon_parses test catches"
)]
fn build_table(src: &'static str) -> Table {
    let mut words: HashMap<Box<str>, Entry, BuildHasherDefault<FxHasher>> = HashMap::default();
    let mut prefixes: Vec<(&'static str, Entry)> = Vec::new();
    let mut cjk: Vec<(&'static str, Entry)> = Vec::new();
    for line in src.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('@') {
            let (flag, list) = rest.split_once(' ').expect("flag line");
            let bit = match flag {
                "lang" => F_LANG,
                "en" => F_EN,
                "foreign" => F_FOREIGN,
                "prog" => F_PROG,
                other => panic!("unknown lexicon flag {other}"),
            };
            for w in list.split_whitespace() {
                words.entry(w.into()).or_default().flags |= bit;
            }
            continue;
        }
        let (head, list) = line.split_once(':').expect("lexicon line needs ':'");
        let (name, weight) = head.split_once(' ').expect("lexicon line needs 'intent weight'");
        let intent: Intent = name.parse().expect("lexicon intent");
        assert!(intent.is_classified(), "the lexicon names an intent the classifier does not answer");
        let weight: f32 = weight.trim().parse().expect("lexicon weight");
        for w in list.split_whitespace() {
            if let Some(p) = w.strip_suffix('*') {
                match prefixes.iter_mut().find(|(k, _)| *k == p) {
                    Some((_, e)) => e.w[intent.index()] += weight,
                    None => {
                        let mut e = Entry::default();
                        e.w[intent.index()] = weight;
                        prefixes.push((p, e));
                    }
                }
            } else if w.chars().any(is_unspaced_script) {
                match cjk.iter_mut().find(|(k, _)| *k == w) {
                    Some((_, e)) => e.w[intent.index()] += weight,
                    None => {
                        let mut e = Entry::default();
                        e.w[intent.index()] = weight;
                        cjk.push((w, e));
                    }
                }
            } else if let Some((first, _)) = w.split_once('+') {
                // Phrases are stored under "a b".
                words.entry(first.into()).or_default().flags |= F_HEAD;
                words.entry(w.replace('+', " ").into_boxed_str()).or_default().w[intent.index()] += weight;
            } else {
                words.entry(w.into()).or_default().w[intent.index()] += weight;
            }
        }
    }
    Table { words, prefixes, cjk }
}

/// FxHash (rustc's hasher): fast and good enough for a fixed table of short words.
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some((word, rest)) = bytes.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            bytes = rest;
        }
        if let Some((word, rest)) = bytes.split_first_chunk::<4>() {
            self.add(u32::from_le_bytes(*word) as u64);
            bytes = rest;
        }
        for &b in bytes {
            self.add(b as u64);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Scripts written without spaces between words, matched by substring.
pub(super) fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x0E00..=0x0E7F)
}
