//! Property tests for label selectors: the printed form round-trips, matching agrees
//! with an independent reference implementation, and the parser never panics.
//!
//! Keys and values come from small alphabets so that generated selectors and label maps
//! overlap and matches actually happen; every run uses a fixed seed.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use kubesim_core::intern::StrMap;
use kubesim_core::selector::{LabelSelector, Operator, Requirement};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// Keys include `in` and `notin`, which are operators only right after a key, and a
/// prefixed key.
const KEYS: [&str; 5] = ["a", "tier", "in", "notin", "app.kubernetes.io/name"];
/// Values include the empty value, which prints specially.
const VALUES: [&str; 4] = ["", "x", "in", "v1.2_3-b"];

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// A selector in the test's own representation, matched by [`reference_matches`].
#[derive(Clone, Debug)]
struct Model {
    match_labels: BTreeMap<String, String>,
    /// (key, operator name, values).
    expressions: Vec<(String, &'static str, BTreeSet<String>)>,
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(&VALUES[..]).prop_map(str::to_owned)
}

fn expression() -> impl Strategy<Value = (String, &'static str, BTreeSet<String>)> {
    let set = || prop::collection::btree_set(value(), 1..=3);
    prop_oneof![
        (key(), set()).prop_map(|(k, v)| (k, "In", v)),
        (key(), set()).prop_map(|(k, v)| (k, "NotIn", v)),
        key().prop_map(|k| (k, "Exists", BTreeSet::new())),
        key().prop_map(|k| (k, "DoesNotExist", BTreeSet::new())),
    ]
}

fn model() -> impl Strategy<Value = Model> {
    (
        prop::collection::btree_map(key(), value(), 0..=2),
        prop::collection::vec(expression(), 0..=3),
    )
        .prop_map(|(match_labels, expressions)| Model {
            match_labels,
            expressions,
        })
}

fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), value(), 0..=4)
}

impl Model {
    fn selector(&self) -> LabelSelector {
        let op = |name: &str| match name {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            _ => Operator::DoesNotExist,
        };
        LabelSelector {
            match_labels: StrMap::from_pairs(&self.match_labels),
            match_expressions: self
                .expressions
                .iter()
                .map(|(k, o, v)| Requirement::new(k, op(o), v))
                .collect(),
        }
    }
}

/// The reference: the Kubernetes rules, written directly over `BTreeMap`s.
fn reference_matches(model: &Model, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = model
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = model.expressions.iter().all(|(k, op, values)| {
        let present = labels.get(k);
        match *op {
            "In" => matches!(present, Some(v) if values.contains(v)),
            "NotIn" => !matches!(present, Some(v) if values.contains(v)),
            "Exists" => present.is_some(),
            "DoesNotExist" => present.is_none(),
            other => unreachable!("operator {other}"),
        }
    });
    labels_ok && expressions_ok
}

proptest! {
    #![proptest_config(config(512, 0x5e1e_c701))]

    /// parse(print(s)) == s for every valid selector, and the parsed selector is valid.
    #[test]
    fn print_then_parse_round_trips(m in model()) {
        let s = m.selector();
        prop_assert_eq!(s.validate(), Ok(()));
        let printed = s.to_string();
        let parsed = LabelSelector::parse(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&s), "printed as {:?}", printed);
        prop_assert_eq!(printed.parse::<LabelSelector>(), Ok(s));
    }
}

/// Strings made of selector syntax (plus a non-ASCII letter), so that both valid and
/// broken selectors come up often.
fn selectorish() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(
        &[
            "a", "b", "in", "notin", "x", "-", ".", "/", "é", "=", "==", "!", "!=", ",", "(", ")",
            ">", " ", "\t", "in (", "notin (", "a=b",
        ][..],
    );
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// A printed valid selector cut short or with one byte-range removed: near-valid input.
fn damaged() -> impl Strategy<Value = String> {
    (model(), any::<prop::sample::Index>(), 0usize..4).prop_map(|(m, at, len)| {
        let s = m.selector().to_string();
        if s.is_empty() {
            return s;
        }
        let start = at.index(s.len());
        let end = (start + len).min(s.len());
        format!("{}{}", &s[..start], &s[end..]) // all keys and values are ASCII
    })
}

