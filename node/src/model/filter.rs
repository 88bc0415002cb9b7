//! The one filter over cubes: what `List`, `Search` and `Subscribe` select besides scope.
//!
//! A [`Filter`] is built once from the request's fields ([`FilterSpec`]) by [`Filter::build`],
//! which validates every field and names the bad one (`memory_types[2]`, `tags[0]`, …), and is
//! then evaluated wherever cubes are scanned — over anything that shows the cube's [`Facets`]:
//! a stored [`MemCube`] (List), the search index's document (Search), a change-feed event record
//! (Subscribe, whose records carry only scope and memory type — so its requests can set nothing
//! else, see [`FilterSpec`]).
//!
//! Scope is not part of the filter: each scan walks its scopes by itself (List a key range,
//! Search per-scope buckets) and uses [`super::scope_matches`] where it needs to.

use std::collections::BTreeMap;

use memmesh_proto::{CubeState, MemCube};

use super::{check_memory_type, check_source, check_state, ValidationError};

/// What a filter looks at. A facet a record does not carry is `None`, and a condition on it then
/// fails: nothing is ever delivered on a guess.
pub trait Facets {
    fn memory_type(&self) -> i32;
    fn state(&self) -> Option<i32> {
        None
    }
    fn source(&self) -> Option<i32> {
        None
    }
    /// Sorted.
    fn tags(&self) -> Option<&[String]> {
        None
    }
    fn created_at_ms(&self) -> Option<i64> {
        None
    }
    fn updated_at_ms(&self) -> Option<i64> {
        None
    }
    /// `None` also when the record carries no attributes at all.
    fn attribute(&self, _key: &str) -> Option<&str> {
        None
    }
    /// 0 = never (see `lifecycle`).
    fn expires_at_ms(&self) -> i64 {
        0
    }
    fn pinned(&self) -> bool {
        false
    }
}

/// A time range in ms since the epoch: inclusive lower, exclusive upper bound; `None` = open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub after: Option<i64>,
    pub before: Option<i64>,
}

impl TimeRange {
    /// From a request's pair of bounds, where 0 means none.
    pub fn from_ms(after: i64, before: i64) -> Self {
        let opt = |v: i64| (v != 0).then_some(v);
        Self { after: opt(after), before: opt(before) }
    }

    pub fn contains(&self, v: i64) -> bool {
        self.after.is_none_or(|a| v >= a) && self.before.is_none_or(|b| v < b)
    }

    fn is_open(&self) -> bool {
        self.after.is_none() && self.before.is_none()
    }
}

/// The filter fields of a request, as given (validated by [`Filter::build`]). Zero values mean
/// "no condition".
#[derive(Debug, Clone, Default)]
pub struct FilterSpec<'a> {
    pub memory_types: &'a [i32],
    pub tags: &'a [String],
    pub states: &'a [i32],
    pub sources: &'a [i32],
    pub created_after_ms: i64,
    pub created_before_ms: i64,
    pub updated_after_ms: i64,
    pub updated_before_ms: i64,
    pub attributes: Option<&'a BTreeMap<String, String>>,
}

/// Validated conditions; empty lists and open ranges mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Any of.
    pub memory_types: Vec<i32>,
    /// All of; sorted, without duplicates.
    pub tags: Vec<String>,
    /// Any of.
    pub states: Vec<i32>,
    /// Any of.
    pub sources: Vec<i32>,
    pub created: TimeRange,
    pub updated: TimeRange,
    /// Each must be present with this value.
    pub attributes: BTreeMap<String, String>,
    /// Judge states at this time: a record past its expiry counts as EXPIRED (see
    /// `super::lifecycle::effective_state`). `None`: states as stored.
    pub now_ms: Option<i64>,
}

impl Filter {
    /// Validates `spec`: enum values must be known, tags non-empty.
    pub fn build(spec: &FilterSpec) -> Result<Filter, ValidationError> {
        let mut f = Filter {
            created: TimeRange::from_ms(spec.created_after_ms, spec.created_before_ms),
            updated: TimeRange::from_ms(spec.updated_after_ms, spec.updated_before_ms),
            attributes: spec.attributes.cloned().unwrap_or_default(),
            ..Default::default()
        };
        for (i, t) in spec.memory_types.iter().enumerate() {
            f.memory_types.push(check_memory_type(&format!("memory_types[{i}]"), *t)? as i32);
        }
        for (i, s) in spec.states.iter().enumerate() {
            f.states.push(check_state(&format!("states[{i}]"), *s)? as i32);
        }
        for (i, s) in spec.sources.iter().enumerate() {
            f.sources.push(check_source(&format!("sources[{i}]"), *s)? as i32);
        }
        for (i, t) in spec.tags.iter().enumerate() {
            if t.is_empty() {
                return Err(ValidationError::new(format!("tags[{i}]"), "must not be empty"));
            }
            f.tags.push(t.clone());
        }
        f.tags.sort();
        f.tags.dedup();
        Ok(f)
    }

    /// With no state asked for, only ACTIVE cubes (what List and Search find by default).
    pub fn active_by_default(mut self) -> Self {
        if self.states.is_empty() {
            self.states.push(CubeState::Active as i32);
        }
        self
    }

