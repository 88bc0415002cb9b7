//! A linearizability checker for histories of single registers (one cube's content each).
//!
//! Algorithm: Wing & Gong's search with Lowe's memoisation (as in the P-compositional checkers
//! Knossos and Porcupine): walk the call/return events in time order; at a call, try to take the
//! operation effect now (if the register model allows it — a read must return the current value)
//! and restart from the first pending event; at a return of an operation not yet taken, undo the
//! last choice. Configurations already explored (set of taken operations, register value) are
//! cached. Registers are independent, so a history is linearizable iff each register's is.
//!
//! A write whose outcome is unknown (timeout, connection lost) may have taken effect at any time
//! after its call or never; it is modelled as returning at the end of time, which is equivalent
//! for registers with unique written values (taking it last is always possible).
//!
//! Such a write whose value no read returned is left out before the search: no read can sit
//! between it and the next write in any linearization, so taking it is the same as not taking
//! it, and the answer does not change. Without that, every failed write of a partition (clients
//! retry at once, and each failure is an unknown outcome) doubled the configurations to explore:
//! a history with a few hundred of them never finished.

use std::collections::HashSet;

/// One operation on a register. Times are in any monotonic unit (e.g. ns since a common start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub call: u64,
    /// `None`: outcome unknown (only meaningful for writes; failed reads are left out).
    pub ret: Option<u64>,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Write a unique value.
    Write(u64),
    /// A read that returned this value.
    Read(u64),
}

#[derive(Clone, Copy)]
struct Event {
    op: usize,
    call: bool,
    time: u64,
}

/// Whether the history of one register, starting at value `init`, is linearizable.
pub fn check_register(init: u64, ops: &[Op]) -> bool {
    let seen: HashSet<u64> = ops.iter().filter_map(|o| if let Kind::Read(v) = o.kind { Some(v) } else { None }).collect();
    let ops: Vec<&Op> = ops.iter().filter(|o| !matches!((o.ret, o.kind), (None, Kind::Write(v)) if !seen.contains(&v))).collect();
    let mut events: Vec<Event> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push(Event { op: i, call: true, time: op.call });
        events.push(Event { op: i, call: false, time: op.ret.unwrap_or(u64::MAX) });
    }
    // At equal times a return goes first: the operations did not overlap.
    events.sort_by_key(|e| (e.time, e.call));
    let n = events.len();
    // A doubly linked list over the events, so taken operations can be lifted out and put back.
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { usize::MAX } else { i - 1 }).collect();
    let mut head = if n == 0 { usize::MAX } else { 0 };
    let mut ret_of = vec![0usize; ops.len()];
    for (idx, e) in events.iter().enumerate() {
        if !e.call {
            ret_of[e.op] = idx;
        }
    }
    let words = ops.len().div_ceil(64);
    let mut taken = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, u64)> = HashSet::new();
    let mut stack: Vec<(usize, u64)> = Vec::new(); // (call event index, value before)
    let mut value = init;
    let mut at = head;

    let lift = |i: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>, head: &mut usize| {
        let (p, nx) = (prev[i], next[i]);
        if p == usize::MAX {
            *head = nx;
        } else {
            next[p] = nx;
        }
        if nx < n {
            prev[nx] = p;
        }
    };
    let unlift = |i: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>, head: &mut usize| {
        let (p, nx) = (prev[i], next[i]);
        if p == usize::MAX {
            *head = i;
        } else {
            next[p] = i;
        }
        if nx < n {
            prev[nx] = i;
        }
    };

    while head < n {
        if at >= n {
            return false;
        }
        let e = events[at];
        if e.call {
            let op = &ops[e.op];
            let (ok, after) = match op.kind {
                Kind::Write(v) => (true, v),
                Kind::Read(v) => (v == value, value),
            };
            if ok {
                let mut t = taken.clone();
                t[e.op / 64] |= 1 << (e.op % 64);
                if cache.insert((t.clone(), after)) {
                    stack.push((at, value));
                    taken = t;
                    value = after;
                    // Lift the return first, then the call (the call's links stay valid).
                    lift(ret_of[e.op], &mut next, &mut prev, &mut head);
                    lift(at, &mut next, &mut prev, &mut head);
                    at = head;
                    continue;
                }
            }
            at = next[at];
        } else {
            // The operation returned without having been taken: undo the last choice.
            let Some((call_at, before)) = stack.pop() else { return false };
            let op = events[call_at].op;
            taken[op / 64] &= !(1 << (op % 64));
            value = before;
            unlift(call_at, &mut next, &mut prev, &mut head);
            unlift(ret_of[op], &mut next, &mut prev, &mut head);
            at = next[call_at];
        }
    }
    true
}

