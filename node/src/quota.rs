//! Per-tenant quotas: stored cubes and content bytes (enforced by `apply`, exactly, from the
//! limits carried in each log entry) and requests per second (enforced per node, at
//! authentication, with a token bucket per tenant).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::model::Quota;

/// The `[quotas]` section: defaults for every tenant, and per-tenant overrides
/// (`[quotas.tenants.acme]`). 0 = unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    pub max_cubes: u64,
    /// Content bytes (text, data and search context) over all current cube versions.
    pub max_bytes: u64,
    /// Requests per second of a tenant's principals on one node.
    pub requests_per_second: u32,
    pub tenants: BTreeMap<String, TenantQuota>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TenantQuota {
    pub max_cubes: Option<u64>,
    pub max_bytes: Option<u64>,
    pub requests_per_second: Option<u32>,
}

impl QuotaConfig {
    pub fn storage(&self, tenant: &str) -> Quota {
        let t = self.tenants.get(tenant);
        Quota { max_cubes: t.and_then(|t| t.max_cubes).unwrap_or(self.max_cubes), max_bytes: t.and_then(|t| t.max_bytes).unwrap_or(self.max_bytes) }
    }

    pub fn rate(&self, tenant: &str) -> u32 {
        self.tenants.get(tenant).and_then(|t| t.requests_per_second).unwrap_or(self.requests_per_second)
    }
}

/// Token buckets, one per tenant: `rate` tokens per second, bursts up to one second's worth.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one token for `tenant`; false when its bucket is empty.
    pub fn admit(&self, tenant: &str, rate: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = b.entry(tenant.to_string()).or_insert((rate as f64, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate as f64).min(rate as f64);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_one_seconds_worth_then_refills() {
        let l = RateLimiter::default();
        assert!((0..5).all(|_| l.admit("t", 5)));
        assert!(!l.admit("t", 5), "burst spent");
        assert!(l.admit("other", 5), "buckets are per tenant");
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert!(l.admit("t", 5), "refilled at 5/s");
        assert!((0..100).all(|_| l.admit("t", 0)), "0 = unlimited");
    }

    #[test]
    fn tenant_overrides_win_over_defaults() {
        let mut q = QuotaConfig { max_cubes: 10, ..Default::default() };
        q.tenants.insert("big".into(), TenantQuota { max_cubes: Some(1000), ..Default::default() });
        assert_eq!(q.storage("small").max_cubes, 10);
        assert_eq!(q.storage("big").max_cubes, 1000);
    }
}