    /// States judged at `now_ms` (see [`Filter::now_ms`]).
    pub fn judged_at(mut self, now_ms: i64) -> Self {
        self.now_ms = Some(now_ms);
        self
    }

    /// Whether a record with these facets passes every condition.
    pub fn accepts(&self, c: &impl Facets) -> bool {
        let any_of = |want: &[i32], have: Option<i32>| want.is_empty() || have.is_some_and(|h| want.contains(&h));
        let within = |r: &TimeRange, have: Option<i64>| r.is_open() || have.is_some_and(|v| r.contains(v));
        let state = match self.now_ms {
            Some(now) => c.state().map(|s| super::lifecycle::effective_state(s, c.expires_at_ms(), c.pinned(), now)),
            None => c.state(),
        };
        (self.memory_types.is_empty() || self.memory_types.contains(&c.memory_type()))
            && any_of(&self.states, state)
            && any_of(&self.sources, c.source())
            && (self.tags.is_empty() || c.tags().is_some_and(|have| self.tags.iter().all(|t| have.binary_search(t).is_ok())))
            && within(&self.created, c.created_at_ms())
            && within(&self.updated, c.updated_at_ms())
            && self.attributes.iter().all(|(k, v)| c.attribute(k) == Some(v.as_str()))
    }
}

impl Facets for MemCube {
    fn memory_type(&self) -> i32 {
        self.memory_type
    }
    fn state(&self) -> Option<i32> {
        Some(self.state)
    }
    fn source(&self) -> Option<i32> {
        Some(self.source)
    }
    fn tags(&self) -> Option<&[String]> {
        Some(&self.tags)
    }
    fn created_at_ms(&self) -> Option<i64> {
        Some(self.created_at_ms)
    }
    fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }
    fn pinned(&self) -> bool {
        self.pinned
    }
    fn updated_at_ms(&self) -> Option<i64> {
        Some(self.updated_at_ms)
    }
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmesh_proto::{MemoryType, Source};

    fn cube() -> MemCube {
        MemCube {
            memory_type: MemoryType::Fact as i32,
            state: CubeState::Active as i32,
            source: Source::User as i32,
            tags: vec!["a".into(), "b".into()],
            attributes: [("k".into(), "v".into())].into(),
            created_at_ms: 100,
            updated_at_ms: 200,
            ..Default::default()
        }
    }

    #[test]
    fn build_names_the_bad_field() {
        let err = |spec: FilterSpec| Filter::build(&spec).unwrap_err().field;
        assert_eq!(err(FilterSpec { memory_types: &[MemoryType::Fact as i32, 99], ..Default::default() }), "memory_types[1]");
        assert_eq!(err(FilterSpec { states: &[42], ..Default::default() }), "states[0]");
        assert_eq!(err(FilterSpec { sources: &[77], ..Default::default() }), "sources[0]");
        assert_eq!(err(FilterSpec { tags: &["x".into(), String::new()], ..Default::default() }), "tags[1]");
    }

    #[test]
    fn every_condition_must_hold() {
        let c = cube();
        let ok = |spec: FilterSpec| Filter::build(&spec).unwrap().accepts(&c);
        assert!(ok(FilterSpec::default()));
        assert!(ok(FilterSpec { tags: &["b".into(), "a".into()], ..Default::default() }));
        assert!(!ok(FilterSpec { tags: &["a".into(), "z".into()], ..Default::default() }), "all tags");
        assert!(!ok(FilterSpec { memory_types: &[MemoryType::Preference as i32], ..Default::default() }));
        assert!(ok(FilterSpec { created_after_ms: 100, created_before_ms: 101, ..Default::default() }), "lower bound inclusive");
        assert!(!ok(FilterSpec { updated_before_ms: 200, ..Default::default() }), "upper bound exclusive");
        let attrs: BTreeMap<String, String> = [("k".into(), "w".into())].into();
        assert!(!ok(FilterSpec { attributes: Some(&attrs), ..Default::default() }));
        assert!(!ok(FilterSpec { states: &[CubeState::Deleted as i32], ..Default::default() }));
        assert!(!ok(FilterSpec { sources: &[Source::Agent as i32], ..Default::default() }));
    }

    #[test]
    fn active_is_the_default_state_only_when_none_is_asked_for() {
        let f = Filter::build(&FilterSpec::default()).unwrap().active_by_default();
        assert_eq!(f.states, vec![CubeState::Active as i32]);
        let f = Filter::build(&FilterSpec { states: &[CubeState::Deleted as i32], ..Default::default() }).unwrap().active_by_default();
        assert_eq!(f.states, vec![CubeState::Deleted as i32]);
    }

    #[test]
    fn a_condition_on_a_facet_the_record_lacks_fails() {
        struct TypeOnly(i32);
        impl Facets for TypeOnly {
            fn memory_type(&self) -> i32 {
                self.0
            }
        }
        let fact = TypeOnly(MemoryType::Fact as i32);
        assert!(Filter::build(&FilterSpec { memory_types: &[MemoryType::Fact as i32], ..Default::default() }).unwrap().accepts(&fact));
        assert!(!Filter::build(&FilterSpec { tags: &["a".into()], ..Default::default() }).unwrap().accepts(&fact));
    }
}