/// One operation of a client on register `k`, a cube whose text is `k{k}-v{value}`: writes
/// `value` (with `request_id`) when given one, else reads; each bounded by `limit`. Returns the
/// operation as recorded, or `None` for a read that failed (failed reads say nothing). `now`
/// gives the history's clock.
pub async fn register_op(
    c: &mut memmesh_client::Client,
    id: &str,
    k: usize,
    write: Option<(u64, String)>,
    limit: std::time::Duration,
    now: impl Fn() -> u64,
) -> Option<Op> {
    use memmesh_client::proto::{Content, GetRequest, UpdateRequest};
    let call = now();
    match write {
        Some((v, request_id)) => {
            let req = UpdateRequest {
                id: id.to_string(),
                content: Some(Content { text: format!("k{k}-v{v}"), ..Default::default() }),
                request_id,
                ..Default::default()
            };
            let ok = matches!(tokio::time::timeout(limit, c.memory.update(req)).await, Ok(Ok(_)));
            Some(Op { call, ret: ok.then(&now), kind: Kind::Write(v) })
        }
        None => {
            let r = tokio::time::timeout(limit, c.memory.get(GetRequest { id: id.to_string(), ..Default::default() })).await.ok()?.ok()?;
            let ret = now();
            let text = &r.get_ref().cube.as_ref()?.content.as_ref()?.text;
            let v: u64 = text.rsplit("-v").next()?.parse().ok()?;
            Some(Op { call, ret: Some(ret), kind: Kind::Read(v) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(call: u64, ret: u64, v: u64) -> Op {
        Op { call, ret: Some(ret), kind: Kind::Write(v) }
    }
    fn r(call: u64, ret: u64, v: u64) -> Op {
        Op { call, ret: Some(ret), kind: Kind::Read(v) }
    }

    #[test]
    fn sequential_and_overlapping_histories_pass() {
        assert!(check_register(0, &[w(0, 1, 1), r(2, 3, 1), w(4, 5, 2), r(6, 7, 2)]));
        // A read overlapping a write may see either value.
        assert!(check_register(0, &[w(0, 10, 1), r(1, 2, 0), r(3, 4, 1)]));
        assert!(check_register(0, &[]));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_fails() {
        assert!(!check_register(0, &[w(0, 1, 1), r(2, 3, 0)]));
        // Reads going backwards in time: once 2 was seen, 1 cannot be seen again.
        assert!(!check_register(0, &[w(0, 1, 1), w(2, 10, 2), r(3, 4, 2), r(5, 6, 1)]));
        // A value nobody wrote.
        assert!(!check_register(0, &[w(0, 1, 1), r(2, 3, 7)]));
    }

    #[test]
    fn a_write_with_unknown_outcome_may_or_may_not_take_effect() {
        let lost = Op { call: 0, ret: None, kind: Kind::Write(1) };
        assert!(check_register(0, &[lost.clone(), r(5, 6, 0)]), "never took effect");
        assert!(check_register(0, &[lost.clone(), r(5, 6, 1)]), "took effect late");
        assert!(!check_register(0, &[lost, r(5, 6, 1), r(7, 8, 0)]), "but not undone once seen");
    }

    /// Runs the checker on another thread and fails the test if it does not answer in time.
    fn check_within(ops: Vec<Op>) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(check_register(0, &ops)));
        rx.recv_timeout(std::time::Duration::from_secs(20)).expect("the checker answers within 20 s")
    }

    #[test]
    fn hundreds_of_failed_writes_nobody_read_are_checked_quickly_and_change_nothing() {
        // A partition: 300 writes with unknown outcome, overlapping everything after them.
        let lost = |i: u64| Op { call: 10 + i, ret: None, kind: Kind::Write(1000 + i) };
        let mut ok = vec![w(0, 1, 1), r(2, 3, 1)];
        ok.extend((0..300).map(lost));
        ok.extend([w(400, 401, 2), r(402, 403, 2), r(404, 405, 1000 + 7)]);
        assert!(check_within(ok.clone()), "a lost write that was read took effect late");
        let mut stale = ok;
        stale.push(r(406, 407, 1));
        assert!(!check_within(stale), "a stale read is still caught among them");
    }
}
