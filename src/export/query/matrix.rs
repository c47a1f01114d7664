//! The status matrix in memory: the latest status per (subject, scope) with
//! subjects and ARS interned to dense integers, so millions of cells stay cheap.
//! Filled by `status`, read by the assembly; no SQL here.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::export::model::Status;

/// One latest status: (effective_on, event_id) orders events.
#[derive(Debug, Clone, Copy)]
pub(super) struct Latest {
    pub(super) on: NaiveDate,
    pub(super) event: i64,
    pub(super) status: Status,
}

impl Latest {
    pub(super) fn newer(a: Option<Latest>, b: Option<Latest>) -> Option<Latest> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if (y.on, y.event) > (x.on, x.event) {
                y
            } else {
                x
            }),
            (x, None) => x,
            (None, y) => y,
        }
    }
}

/// Latest status per (subject, scope) as of a date, with interned keys: a dense
/// row per subject, since nearly every Gemeinde has a status for nearly every
/// subject. Rows are per subject because `status_current_rows` is keyed subject
/// first: a subject's cells are read one after another into one row, and parts
/// read from disjoint subject ranges on other threads hand over whole rows.
#[derive(Default)]
pub(super) struct Matrix {
    pub(super) leika: HashMap<String, u32>,
    pub(super) efa: HashMap<String, u32>,
    pub(super) ars: HashMap<String, u32>,
    /// `latest[subject][ars]`.
    pub(super) latest: Vec<Vec<Option<Latest>>>,
    /// Events in the change window: (subject, ars, effective_on, old, new).
    pub(super) recent: Vec<(u32, u32, NaiveDate, Option<Status>, Status)>,
    /// Scope names by id.
    pub(super) scope_names: Vec<String>,
}

impl Matrix {
    pub(super) fn subject(&self, efa: bool, key: &str) -> Option<u32> {
        if efa { &self.efa } else { &self.leika }.get(key).copied()
    }

    pub(super) fn get(&self, subject: Option<u32>, ars: Option<u32>) -> Option<Latest> {
        *self.latest.get(subject? as usize)?.get(ars? as usize)?
    }

    /// The id of a subject, interning a new key.
    pub(super) fn subject_id(&mut self, efa: bool, subject: &str) -> u32 {
        let next = (self.leika.len() + self.efa.len()) as u32;
        let map = if efa { &mut self.efa } else { &mut self.leika };
        match map.get(subject) {
            Some(id) => *id,
            None => {
                map.insert(subject.to_owned(), next);
                self.latest.push(Vec::new());
                next
            }
        }
    }

    /// The id of a scope, interning a new one.
    pub(super) fn scope_id(&mut self, scope: &str) -> u32 {
        match self.ars.get(scope) {
            Some(a) => *a,
            None => {
                let a = self.ars.len() as u32;
                self.ars.insert(scope.to_owned(), a);
                self.scope_names.push(scope.to_owned());
                a
            }
        }
    }

    /// Keeps `this` if it is newer than what the cell holds.
    pub(super) fn fold(&mut self, (s, a): (u32, u32), this: Latest) {
        let scopes = self.ars.len();
        let Some(row) = self.latest.get_mut(s as usize) else {
            return;
        };
        let a = a as usize;
        if row.len() <= a {
            row.resize(scopes.max(a + 1), None);
        }
        if let Some(slot) = row.get_mut(a) {
            *slot = Latest::newer(*slot, Some(this));
        }
    }
}
