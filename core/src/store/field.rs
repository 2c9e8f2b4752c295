//! Field selectors: `metadata.name=x,spec.nodeName=node-1,status.phase!=Running`.
//!
//! The API server supports a few fields per kind; kubesim supports the ones its
//! controllers and `kubectl` use: `metadata.name` and `metadata.namespace` on every
//! kind, `spec.nodeName` and `status.phase` on pods. Operators are `=`, `==` (the same)
//! and `!=`; terms are ANDed. `spec.nodeName=` (empty value) selects unscheduled pods.

use std::fmt;
use std::str::FromStr;

use super::{Error, Result};
use crate::intern::Str;
use crate::model::{Kind, Object};

/// A field a selector can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `metadata.name` (every kind).
    Name,
    /// `metadata.namespace` (every kind; empty for cluster-scoped ones).
    Namespace,
    /// `spec.nodeName` (pods; empty when unscheduled).
    NodeName,
    /// `status.phase` (pods).
    Phase,
}

impl Field {
    /// The field's path as the API spells it (`"spec.nodeName"`).
    pub fn path(self) -> &'static str {
        match self {
            Field::Name => "metadata.name",
            Field::Namespace => "metadata.namespace",
            Field::NodeName => "spec.nodeName",
            Field::Phase => "status.phase",
        }
    }

    /// Parses a field path.
    pub fn parse(path: &str) -> Option<Field> {
        match path {
            "metadata.name" => Some(Field::Name),
            "metadata.namespace" => Some(Field::Namespace),
            "spec.nodeName" => Some(Field::NodeName),
            "status.phase" => Some(Field::Phase),
            _ => None,
        }
    }

    /// Whether objects of `kind` have this field.
    pub fn supported_by(self, kind: Kind) -> bool {
        match self {
            Field::Name | Field::Namespace => true,
            Field::NodeName | Field::Phase => kind == Kind::Pod,
        }
    }

    /// The field's value on `obj` (`""` when unset or not applicable).
    pub fn value_of(self, obj: &Object) -> &str {
        match self {
            Field::Name => obj.name(),
            Field::Namespace => obj.namespace(),
            Field::NodeName => obj.node_name().map(|n| n.as_str()).unwrap_or(""),
            Field::Phase => obj.as_pod().map(|p| p.status.phase.as_str()).unwrap_or(""),
        }
    }
}

/// `=` or `!=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOp {
    /// `=` / `==`.
    Eq,
    /// `!=`.
    NotEq,
}

/// One term of a field selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field.
    pub field: Field,
    /// The operator.
    pub op: FieldOp,
    /// The value compared against.
    pub value: Str,
}

impl FieldRequirement {
    /// Whether `obj` satisfies the term.
    pub fn matches(&self, obj: &Object) -> bool {
        let eq = self.field.value_of(obj) == self.value.as_str();
        match self.op {
            FieldOp::Eq => eq,
            FieldOp::NotEq => !eq,
        }
    }
}

/// A field selector: terms ANDed. The empty selector matches everything.
///
/// ```
/// use kubesim_core::store::FieldSelector;
/// let s: FieldSelector = "spec.nodeName=node-1,status.phase!=Running".parse().unwrap();
/// assert_eq!(s.to_string(), "spec.nodeName=node-1,status.phase!=Running");
/// assert!("spec.foo=x".parse::<FieldSelector>().unwrap_err().to_string().contains("spec.foo"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    /// The terms.
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The empty selector.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector of one `field=value` term.
    pub fn eq(field: Field, value: &str) -> Self {
        FieldSelector::default().and(field, FieldOp::Eq, value)
    }

    /// This selector with one more term.
    pub fn and(mut self, field: Field, op: FieldOp, value: &str) -> Self {
        self.requirements.push(FieldRequirement {
            field,
            op,
            value: crate::intern::intern(value),
        });
        self
    }

    /// Whether it has no term.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `obj` satisfies every term.
    pub fn matches(&self, obj: &Object) -> bool {
        self.requirements.iter().all(|r| r.matches(obj))
    }

    /// Checks that every field exists on `kind` (the API rejects `spec.nodeName` on
    /// a Service list with `field label not supported`).
    pub fn validate_for(&self, kind: Kind) -> Result<()> {
        match self
            .requirements
            .iter()
            .find(|r| !r.field.supported_by(kind))
        {
            None => Ok(()),
            Some(r) => Err(Error::InvalidFieldSelector(format!(
                "field label not supported: {} (on {})",
                r.field.path(),
                kind.plural()
            ))),
        }
    }

    /// The value of the first `field=value` term for `field`, if any.
    pub(crate) fn equality(&self, field: Field) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.op == FieldOp::Eq)
            .map(|r| r.value.as_str())
    }
}

impl FromStr for FieldSelector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut sel = FieldSelector::default();
        if s.trim().is_empty() {
            return Ok(sel);
        }
        for term in s.split(',') {
            let (path, op, value) = if let Some(i) = term.find("!=") {
                (&term[..i], FieldOp::NotEq, &term[i + 2..])
            } else if let Some(i) = term.find("==") {
                (&term[..i], FieldOp::Eq, &term[i + 2..])
            } else if let Some(i) = term.find('=') {
                (&term[..i], FieldOp::Eq, &term[i + 1..])
            } else {
                return Err(Error::InvalidFieldSelector(format!(
                    "invalid selector term {:?}: expected field=value, field==value or field!=value",
                    term.trim()
                )));
            };
            let path = path.trim();
            let field = Field::parse(path).ok_or_else(|| {
                Error::InvalidFieldSelector(format!("field label not supported: {path}"))
            })?;
            sel = sel.and(field, op, value.trim());
        }
        Ok(sel)
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.op {
                FieldOp::Eq => "=",
                FieldOp::NotEq => "!=",
            };
            write!(f, "{}{op}{}", r.field.path(), r.value)?;
        }
        Ok(())
    }
}
