//! The call graph, and what it decides: where the stack height is charged,
//! which functions check the gas left on entry, and which call sites must
//! check it first.
//!
//! # Stack height
//!
//! A function is *recursive* when it lies on a cycle of the call graph (its
//! strongly connected component has more than one function, or it calls
//! itself). A call is *dynamic* when its caller is recursive, and *static*
//! otherwise. Every function `f` has a static height
//!
//! `S(f) = frame(f) + max { S(g) : f calls g over a static edge }`,
//!
//! well founded because a function that is not recursive only calls
//! functions of earlier components; a recursive function's is its frame.
//! The stack height is charged only where a frame is entered dynamically:
//! an export (or start) thunk charges `S` of the function it enters, and a
//! dynamic call site charges `S` of its callee (for `call_indirect`, the
//! most any target of its signature in the table may need). Static calls
//! charge nothing.
//!
//! Only calls *within* a cycle need charging for the limit to bound the
//! stack; charging a recursive function's calls out of its cycle too keeps
//! each round of recursion at its own frame. Folding them into `S` instead
//! would charge every round the deepest call tree it could start (a host
//! call alone is 256 slots), cutting the depth recursion can reach by an
//! order of magnitude.
//!
//! Why the charged height bounds the real stack: split the frames on the
//! stack into runs, each starting at a frame entered dynamically and
//! continuing through static calls only. Along a run `f1 -> f2 -> ...`,
//! `S(f1) >= frame(f1) + S(f2) >= frame(f1) + frame(f2) + S(f3) ...`, so a
//! run's frames cost at most `S` of its first frame, which is exactly what
//! was charged for it. The charged height is therefore never below the sum
//! of the frames on the stack (it is above it by the deepest static path
//! not taken), and the limit trips no later than a per-frame count would.
//!
//! Indirect calls go through one node per signature, whose edges lead to
//! every function of that signature in the table: the graph stays linear
//! in the module's size, and a function is recursive through
//! `call_indirect` only if one of its possible targets can come back to it.
//!
//! # Gas checks
//!
//! Blocks subtract their cost without checking (see `body.rs`); the gas
//! left is checked at loop headers, before host calls, and on entry to the
//! functions chosen here. Between two checks no loop turns round, so every
//! block and call site of a function runs at most once, and the gas such a
//! stretch can take is `U(f)`: the function's own block charges plus `U`
//! of every callee that does not check on entry. A function checks on entry
//! if it is on a cycle (so that recursion, which has no loop header, still
//! checks every round) or if its `U` exceeds [`UNCHECKED_CALL_BUDGET`]: a
//! call tree without loops or recursion can still be exponential in the
//! code's size, and this cuts it into stretches of bounded cost.

use std::collections::BTreeMap;

use wasmparser::FuncType;

use crate::analysis::{ModuleInfo, Site};

/// The most gas a function and its callees may take between two checks of
/// the gas left before the function checks on entry (about two
/// microseconds of work at the schedule's units): how far past zero a call
/// may run before it stops, per frame on the stack.
pub(crate) const UNCHECKED_CALL_BUDGET: u64 = 100_000;

/// A function whose stretch between checks could cost more than this checks
/// before every block instead (as if all its blocks were loop headers).
/// With frames of at least two slots and a limit below 2^30, fewer than
/// 2^29 frames fit on the stack; each adds at most this much between two
/// checks, so the `i64` counter, never above `i64::MAX` and checked
/// non-negative, cannot go below `-2^61` and never wraps.
pub(crate) const MAX_UNCHECKED_STRETCH: u64 = 1 << 32;

/// What a call site does besides calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SitePlan {
    /// Stack height to charge around the call, if the edge is dynamic.
    pub charge: Option<u32>,
    /// Whether the call may enter a host function, which must never run
    /// with the gas left below zero.
    pub may_call_host: bool,
}

/// What the call graph decides, for every function (imported ones first).
#[derive(Debug)]
pub(crate) struct CallPlan {
    imported: u32,
    /// Whether each function is on a cycle of the call graph.
    recursive: Vec<bool>,
    /// `S(f)` of each node, capped at the stack limit plus one.
    height: Vec<u32>,
    entry_check: Vec<bool>,
    every_block: Vec<bool>,
    entry_charged_by_callers: Vec<bool>,
    /// Signature -> its node and whether a host function has it in the
    /// table.
    signatures: BTreeMap<FuncType, (usize, bool)>,
}

