//! Label selectors.
//!
//! A [`LabelSelector`] is `matchLabels` AND `matchExpressions` (In, NotIn, Exists,
//! DoesNotExist), as workloads and Services carry it.
//!
//! (The string form parser, printer and property tests are being filled in.)

use crate::intern::{Str, StrMap};

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

impl Requirement {
    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: &StrMap) -> bool {
        let v = labels.get(&self.key);
        match self.operator {
            Operator::In => v.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotIn => v.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => v.is_some(),
            Operator::DoesNotExist => v.is_none(),
        }
    }
}

impl LabelSelector {
    /// A selector of equality requirements only.
    pub fn from_labels(labels: StrMap) -> Self {
        LabelSelector { match_labels: labels, match_expressions: Vec::new() }
    }

    /// Whether it has no requirement (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &StrMap) -> bool {
        labels.contains_all(&self.match_labels) && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}
