//! Label selectors.
//!
//! A [`LabelSelector`] is `matchLabels` AND `matchExpressions` (In, NotIn, Exists,
//! DoesNotExist), as workloads and Services carry it. Besides matching, this module
//! holds:
//!
//! - the string form that `kubectl -l` and apimachinery's `labels.Parse` accept
//!   (`environment in (production, qa),tier notin (frontend),partition,!canary`):
//!   [`LabelSelector::parse`] / [`str::parse`], with a [`SelectorParseError`] that names
//!   the byte offset of the fault;
//! - the canonical printed form ([`fmt::Display`]), which parses back to an equal
//!   selector;
//! - the API server's validation rules ([`LabelSelector::validate`]);
//! - [`LabelSelector::requirements`], every requirement in one shape
//!   ([`NormalizedRequirement`]) so the store can plan index lookups.
//!
//! # String form
//!
//! ```text
//! selector    := "" | requirement ("," requirement)*
//! requirement := key                          Exists
//!              | "!" key                      DoesNotExist
//!              | key ("=" | "==") value?      equality (matchLabels)
//!              | key "!=" value?              NotIn [value]
//!              | key "in" "(" values ")"      In
//!              | key "notin" "(" values ")"   NotIn
//! ```
//!
//! Whitespace (space, tab, CR, LF) is allowed around every token. A missing value after
//! `=`/`!=` is the empty label value. Inside parentheses the empty value is written as
//! an empty item (`(,a)`, `(a,)`, `(,)`), as upstream reads it. Two deliberate
//! departures from upstream: `()` is rejected (upstream reads it as the set holding the
//! empty value, which is almost always a mistake), and `>`/`<` are rejected because
//! `matchExpressions` has no Gt/Lt operators.
//!
//! `a=b` goes to `match_labels`; when the key is already there (`a=b,a=c`) it becomes
//! an `In [c]` requirement instead, so the selector keeps both constraints and matches
//! nothing, as upstream's does.
//!
//! ```
//! use kubesim_core::intern::StrMap;
//! use kubesim_core::selector::LabelSelector;
//!
//! let s: LabelSelector = "tier notin (frontend), environment in (qa,production), !canary"
//!     .parse()
//!     .unwrap();
//! assert_eq!(s.to_string(), "tier!=frontend,environment in (production,qa),!canary");
//! assert!(s.matches(&StrMap::from_pairs([("environment", "qa")])));
//! assert!(!s.matches(&StrMap::from_pairs([("environment", "qa"), ("canary", "")])));
//!
//! let err = "a in (x,y".parse::<LabelSelector>().unwrap_err();
//! assert_eq!(err.position, 9);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::intern::{intern, Str, StrMap};
use crate::validation::{label_key, label_value};

/// A selector operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent, or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl Operator {
    /// The API's name (`In`, `NotIn`, `Exists`, `DoesNotExist`), as `matchExpressions`
    /// spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
        }
    }

    /// The operator with the API name `name` (case-sensitive, as the API server reads
    /// it), or `None`.
    pub fn from_api_name(name: &str) -> Option<Operator> {
        match name {
            "In" => Some(Operator::In),
            "NotIn" => Some(Operator::NotIn),
            "Exists" => Some(Operator::Exists),
            "DoesNotExist" => Some(Operator::DoesNotExist),
            _ => None,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requirement of a selector (`matchExpressions` entry).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// Label key.
    pub key: Str,
    /// Operator.
    pub operator: Operator,
    /// Values (empty for Exists/DoesNotExist); sorted and unique.
    pub values: Vec<Str>,
}

/// A label selector: `matchLabels` AND `matchExpressions`.
///
/// The empty selector matches everything (the API's rule); workloads reject an empty
/// selector at validation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct LabelSelector {
    /// Equality requirements.
    pub match_labels: StrMap,
    /// Set-based requirements.
    pub match_expressions: Vec<Requirement>,
}