impl CallPlan {
    pub(crate) fn new(info: &ModuleInfo, cap: u32) -> Self {
        let funcs = info.func_types.len();
        let imported = info.imported_funcs;
        let is_import = |func: u32| func < imported;

        // One node per signature a table entry has; its edges go to every
        // table entry of that signature.
        let mut signatures: BTreeMap<FuncType, (usize, bool)> = BTreeMap::new();
        let mut targets: Vec<Vec<u32>> = Vec::new();
        for &func in &info.table_funcs {
            let ty = info.func_type(func).clone();
            let next = funcs + targets.len();
            let entry = signatures.entry(ty).or_insert((next, false));
            if entry.0 == next {
                targets.push(Vec::new());
            }
            targets[entry.0 - funcs].push(func);
            entry.1 |= is_import(func);
        }
        let node_of = |site: &Site| -> Option<usize> {
            match *site {
                Site::Direct(func) => Some(func as usize),
                Site::Indirect(ty) => signatures
                    .get(&info.types[ty as usize])
                    .map(|&(node, _)| node),
            }
        };
        let nodes = funcs + targets.len();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); nodes];
        for (body, facts) in info.bodies.iter().enumerate() {
            let func = imported as usize + body;
            edges[func] = facts.sites.iter().filter_map(&node_of).collect();
        }
        for (index, list) in targets.iter().enumerate() {
            edges[funcs + index] = list.iter().map(|&func| func as usize).collect();
        }

        let components = strongly_connected(&edges);
        let mut component = vec![0; nodes];
        for (index, members) in components.iter().enumerate() {
            for &node in members {
                component[node] = index;
            }
        }
        let on_cycle =
            |node: usize| components[component[node]].len() > 1 || edges[node].contains(&node);

        let recursive: Vec<bool> = (0..funcs).map(on_cycle).collect();
        let mut height: Vec<u32> = vec![0; nodes];
        let mut stretch: Vec<u64> = vec![0; nodes];
        let mut entry_check = vec![false; funcs];
        let mut every_block = vec![false; funcs];
        for (index, func) in info.frame_costs.iter().enumerate().take(imported as usize) {
            height[index] = *func;
        }
        // Tarjan's algorithm lists components callees first.
        for (index, members) in components.iter().enumerate() {
            // What a stretch may take in an unchecked callee; callees in
            // this component all check on entry, so they add nothing.
            let callee_stretch = |node: usize, stretch: &[u64], entry_check: &[bool]| {
                if component[node] == index
                    || (node < funcs && (node < imported as usize || entry_check[node]))
                {
                    0
                } else {
                    stretch[node]
                }
            };
            for &node in members.iter().filter(|&&node| node >= funcs) {
                stretch[node] = edges[node]
                    .iter()
                    .map(|&target| callee_stretch(target, &stretch, &entry_check))
                    .max()
                    .unwrap_or(0);
            }
            for &node in members.iter().filter(|&&node| node < funcs) {
                let Some(facts) = node
                    .checked_sub(imported as usize)
                    .and_then(|body| info.bodies.get(body))
                else {
                    continue;
                };
                let mut own = facts.static_cost;
                let mut deepest = 0;
                for target in &edges[node] {
                    own = own.saturating_add(callee_stretch(*target, &stretch, &entry_check));
                    if !recursive[node] {
                        deepest = deepest.max(height[*target]);
                    }
                }
                stretch[node] = own;
                height[node] = info.frame_costs[node].saturating_add(deepest).min(cap);
                entry_check[node] = recursive[node] || own > UNCHECKED_CALL_BUDGET;
                every_block[node] = own > MAX_UNCHECKED_STRETCH;
            }
            for &node in members.iter().filter(|&&node| node >= funcs) {
                height[node] = edges[node]
                    .iter()
                    .map(|&target| height[target])
                    .max()
                    .unwrap_or(0);
            }
        }
        let entry_charged_by_callers =
            entries_charged_by_callers(info, &recursive, &entry_check, &every_block);
        CallPlan {
            imported,
            recursive,
            height,
            entry_check,
            every_block,
            entry_charged_by_callers,
            signatures,
        }
    }

    /// Whether `func`'s callers pay its first block (frame included) at
    /// their call sites, so that `func` itself does not.
    pub(crate) fn entry_charged_by_callers(&self, func: u32) -> bool {
        self.entry_charged_by_callers[func as usize]
    }

    /// `S(func)`: what entering `func` from outside (an export thunk)
    /// charges.
    pub(crate) fn height(&self, func: u32) -> u32 {
        self.height[func as usize]
    }

    /// Whether `func` checks the gas left after its first block's charge.
    pub(crate) fn checks_entry(&self, func: u32) -> bool {
        self.entry_check[func as usize]
    }

    /// Whether `func` checks the gas left before every block's charge.
    pub(crate) fn checks_every_block(&self, func: u32) -> bool {
        self.every_block[func as usize]
    }

    /// A `call` from `caller` to `callee`.
    pub(crate) fn direct(&self, caller: u32, callee: u32) -> SitePlan {
        self.site(caller, callee as usize, callee < self.imported)
    }

    /// A `call_indirect` of signature `ty` from `caller`.
    pub(crate) fn indirect(&self, caller: u32, ty: &FuncType) -> SitePlan {
        match self.signatures.get(ty) {
            Some(&(node, host)) => self.site(caller, node, host),
            // Nothing in the table has the signature: the call traps before
            // entering anything.
            None => SitePlan {
                charge: None,
                may_call_host: false,
            },
        }
    }

    fn site(&self, caller: u32, node: usize, may_call_host: bool) -> SitePlan {
        SitePlan {
            charge: self.recursive[caller as usize].then(|| self.height[node]),
            may_call_host,
        }
    }
}

