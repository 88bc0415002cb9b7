//! Applying an import (`Admin.Import`): exported cubes written as they were.
//!
//! Unlike a put, nothing is decided for the cube: its id, versions, past versions, timestamps,
//! provenance, access list and links are the exported ones (validated before proposing). Only
//! `revision` is this cluster's: every imported version gets the import's revision, the point
//! at which it came to exist here. A cube whose id already exists — in any state — is left
//! alone and counted, which is what makes re-running an interrupted import safe; so is a policy
//! whose name exists.

use memmesh_proto::{EventType, ExportedCube, Policy};
use ulid::Ulid;

use super::apply::Applier;
use super::feed::EventRecord;
use super::keys::{cube_key, scope_index_keys, version_key};
use super::reader::load_cube;
use super::usage::cube_bytes;
use super::{cf, StoreError, CF_CUBES, CF_SCOPE_IDX, CF_VERSIONS};
use crate::model::lifecycle::dormant_since;
use crate::model::{ApplyError, Pb};
use crate::raft::Outcome;

impl Applier<'_> {
    pub(super) fn import(&mut self, cubes: &[Pb<ExportedCube>], policies: &[Pb<Policy>]) -> Result<Result<Outcome, ApplyError>, StoreError> {
        let mut out = Outcome::default();
        let mut fresh: Vec<(Ulid, &ExportedCube)> = Vec::with_capacity(cubes.len());
        for e in cubes {
            let Some(cube) = e.0.cube.as_ref() else { continue };
            let Ok(ulid) = Ulid::from_string(&cube.id) else {
                return Ok(Err(ApplyError::Precondition(format!("invalid cube id {:?}", cube.id))));
            };
            if load_cube(self.db, ulid)?.is_some() || fresh.iter().any(|(u, _)| *u == ulid) {
                out.skipped += 1;
                continue;
            }
            fresh.push((ulid, &e.0));
        }
        let bytes = fresh.iter().filter_map(|(_, e)| e.cube.as_ref()).map(cube_bytes).sum();
        if let Err(e) = self.charge(fresh.len() as i64, bytes)? {
            return Ok(Err(e));
        }
        for (ulid, e) in fresh {
            let mut cube = e.cube.clone().expect("checked above");
            for past in &e.history {
                let past = memmesh_proto::MemCube { revision: self.revision, ..past.clone() };
                self.batch.put_cf(cf(self.db, CF_VERSIONS), version_key(ulid, past.version), prost::Message::encode_to_vec(&past));
            }
            cube.revision = self.revision;
            self.index_links(ulid, &[], &cube.links);
            self.index_expiry(ulid, None, &cube);
            let tenant = cube.scope.as_ref().map_or("", |s| s.tenant.as_str()).to_string();
            self.index_dormant(ulid, &tenant, None, dormant_since(&cube));
            for k in scope_index_keys(&cube.scope.clone().unwrap_or_default(), ulid) {
                self.batch.put_cf(cf(self.db, CF_SCOPE_IDX), k, []);
            }
            self.index_shared(ulid, cube.scope.as_ref(), false, cube.acl.is_some());
            self.batch.put_cf(cf(self.db, CF_CUBES), cube_key(ulid), prost::Message::encode_to_vec(&cube));
            self.events.push(EventRecord::new(EventType::Imported, &cube, 0, self.request_id));
            out.merged += 1;
            out.cubes.push(Pb(cube));
        }
        for p in policies {
            let tenant = p.0.scope.as_ref().map_or("", |s| s.tenant.as_str());
            if super::policies::get(self.db, tenant, &p.0.name)?.is_none() {
                if let Err(e) = super::policies::put(self.db, self.batch, &p.0)? {
                    return Ok(Err(e));
                }
                out.imported_policies += 1;
            }
        }
        Ok(Ok(out))
    }
}