/// A requirement in the one shape every selector part can take, borrowed from the
/// selector: a `matchLabels` entry `k: v` is `k In [v]`.
///
/// The store plans a list from these: [`is_positive`](Self::is_positive) requirements
/// (In, Exists) name posting lists to intersect; the others (NotIn, DoesNotExist) also
/// hold for objects without the key and are applied as filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormalizedRequirement<'a> {
    /// Label key.
    pub key: &'a Str,
    /// Operator.
    pub operator: Operator,
    /// Values (one for a `matchLabels` entry; empty for Exists/DoesNotExist).
    pub values: &'a [Str],
}

impl NormalizedRequirement<'_> {
    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: &StrMap) -> bool {
        op_matches(self.operator, self.values, labels.get(self.key))
    }

    /// Whether only objects that carry the key can satisfy it (In, Exists), so that
    /// the key's or the (key, value) posting lists bound the result.
    pub fn is_positive(&self) -> bool {
        matches!(self.operator, Operator::In | Operator::Exists)
    }
}

fn op_matches(operator: Operator, values: &[Str], value: Option<&Str>) -> bool {
    match operator {
        Operator::In => value.is_some_and(|v| values.iter().any(|x| x == v)),
        Operator::NotIn => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        Operator::Exists => value.is_some(),
        Operator::DoesNotExist => value.is_none(),
    }
}

impl Requirement {
    /// A requirement with interned key and values; the values are sorted and
    /// deduplicated. Nothing is validated here (see [`LabelSelector::validate`]).
    pub fn new<K, V>(key: K, operator: Operator, values: impl IntoIterator<Item = V>) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut values: Vec<Str> = values.into_iter().map(|v| intern(v.as_ref())).collect();
        values.sort_unstable();
        values.dedup();
        Requirement {
            key: intern(key.as_ref()),
            operator,
            values,
        }
    }

    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: &StrMap) -> bool {
        op_matches(self.operator, &self.values, labels.get(&self.key))
    }

    /// This requirement as a [`NormalizedRequirement`].
    pub fn as_normalized(&self) -> NormalizedRequirement<'_> {
        NormalizedRequirement {
            key: &self.key,
            operator: self.operator,
            values: &self.values,
        }
    }
}

/// Writes `(v1,v2)`. A set holding only the empty value is written `(,)`, because
/// `()` does not parse.
fn write_value_set(f: &mut fmt::Formatter<'_>, values: &[Str]) -> fmt::Result {
    f.write_str("(")?;
    if let [only] = values {
        if only.is_empty() {
            return f.write_str(",)");
        }
    }
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        f.write_str(v)?;
    }
    f.write_str(")")
}

impl fmt::Display for Requirement {
    /// The string form: `k in (v1,v2)`, `k!=v`, `k notin (v1,v2)`, `k`, `!k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.operator, self.values.as_slice()) {
            (Operator::In, values) => {
                write!(f, "{} in ", self.key)?;
                write_value_set(f, values)
            }
            (Operator::NotIn, [one]) => write!(f, "{}!={}", self.key, one),
            (Operator::NotIn, values) => {
                write!(f, "{} notin ", self.key)?;
                write_value_set(f, values)
            }
            (Operator::Exists, _) => write!(f, "{}", self.key),
            (Operator::DoesNotExist, _) => write!(f, "!{}", self.key),
        }
    }
}

impl LabelSelector {
    /// A selector of equality requirements only.
    pub fn from_labels(labels: StrMap) -> Self {
        LabelSelector {
            match_labels: labels,
            match_expressions: Vec::new(),
        }
    }

    /// The empty selector, which matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses the string form (see the [module docs](self)); the same as
    /// `s.parse::<LabelSelector>()`.
    ///
    /// # Errors
    ///
    /// A [`SelectorParseError`] naming the byte offset of the first fault: bad syntax,
    /// an invalid label key or value, or an empty value set `()`.
    pub fn parse(s: &str) -> Result<Self, SelectorParseError> {
        Parser::new(s).selector()
    }