/// Which functions have their first block charged at their call sites.
///
/// A call's basic block ends at the call, and the callee's first block
/// begins its run, so charging the callee's first block together with the
/// caller's block moves that charge earlier only across the caller's block
/// itself. Where nothing in that block can trap (gas checks aside) and the
/// site does no stack accounting, nothing can tell the two apart: the
/// counter never grows, so a charge made earlier makes a call go below
/// zero only if it would have anyway, and every way a call ends reports
/// out of gas once the counter is below zero. Gas figures and outcomes are
/// the same; a call pays one charge fewer.
///
/// That holds for a function only if every way in is such a call site: it
/// is not exported, not the start function and not in the table, and each
/// of its callers is outside recursion and charges its blocks unchecked.
/// It must not check on entry either (which rules out recursive functions
/// and those checking every block, since both check on entry), so that the
/// stretches of `U` stay as computed: its callers already count its whole
/// cost.
fn entries_charged_by_callers(
    info: &ModuleInfo,
    recursive: &[bool],
    entry_check: &[bool],
    every_block: &[bool],
) -> Vec<bool> {
    let imported = info.imported_funcs as usize;
    let mut charged = vec![false; info.func_types.len()];
    for func in imported..charged.len() {
        charged[func] = !entry_check[func];
    }
    for &func in info
        .exported_funcs
        .iter()
        .chain(&info.table_funcs)
        .chain(&info.start)
    {
        charged[func as usize] = false;
    }
    for (body, facts) in info.bodies.iter().enumerate() {
        let caller = imported + body;
        let caller_qualifies = !recursive[caller] && !every_block[caller];
        for (site, &trap_free) in facts.sites.iter().zip(&facts.trap_free_leads) {
            if let Site::Direct(callee) = *site
                && !(caller_qualifies && trap_free)
            {
                charged[callee as usize] = false;
            }
        }
    }
    charged
}

/// Tarjan's strongly connected components, without recursion (call graphs
/// can be deep), in reverse topological order: a component comes after
/// every component it has an edge to.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let nodes = edges.len();
    let mut index = vec![UNSEEN; nodes];
    let mut low = vec![0; nodes];
    let mut on_stack = vec![false; nodes];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0;
    // (node, next edge to follow)
    let mut work: Vec<(usize, usize)> = Vec::new();
    for root in 0..nodes {
        if index[root] != UNSEEN {
            continue;
        }
        work.push((root, 0));
        while let Some(&mut (node, ref mut edge)) = work.last_mut() {
            if *edge == 0 && index[node] == UNSEEN {
                index[node] = next;
                low[node] = next;
                next += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&target) = edges[node].get(*edge) {
                *edge += 1;
                if index[target] == UNSEEN {
                    work.push((target, 0));
                } else if on_stack[target] {
                    low[node] = low[node].min(index[target]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut members = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    members.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(members);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_come_callees_first() {
        // 0 -> 1 <-> 2 -> 3, 4 -> 4, 5 alone.
        let edges = vec![vec![1], vec![2], vec![1, 3], vec![], vec![4], vec![]];
        let mut components = strongly_connected(&edges);
        for members in &mut components {
            members.sort_unstable();
        }
        let position = |node: usize| components.iter().position(|c| c.contains(&node)).unwrap();
        assert_eq!(components[position(1)], [1, 2]);
        assert!(position(3) < position(1));
        assert!(position(1) < position(0));
        assert_eq!(components.len(), 5);
    }

    #[test]
    fn deep_chains_do_not_recurse() {
        let nodes = 200_000;
        let edges: Vec<Vec<usize>> = (0..nodes)
            .map(|node| {
                if node + 1 < nodes {
                    vec![node + 1]
                } else {
                    vec![0]
                }
            })
            .collect();
        assert_eq!(strongly_connected(&edges).len(), 1);
    }
}