proptest! {
    #![proptest_config(config(1024, 0x5e1e_c702))]

    /// The parser never panics; an error's position is a char boundary within the
    /// input; a success is a valid selector whose printed form parses back to it.
    #[test]
    fn parser_is_total(input in prop_oneof![any::<String>(), selectorish(), damaged()]) {
        match LabelSelector::parse(&input) {
            Ok(s) => {
                prop_assert_eq!(s.validate(), Ok(()));
                let printed = s.to_string();
                prop_assert_eq!(LabelSelector::parse(&printed), Ok(s), "printed as {:?}", printed);
            }
            Err(e) => {
                prop_assert!(e.position <= input.len(), "{}", e);
                prop_assert!(input.is_char_boundary(e.position), "{}", e);
                prop_assert!(!e.message.is_empty());
                prop_assert_eq!(&e.input, &input);
            }
        }
    }
}

/// `matches` (and `requirements()`, and the parsed printed form) agree with the
/// reference; the generators produce both outcomes often enough to mean something.
#[test]
fn matches_agrees_with_reference() {
    let (hits, misses) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(config(2048, 0x5e1e_c703));
    runner
        .run(&(model(), label_map()), |(m, labels)| {
            let want = reference_matches(&m, &labels);
            let s = m.selector();
            let l = StrMap::from_pairs(&labels);
            prop_assert_eq!(s.matches(&l), want, "{} against {:?}", s, labels);
            prop_assert_eq!(
                s.requirements().all(|r| r.matches(&l)),
                want,
                "requirements() of {}",
                s
            );
            let reparsed = LabelSelector::parse(&s.to_string()).expect("printed selector parses");
            prop_assert_eq!(reparsed.matches(&l), want, "reparsed {}", s);
            let counter = if want { &hits } else { &misses };
            counter.set(counter.get() + 1);
            Ok(())
        })
        .unwrap();
    let (hits, misses) = (hits.get(), misses.get());
    assert!(
        hits >= 200 && misses >= 200,
        "too one-sided: {hits} matches, {misses} non-matches"
    );
}

/// One requirement written as text: (key, operator spelling, values).
fn written_requirement() -> impl Strategy<Value = (String, &'static str, Vec<String>)> {
    let op = prop::sample::select(&["=", "==", "!=", "in", "notin", "", "!"][..]);
    // Fewer keys than elsewhere, so that one key is often written twice (`a=b,a=c`).
    let key = prop::sample::select(&KEYS[..3]).prop_map(str::to_owned);
    (key, op, prop::collection::vec(value(), 1..=3)).prop_map(|(k, op, mut values)| {
        match op {
            "=" | "==" | "!=" => values.truncate(1),
            "" | "!" => values.clear(),
            // `()` is rejected; keep a non-empty value so the set is never written as `()`.
            _ => values.push("x".to_owned()),
        }
        (k, op, values)
    })
}

/// Renders a requirement with the given padding around tokens.
fn write_requirement((key, op, values): &(String, &'static str, Vec<String>), pad: &str) -> String {
    match *op {
        "" => key.clone(),
        "!" => format!("!{pad}{key}"),
        "in" | "notin" => format!(
            "{key} {op}{pad}({pad}{}{pad})",
            values.join(&format!("{pad},{pad}"))
        ),
        _ => format!("{key}{pad}{op}{pad}{}", values[0]),
    }
}

/// What a written requirement means, evaluated directly.
fn written_holds(
    (key, op, values): &(String, &'static str, Vec<String>),
    labels: &BTreeMap<String, String>,
) -> bool {
    let present = labels.get(key);
    match *op {
        "=" | "==" | "in" => matches!(present, Some(v) if values.contains(v)),
        "!=" | "notin" => !matches!(present, Some(v) if values.contains(v)),
        "" => present.is_some(),
        "!" => present.is_none(),
        other => unreachable!("operator {other}"),
    }
}

proptest! {
    #![proptest_config(config(2048, 0x5e1e_c704))]

    /// A selector string (duplicate keys included: `a=b,a=c` must keep both) matches
    /// exactly when every written requirement holds.
    #[test]
    fn parsed_strings_match_like_reference(
        written in prop::collection::vec(written_requirement(), 0..=4),
        pad in prop::sample::select(&["", " ", " \t "][..]),
        labels in prop::collection::btree_map(
            prop::sample::select(&KEYS[..3]).prop_map(str::to_owned),
            value(),
            0..=3,
        ),
    ) {
        let text: Vec<String> = written.iter().map(|w| write_requirement(w, pad)).collect();
        let text = text.join(&format!("{pad},{pad}"));
        let s = LabelSelector::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want = written.iter().all(|w| written_holds(w, &labels));
        prop_assert_eq!(s.matches(&StrMap::from_pairs(&labels)), want, "{:?} parsed as {} against {:?}", text, s, labels);
    }
}