    /// Whether it has no requirement (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &StrMap) -> bool {
        labels.contains_all(&self.match_labels)
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Every requirement, `matchLabels` entries first (in key order, each as `k In
    /// [v]`), then `matchExpressions` in order. Borrows; allocates nothing.
    pub fn requirements(&self) -> impl Iterator<Item = NormalizedRequirement<'_>> + '_ {
        let labels = self
            .match_labels
            .iter()
            .map(|(k, v)| NormalizedRequirement {
                key: k,
                operator: Operator::In,
                values: std::slice::from_ref(v),
            });
        labels.chain(
            self.match_expressions
                .iter()
                .map(Requirement::as_normalized),
        )
    }

    /// Checks the API server's rules (apimachinery's `ValidateLabelSelector`): keys are
    /// valid label keys, values valid label values, In/NotIn have at least one value and
    /// Exists/DoesNotExist none. Returns the first fault, with a field path relative to
    /// the selector. An empty selector is valid here; workloads reject it separately.
    ///
    /// # Errors
    ///
    /// The first rule broken, as a [`SelectorInvalid`].
    pub fn validate(&self) -> Result<(), SelectorInvalid> {
        for (k, v) in self.match_labels.iter() {
            label_key(k).map_err(|e| {
                SelectorInvalid::new("matchLabels", format!("invalid label key {k:?}: {e}"))
            })?;
            label_value(v).map_err(|e| {
                SelectorInvalid::new(
                    "matchLabels",
                    format!("invalid label value {v:?} for key {k:?}: {e}"),
                )
            })?;
        }
        for (i, r) in self.match_expressions.iter().enumerate() {
            let path = format!("matchExpressions[{i}]");
            match r.operator {
                Operator::In | Operator::NotIn if r.values.is_empty() => {
                    return Err(SelectorInvalid::new(
                        format!("{path}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
                Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => {
                    return Err(SelectorInvalid::new(
                        format!("{path}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
                _ => {}
            }
            label_key(&r.key).map_err(|e| {
                SelectorInvalid::new(
                    format!("{path}.key"),
                    format!("invalid label key {:?}: {e}", r.key),
                )
            })?;
            for (j, v) in r.values.iter().enumerate() {
                label_value(v).map_err(|e| {
                    SelectorInvalid::new(
                        format!("{path}.values[{j}]"),
                        format!("invalid label value {v:?}: {e}"),
                    )
                })?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical string form: `matchLabels` as `k=v` in key order, then
    /// `matchExpressions` in order (see [`Requirement`]'s `Display`). The empty selector
    /// prints as the empty string. For a valid selector whose requirement values are
    /// sorted and unique, parsing the output gives back an equal selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in self.match_labels.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        for r in &self.match_expressions {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabelSelector::parse(s)
    }
}

/// A selector string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message} (in selector {input:?})")]
pub struct SelectorParseError {
    /// Byte offset of the fault in the input (the input's length for "end of string").
    pub position: usize,
    /// What is wrong.
    pub message: String,
    /// The whole input.
    pub input: String,
}

/// A selector that breaks the API server's rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SelectorInvalid {
    /// Field path relative to the selector, e.g. `matchLabels` or
    /// `matchExpressions[1].values`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl SelectorInvalid {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SelectorInvalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Parser: a hand-written lexer and recursive-descent parser over the input's bytes.
// Every special character is ASCII, so splitting at them keeps UTF-8 boundaries.

/// A token and the byte offset where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    /// A run of non-special, non-space characters. `in` and `notin` are identifiers
    /// too; the parser reads them as operators only right after a key.
    Ident(&'a str),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Comma,
    Open,
    Close,
    Gt,
    Lt,
    End,
}

impl fmt::Display for Tok<'_> {
    /// How an error message names the token it found.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::Ident(s) => return write!(f, "'{s}'"),
            Tok::Not => "'!'",
            Tok::Eq => "'='",
            Tok::DoubleEq => "'=='",
            Tok::NotEq => "'!='",
            Tok::Comma => "','",
            Tok::Open => "'('",
            Tok::Close => "')'",
            Tok::Gt => "'>'",
            Tok::Lt => "'<'",
            Tok::End => "end of string",
        };
        f.write_str(s)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

type PResult<T> = Result<T, SelectorParseError>;

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser { input, pos: 0 }
    }

    /// The next token and its start offset, without consuming it.
    fn peek(&self) -> (Tok<'a>, usize) {
        self.lex().0
    }

    /// The next token and its start offset, consumed.
    fn next(&mut self) -> (Tok<'a>, usize) {
        let (tok, end) = self.lex();
        self.pos = end;
        tok
    }

    /// Lexes one token from `self.pos`: `((token, start), end)`.
    fn lex(&self) -> ((Tok<'a>, usize), usize) {
        let b = self.input.as_bytes();
        let mut i = self.pos;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let start = i;
        if i == b.len() {
            return ((Tok::End, start), i);
        }
        let next_is_eq = b.get(i + 1) == Some(&b'=');
        let (tok, len) = match b[i] {
            b'=' if next_is_eq => (Tok::DoubleEq, 2),
            b'=' => (Tok::Eq, 1),
            b'!' if next_is_eq => (Tok::NotEq, 2),
            b'!' => (Tok::Not, 1),
            b',' => (Tok::Comma, 1),
            b'(' => (Tok::Open, 1),
            b')' => (Tok::Close, 1),
            b'>' => (Tok::Gt, 1),
            b'<' => (Tok::Lt, 1),
            _ => {
                let mut j = i;
                while j < b.len() && !is_space(b[j]) && !is_special(b[j]) {
                    j += 1;
                }
                return ((Tok::Ident(&self.input[i..j]), start), j);
            }
        };
        ((tok, start), i + len)
    }

    fn error(&self, position: usize, message: impl Into<String>) -> SelectorParseError {
        SelectorParseError {
            position,
            message: message.into(),
            input: self.input.to_owned(),
        }
    }

    fn selector(mut self) -> PResult<LabelSelector> {
        let mut labels: Vec<(Str, Str)> = Vec::new();
        let mut expressions: Vec<Requirement> = Vec::new();
        if self.peek().0 == Tok::End {
            return Ok(LabelSelector::default());
        }
        loop {
            match self.requirement()? {
                Parsed::Equals(key, value) => {
                    if labels.iter().any(|(k, _)| *k == key) {
                        expressions.push(Requirement {
                            key,
                            operator: Operator::In,
                            values: vec![value],
                        });
                    } else {
                        labels.push((key, value));
                    }
                }
                Parsed::Requirement(r) => expressions.push(r),
            }
            match self.next() {
                (Tok::End, _) => break,
                (Tok::Comma, _) => {
                    if let (tok @ (Tok::End | Tok::Comma), at) = self.peek() {
                        return Err(self
                            .error(at, format!("expected a requirement after ',', found {tok}")));
                    }
                }
                (tok, at) => {
                    return Err(
                        self.error(at, format!("expected ',' or end of string, found {tok}"))
                    )
                }
            }
        }
        Ok(LabelSelector {
            match_labels: StrMap::from_pairs(labels),
            match_expressions: expressions,
        })
    }

    /// A label key at `at`, validated.
    fn key(&self, key: &str, at: usize) -> PResult<Str> {
        label_key(key).map_err(|e| self.error(at, format!("invalid label key {key:?}: {e}")))?;
        Ok(intern(key))
    }

    /// A label value at `at`, validated.
    fn value(&self, value: &str, at: usize) -> PResult<Str> {
        label_value(value)
            .map_err(|e| self.error(at, format!("invalid label value {value:?}: {e}")))?;
        Ok(intern(value))
    }

    fn requirement(&mut self) -> PResult<Parsed> {
        let (tok, at) = self.next();
        let negated = tok == Tok::Not;
        let (key, key_at) = match (tok, negated) {
            (Tok::Ident(k), false) => (k, at),
            (_, false) => {
                return Err(self.error(at, format!("expected a label key or '!', found {tok}")))
            }
            (_, true) => match self.next() {
                (Tok::Ident(k), key_at) => (k, key_at),
                (tok, at) => {
                    return Err(
                        self.error(at, format!("expected a label key after '!', found {tok}"))
                    )
                }
            },
        };
        let key = self.key(key, key_at)?;
        if negated {
            // `!k` stands alone; whatever follows is checked by the caller.
            return Ok(Parsed::Requirement(Requirement {
                key,
                operator: Operator::DoesNotExist,
                values: Vec::new(),
            }));
        }
        match self.peek() {
            (Tok::End | Tok::Comma, _) => {
                Ok(Parsed::Requirement(Requirement { key, operator: Operator::Exists, values: Vec::new() }))
            }
            (Tok::Eq | Tok::DoubleEq, _) => {
                self.next();
                Ok(Parsed::Equals(key, self.exact_value()?))
            }
            (Tok::NotEq, _) => {
                self.next();
                let value = self.exact_value()?;
                Ok(Parsed::Requirement(Requirement { key, operator: Operator::NotIn, values: vec![value] }))
            }
            (Tok::Ident(word @ ("in" | "notin")), _) => {
                self.next();
                let operator = if word == "in" { Operator::In } else { Operator::NotIn };
                let mut values = self.value_set(word)?;
                values.sort_unstable();
                values.dedup();
                Ok(Parsed::Requirement(Requirement { key, operator, values }))
            }
            (tok @ (Tok::Gt | Tok::Lt), at) => Err(self.error(
                at,
                format!("operator {tok} is not supported: selectors have '=', '==', '!=', 'in', 'notin', exists and '!'"),
            )),
            (tok, at) => Err(self.error(
                at,
                format!(
                    "expected an operator ('=', '==', '!=', 'in', 'notin'), ',' or end of string after key {:?}, \
                     found {tok}",
                    key.as_str()
                ),
            )),
        }
    }

    /// The value after `=`, `==` or `!=`; absent (before `,` or the end) is the empty
    /// value.
    fn exact_value(&mut self) -> PResult<Str> {
        match self.peek() {
            (Tok::End | Tok::Comma, _) => Ok(intern("")),
            (Tok::Ident(v), at) => {
                self.next();
                self.value(v, at)
            }
            (tok, at) => Err(self.error(at, format!("expected a label value, found {tok}"))),
        }
    }

    /// `( values )` after `in`/`notin`. An empty item (`(,a)`, `(a,)`, `(,)`) is the
    /// empty value, as upstream reads it; `()` is an error.
    fn value_set(&mut self, op: &str) -> PResult<Vec<Str>> {
        match self.next() {
            (Tok::Open, _) => {}
            (tok, at) => {
                return Err(self.error(at, format!("expected '(' after '{op}', found {tok}")))
            }
        }
        if let (Tok::Close, at) = self.peek() {
            return Err(self.error(
                at,
                format!("empty value set '()': '{op}' needs at least one value"),
            ));
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                (Tok::Ident(v), at) => {
                    values.push(self.value(v, at)?);
                    match self.next() {
                        (Tok::Comma, _) => {}
                        (Tok::Close, _) => return Ok(values),
                        (tok, at) => {
                            return Err(self.error(at, format!("expected ',' or ')', found {tok}")))
                        }
                    }
                }
                (Tok::Comma, _) => values.push(intern("")),
                (Tok::Close, _) => {
                    // Only reachable right after a ',': the item before ')' is empty.
                    values.push(intern(""));
                    return Ok(values);
                }
                (tok, at) => {
                    return Err(self.error(
                        at,
                        format!("expected a label value, ',' or ')', found {tok}"),
                    ))
                }
            }
        }
    }
}

/// One parsed requirement: equality goes to `match_labels` (when its key is new there).
enum Parsed {
    Equals(Str, Str),
    Requirement(Requirement),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` and compares with `expected`: the canonical printed form, or for
    /// an error `"ERR <position>: <message fragment>"`.
    #[track_caller]
    fn check(input: &str, expected: &str) {
        let got = match LabelSelector::parse(input) {
            Ok(s) => {
                let printed = s.to_string();
                if let Some(want) = expected.strip_prefix("ERR ") {
                    panic!("{input:?}: expected error {want:?}, parsed as {printed:?}");
                }
                assert_eq!(printed, expected, "input {input:?}");
                // The printed form is canonical: it parses to the same selector.
                assert_eq!(
                    LabelSelector::parse(&printed).as_ref(),
                    Ok(&s),
                    "reparse of {printed:?}"
                );
                assert_eq!(
                    s.validate(),
                    Ok(()),
                    "parsed selector must be valid: {input:?}"
                );
                return;
            }
            Err(e) => e,
        };
        let Some(want) = expected.strip_prefix("ERR ") else {
            panic!("{input:?}: expected {expected:?}, got error {got}");
        };
        let (pos, fragment) = want.split_once(": ").expect("ERR <pos>: <fragment>");
        let pos: usize = pos.parse().expect("position");
        assert_eq!(got.position, pos, "position for {input:?}: {got}");
        assert!(
            got.message.contains(fragment),
            "message for {input:?}: {:?} lacks {fragment:?}",
            got.message
        );
        let shown = got.to_string();
        assert!(
            shown.starts_with(&format!("at position {pos}: ")),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("{input:?}")),
            "error display must include the input: {shown}"
        );
    }

    #[test]
    fn parse_operators() {
        check("", "");
        check("   \t ", "");
        check("a=b", "a=b");
        check("a==b", "a=b");
        check("a!=b", "a!=b");
        check("a in (x,y)", "a in (x,y)");
        check("a notin (x)", "a!=x");
        check("a notin (y,x,y)", "a notin (x,y)");
        check("a in (y,x,x)", "a in (x,y)");
        check("a", "a");
        check("!a", "!a");
        check("a=", "a=");
        check("a!=", "a!=");
        check("a=,b", "a=,b");
        check("app.kubernetes.io/name=web", "app.kubernetes.io/name=web");
        check("a=B.c_d-1", "a=B.c_d-1");
    }

    #[test]
    fn parse_whitespace_and_order() {
        check(
            " a = b , c != d ,e  in(x , y),  f notin ( z ) ,g , ! h ",
            "a=b,c!=d,e in (x,y),f!=z,g,!h",
        );
        check("a\tin\n(x)\r", "a in (x)");
        // matchLabels print first in key order; expressions keep their order.
        check("z=1,y,b=2,!x,a in (q)", "b=2,z=1,y,!x,a in (q)");
        check(
            "environment in (production, qa),tier notin (frontend),partition,!canary",
            "environment in (production,qa),tier!=frontend,partition,!canary",
        );
        check(
            "environment=production,tier!=frontend",
            "environment=production,tier!=frontend",
        );
    }

    #[test]
    fn parse_duplicates_and_keywords() {
        check("a=b,a=c", "a=b,a in (c)");
        check("a=b,a==b", "a=b,a in (b)");
        check("a=b,a!=b,a", "a=b,a!=b,a");
        // `in`/`notin` are keys and values outside the operator position.
        check("in in (in,notin)", "in in (in,notin)");
        check("notin=in,in", "notin=in,in");
        check("!in", "!in");
    }

    #[test]
    fn parse_empty_values_in_sets() {
        check("a in (,)", "a in (,)");
        check("a in (x,)", "a in (,x)");
        check("a notin (,x)", "a notin (,x)");
        check("a in (x,,y)", "a in (,x,y)");
        check("a notin (,)", "a!=");
    }

    #[test]
    fn parse_errors() {
        check("-a=b", "ERR 0: invalid label key \"-a\"");
        check("x,-a=b", "ERR 2: invalid label key \"-a\"");
        check("a/b/c", "ERR 0: invalid label key");
        check("!-a", "ERR 1: invalid label key");
        check("a=-b", "ERR 2: invalid label value \"-b\"");
        check("a in (x, y-)", "ERR 9: invalid label value \"y-\"");
        check(
            &format!("a={}", "v".repeat(64)),
            "ERR 2: invalid label value",
        );
        check(
            "a in (x,y",
            "ERR 9: expected ',' or ')', found end of string",
        );
        check("a in (x", "ERR 7: expected ',' or ')'");
        check(
            "a in (",
            "ERR 6: expected a label value, ',' or ')', found end of string",
        );
        check("a in ()", "ERR 6: empty value set '()'");
        check("a notin ( )", "ERR 10: empty value set '()': 'notin'");
        check("a=b,", "ERR 4: expected a requirement after ','");
        check("a=b,,c", "ERR 4: expected a requirement after ','");
        check(",a", "ERR 0: expected a label key or '!', found ','");
        check("a in x", "ERR 5: expected '(' after 'in', found 'x'");
        check(
            "a notin",
            "ERR 7: expected '(' after 'notin', found end of string",
        );
        check("a b", "ERR 2: expected an operator");
        check("a=b c", "ERR 4: expected ',' or end of string, found 'c'");
        check("a=b=c", "ERR 3: expected ',' or end of string, found '='");
        check("a=(x)", "ERR 2: expected a label value, found '('");
        check("!a=b", "ERR 2: expected ',' or end of string, found '='");
        check("!", "ERR 1: expected a label key after '!'");
        check("!!a", "ERR 1: expected a label key after '!'");
        check("!=a", "ERR 0: expected a label key or '!', found '!='");
        check("a>1", "ERR 1: operator '>' is not supported");
        check("a in (x y)", "ERR 8: expected ',' or ')', found 'y'");
        check(
            "a in (x)(",
            "ERR 8: expected ',' or end of string, found '('",
        );
        check(
            "a in (=)",
            "ERR 6: expected a label value, ',' or ')', found '='",
        );
        check("é=b", "ERR 0: invalid label key");
        check("a=é", "ERR 2: invalid label value");
    }

    #[test]
    fn display_canonical_forms() {
        let s = LabelSelector {
            match_labels: StrMap::from_pairs([("b", "2"), ("a", "1")]),
            match_expressions: vec![
                Requirement::new("c", Operator::In, ["y", "x", "y"]),
                Requirement::new("d", Operator::NotIn, ["z"]),
                Requirement::new("e", Operator::NotIn, ["z", "w"]),
                Requirement::new("f", Operator::Exists, [""; 0]),
                Requirement::new("g", Operator::DoesNotExist, [""; 0]),
                Requirement::new("h", Operator::In, [""]),
            ],
        };
        assert_eq!(
            s.to_string(),
            "a=1,b=2,c in (x,y),d!=z,e notin (w,z),f,!g,h in (,)"
        );
        assert_eq!(LabelSelector::parse(&s.to_string()), Ok(s));
        assert_eq!(LabelSelector::everything().to_string(), "");
        assert!(LabelSelector::everything().is_empty());
    }

    fn labels(pairs: &[(&str, &str)]) -> StrMap {
        StrMap::from_pairs(pairs.iter().copied())
    }

    #[track_caller]
    fn check_match(selector: &str, pairs: &[(&str, &str)], want: bool) {
        let s: LabelSelector = selector.parse().unwrap();
        let l = labels(pairs);
        assert_eq!(s.matches(&l), want, "{selector:?} against {pairs:?}");
        assert_eq!(
            s.requirements().all(|r| r.matches(&l)),
            want,
            "requirements() of {selector:?} against {pairs:?}"
        );
    }

    #[test]
    fn matching() {
        check_match("", &[], true);
        check_match("", &[("a", "b")], true);
        check_match("a=b", &[("a", "b"), ("c", "d")], true);
        check_match("a=b", &[("a", "c")], false);
        check_match("a=b", &[], false);
        check_match("a=", &[("a", "")], true);
        check_match("a=", &[], false);
        // NotIn and != also hold when the label is absent.
        check_match("a!=b", &[], true);
        check_match("a!=b", &[("a", "c")], true);
        check_match("a!=b", &[("a", "b")], false);
        check_match("a notin (x,y)", &[("b", "x")], true);
        check_match("a notin (x,y)", &[("a", "y")], false);
        check_match("a in (x,y)", &[("a", "y")], true);
        check_match("a in (x,y)", &[("a", "z")], false);
        check_match("a in (x,y)", &[], false);
        check_match("a", &[("a", "")], true);
        check_match("a", &[("b", "")], false);
        check_match("!a", &[("b", "")], true);
        check_match("!a", &[("a", "x")], false);
        // `a=b,a=c` keeps both constraints: nothing matches.
        check_match("a=b,a=c", &[("a", "b")], false);
        check_match("a=b,a=c", &[("a", "c")], false);
        check_match("a=b,a=b", &[("a", "b")], true);
        check_match(
            "environment in (production, qa),tier notin (frontend),partition,!canary",
            &[
                ("environment", "qa"),
                ("tier", "backend"),
                ("partition", "p1"),
            ],
            true,
        );
        check_match(
            "environment in (production, qa),tier notin (frontend),partition,!canary",
            &[
                ("environment", "qa"),
                ("partition", "p1"),
                ("canary", "true"),
            ],
            false,
        );
    }

    #[test]
    fn requirements_are_uniform_and_borrowed() {
        let s: LabelSelector = "b=2,a=1,c notin (x),d".parse().unwrap();
        let got: Vec<String> = s
            .requirements()
            .map(|r| {
                format!(
                    "{} {} {:?} {}",
                    r.key,
                    r.operator,
                    r.values,
                    r.is_positive()
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "a In [\"1\"] true",
                "b In [\"2\"] true",
                "c NotIn [\"x\"] false",
                "d Exists [] true"
            ]
        );
        // The values of a matchLabels entry are the map's own value, not a copy.
        let r = s.requirements().next().unwrap();
        assert!(std::ptr::eq(&r.values[0], s.match_labels.get("a").unwrap()));
    }

    #[test]
    fn validate_rules() {
        let ok: LabelSelector = "a=b,c in (x),d".parse().unwrap();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(LabelSelector::everything().validate(), Ok(()));

        let bad_key = LabelSelector::from_labels(labels(&[("a", "b"), ("-x", "y")]));
        let e = bad_key.validate().unwrap_err();
        assert_eq!(e.field, "matchLabels");
        assert!(e.reason.contains("\"-x\""), "{e}");

        let bad_value = LabelSelector::from_labels(labels(&[("a", "b c")]));
        assert_eq!(bad_value.validate().unwrap_err().field, "matchLabels");

        let with = |r: Requirement| LabelSelector {
            match_labels: labels(&[("a", "b")]),
            match_expressions: vec![Requirement::new("k", Operator::Exists, [""; 0]), r],
        };
        let e = with(Requirement::new("k", Operator::In, [""; 0]))
            .validate()
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.reason.contains("must be specified")),
            ("matchExpressions[1].values", true)
        );
        let e = with(Requirement::new("k", Operator::NotIn, [""; 0]))
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "matchExpressions[1].values");
        let e = with(Requirement::new("k", Operator::Exists, ["x"]))
            .validate()
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.reason.contains("may not be specified")),
            ("matchExpressions[1].values", true)
        );
        let e = with(Requirement::new("k", Operator::DoesNotExist, ["x"]))
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "matchExpressions[1].values");
        let e = with(Requirement::new("k/", Operator::Exists, [""; 0]))
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "matchExpressions[1].key");
        let e = with(Requirement::new("k", Operator::In, ["ok", "-bad"]))
            .validate()
            .unwrap_err();
        // Values are sorted: "-bad" comes first.
        assert_eq!(e.field, "matchExpressions[1].values[0]");
        assert!(
            e.to_string()
                .starts_with("matchExpressions[1].values[0]: invalid label value \"-bad\""),
            "{e}"
        );
        assert_eq!(
            with(Requirement::new("k", Operator::NotIn, [""])).validate(),
            Ok(())
        );
    }

    #[test]
    fn operator_api_names() {
        for op in [
            Operator::In,
            Operator::NotIn,
            Operator::Exists,
            Operator::DoesNotExist,
        ] {
            assert_eq!(Operator::from_api_name(op.as_str()), Some(op));
        }
        assert_eq!(Operator::from_api_name("in"), None);
        assert_eq!(Operator::from_api_name("Gt"), None);
    }
}
