//! The status matrix in memory: the latest status per (subject, scope) with
//! subjects and ARS interned to integers, so millions of cells stay cheap. Filled by
//! `status`, read by the assembly; no SQL here.

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
/// table per subject, since nearly every Gemeinde has a status for nearly every
/// subject. Rows are per subject because `status_current` is read subject first:
/// a subject's cells are written one after another into one row, and two parts read
/// from disjoint subject ranges merge by moving rows.
#[derive(Default)]
pub(super) struct Matrix {
    pub(super) leika: HashMap<String, u32>,
    pub(super) efa: HashMap<String, u32>,
    pub(super) ars: HashMap<String, u32>,
    /// `latest[subject][ars]`.
    pub(super) latest: Vec<Vec<Option<Latest>>>,
    /// Events in the change window: (subject, ars, effective_on, old, new).
    pub(super) recent: Vec<(u32, u32, NaiveDate, Option<Status>, Status)>,
    pub(super) last_subject: Option<(bool, String, u32)>,
    /// Scope names by id, and for each scope the one that followed it last: every
    /// subject lists the Gemeinden in the same order, so the next scope is nearly
    /// always the predicted one, checked by one comparison instead of a hash lookup.
    pub(super) scope_names: Vec<String>,
    pub(super) next_scope: Vec<u32>,
    pub(super) last_scope: Option<u32>,
}

impl Matrix {
    pub(super) fn subject(&self, efa: bool, key: &str) -> Option<u32> {
        if efa { &self.efa } else { &self.leika }.get(key).copied()
    }

    pub(super) fn get(&self, subject: Option<u32>, ars: Option<u32>) -> Option<Latest> {
        *self.latest.get(subject? as usize)?.get(ars? as usize)?
    }

    /// The ids of a cell, interning new keys. The table is read in key order, so
    /// consecutive rows mostly share their subject: the last one is remembered and
    /// the hash lookup skipped.
    pub(super) fn cell(&mut self, efa: bool, subject: &[u8], scope: &[u8]) -> (u32, u32) {
        if let Some((last_efa, last_subject, s)) = &self.last_subject {
            if *last_efa == efa && last_subject.as_bytes() == subject {
                let s = *s;
                let a = self.scope_id_bytes(scope);
                return (s, a);
            }
        }
        let subject = std::str::from_utf8(subject).unwrap_or("");
        let s = self.subject_id(efa, subject);
        let last = self
            .last_subject
            .get_or_insert_with(|| (efa, String::new(), s));
        last.0 = efa;
        last.1.clear();
        last.1.push_str(subject);
        last.2 = s;
        (s, self.scope_id_bytes(scope))
    }

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

    /// [`Matrix::scope_id`] for a stored key: the predicted scope is compared as bytes,
    /// so only a scope that has to be looked up is checked as UTF-8.
    pub(super) fn scope_id_bytes(&mut self, scope: &[u8]) -> u32 {
        match self.predicted_scope(scope) {
            Some(a) => {
                self.last_scope = Some(a);
                a
            }
            None => self.scope_id(std::str::from_utf8(scope).unwrap_or("")),
        }
    }

    pub(super) fn predicted_scope(&self, scope: &[u8]) -> Option<u32> {
        self.last_scope
            .and_then(|last| self.next_scope.get(last as usize))
            .copied()
            .filter(|&p| {
                self.scope_names
                    .get(p as usize)
                    .is_some_and(|n| n.as_bytes() == scope)
            })
    }

    pub(super) fn scope_id(&mut self, scope: &str) -> u32 {
        let a = match self.predicted_scope(scope.as_bytes()) {
            Some(a) => a,
            None => {
                let a = match self.ars.get(scope) {
                    Some(a) => *a,
                    None => {
                        let a = self.ars.len() as u32;
                        self.ars.insert(scope.to_owned(), a);
                        self.scope_names.push(scope.to_owned());
                        self.next_scope.push(u32::MAX);
                        a
                    }
                };
                if let Some(next) = self
                    .last_scope
                    .and_then(|last| self.next_scope.get_mut(last as usize))
                {
                    *next = a;
                }
                a
            }
        };
        self.last_scope = Some(a);
        a
    }

    /// Adds the cells of `other` (read from another part of the table).
    pub(super) fn merge(&mut self, other: Matrix) {
        if self.latest.is_empty() {
            *self = other;
            return;
        }
        let mut scopes = vec![0u32; other.ars.len()];
        for (name, id) in &other.ars {
            let mine = self.scope_id(name);
            if let Some(slot) = scopes.get_mut(*id as usize) {
                *slot = mine;
            }
        }
        let identity = scopes.iter().enumerate().all(|(i, &a)| i as u32 == a);
        let mut names: Vec<(bool, u32, String)> = Vec::new();
        for (efa, map) in [(false, &other.leika), (true, &other.efa)] {
            names.extend(map.iter().map(|(name, id)| (efa, *id, name.clone())));
        }
        let mut rows: Vec<Option<Vec<Option<Latest>>>> =
            other.latest.into_iter().map(Some).collect();
        for (efa, id, name) in names {
            let mine = self.subject_id(efa, &name);
            let Some(row) = rows.get_mut(id as usize).and_then(Option::take) else {
                continue;
            };
            let target_empty = self
                .latest
                .get(mine as usize)
                .is_some_and(|r| r.iter().all(Option::is_none));
            if identity && target_empty {
                // Disjoint subject ranges with the same scope ids: move the row.
                if let Some(slot) = self.latest.get_mut(mine as usize) {
                    *slot = row;
                }
                continue;
            }
            for (a, cell) in row.into_iter().enumerate() {
                if let (Some(cell), Some(&a)) = (cell, scopes.get(a)) {
                    self.fold((mine, a), cell);
                }
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
