//! An augmented, balanced tree of disjoint address ranges.
//!
//! Both of vmalloc's trees are this one type: the free tree (free ranges,
//! no payload) and the busy tree (allocated areas with their `vm_struct`).
//! Nodes are keyed by their start address; ranges never overlap, so the
//! order of starts is also the order of ends.
//!
//! Balance is AVL (heights differ by at most one), so every operation is
//! O(log n) in the worst case, not only on average. Each node also keeps
//! `max`, the size of the largest range in its subtree: Linux's
//! `subtree_max_size`, which lets [`AreaTree::lowest_fit`] find the lowest
//! range of at least a given size in one walk from the root. Every update
//! of a child link or of a range's bounds recomputes `max` on the way back
//! up, as the rotations do.
//!
//! Nodes live in an arena of fixed-size chunks (so growing never moves a
//! node and never needs a large contiguous allocation); freed nodes are
//! chained through their `left` link and reused. Growing reports
//! [`Error::NoMemory`] instead of aborting, so a vmalloc that cannot get a
//! node fails cleanly.

extern crate alloc;

use crate::Error;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// No node.
const NIL: u32 = u32::MAX;
/// log2 of the nodes per arena chunk: 32 nodes, a few KiB, so a chunk is
/// a kmalloc object (not a high-order page allocation) in the kernel.
const CHUNK_SHIFT: u32 = 5;
/// Nodes per arena chunk.
const CHUNK: usize = 1 << CHUNK_SHIFT;

struct Node<V> {
    start: u64,
    end: u64,
    left: u32,
    right: u32,
    height: u8,
    /// Largest `end - start` in this node's subtree.
    max: u64,
    val: Option<V>,
}

/// Deepest an AVL tree of at most 2^32 nodes gets (1.44 log2 n + 2).
const MAX_DEPTH: usize = 48;

/// The nodes from the root down to an update, and which way each went.
struct Path {
    nodes: [u32; MAX_DEPTH],
    right: [bool; MAX_DEPTH],
    len: usize,
}

impl Path {
    fn new() -> Self {
        Path { nodes: [NIL; MAX_DEPTH], right: [false; MAX_DEPTH], len: 0 }
    }
    fn push(&mut self, i: u32, right: bool) {
        self.nodes[self.len] = i;
        self.right[self.len] = right;
        self.len += 1;
    }
    fn last(&self) -> Option<(u32, bool)> {
        self.len.checked_sub(1).map(|k| (self.nodes[k], self.right[k]))
    }
}

/// A set of disjoint `[start, end)` ranges, each with a value.
pub struct AreaTree<V> {
    chunks: Vec<Box<[Node<V>; CHUNK]>>,
    /// Nodes handed out in the last chunk.
    used_in_last: usize,
    free_list: u32,
    root: u32,
    len: usize,
}

impl<V> Default for AreaTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> AreaTree<V> {
    /// An empty tree.
    pub const fn new() -> Self {
        Self { chunks: Vec::new(), used_in_last: CHUNK, free_list: NIL, root: NIL, len: 0 }
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No ranges at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The size of the largest range (the root's augmentation), O(1).
    pub fn max_size(&self) -> u64 {
        self.max_of(self.root)
    }

    /// Nodes the arena holds (used or free): its memory is this times the
    /// node size.
    pub fn capacity(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    fn n(&self, i: u32) -> &Node<V> {
        &self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK - 1)]
    }

    fn n_mut(&mut self, i: u32) -> &mut Node<V> {
        &mut self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK - 1)]
    }

    fn height(&self, i: u32) -> i32 {
        if i == NIL { 0 } else { self.n(i).height as i32 }
    }

    fn max_of(&self, i: u32) -> u64 {
        if i == NIL { 0 } else { self.n(i).max }
    }

    /// Recompute `i`'s height and augmentation from its children.
    fn pull(&mut self, i: u32) {
        let (l, r) = (self.n(i).left, self.n(i).right);
        let h = 1 + self.height(l).max(self.height(r));
        let m = (self.n(i).end - self.n(i).start).max(self.max_of(l)).max(self.max_of(r));
        let node = self.n_mut(i);
        node.height = h as u8;
        node.max = m;
    }

    fn rotate_right(&mut self, i: u32) -> u32 {
        let l = self.n(i).left;
        self.n_mut(i).left = self.n(l).right;
        self.n_mut(l).right = i;
        self.pull(i);
        self.pull(l);
        l
    }

    fn rotate_left(&mut self, i: u32) -> u32 {
        let r = self.n(i).right;
        self.n_mut(i).right = self.n(r).left;
        self.n_mut(r).left = i;
        self.pull(i);
        self.pull(r);
        r
    }

    /// Restore the AVL property at `i` (children already balanced).
    fn balance(&mut self, i: u32) -> u32 {
        self.pull(i);
        let (l, r) = (self.n(i).left, self.n(i).right);
        let bf = self.height(l) - self.height(r);
        if bf > 1 {
            if self.height(self.n(l).left) < self.height(self.n(l).right) {
                let nl = self.rotate_left(l);
                self.n_mut(i).left = nl;
            }
            return self.rotate_right(i);
        }
        if bf < -1 {
            if self.height(self.n(r).right) < self.height(self.n(r).left) {
                let nr = self.rotate_right(r);
                self.n_mut(i).right = nr;
            }
            return self.rotate_left(i);
        }
        i
    }

    /// Make sure one node can be allocated without failing.
    fn reserve_node(&mut self) -> Result<(), Error> {
        if self.free_list != NIL || self.used_in_last < CHUNK {
            return Ok(());
        }
        if self.chunks.len() >= (NIL as usize >> CHUNK_SHIFT) {
            return Err(Error::NoMemory);
        }
        self.chunks.try_reserve(1).map_err(|_| Error::NoMemory)?;
        let mut v = Vec::new();
        v.try_reserve_exact(CHUNK).map_err(|_| Error::NoMemory)?;
        v.extend((0..CHUNK).map(|_| Node { start: 0, end: 0, left: NIL, right: NIL, height: 0, max: 0, val: None }));
        let chunk: Box<[Node<V>; CHUNK]> = match v.into_boxed_slice().try_into() {
            Ok(c) => c,
            Err(_) => return Err(Error::NoMemory),
        };
        self.chunks.push(chunk);
        self.used_in_last = 0;
        Ok(())
    }

    /// A node for `[start, end)`; `reserve_node` succeeded before.
    fn new_node(&mut self, start: u64, end: u64, val: V) -> u32 {
        let i = if self.free_list != NIL {
            let i = self.free_list;
            self.free_list = self.n(i).left;
            i
        } else {
            let i = ((self.chunks.len() - 1) << CHUNK_SHIFT | self.used_in_last) as u32;
            self.used_in_last += 1;
            i
        };
        *self.n_mut(i) = Node { start, end, left: NIL, right: NIL, height: 1, max: end - start, val: Some(val) };
        i
    }

    fn release_node(&mut self, i: u32) -> V {
        let head = self.free_list;
        let node = self.n_mut(i);
        let v = node.val.take();
        node.left = head;
        node.right = NIL;
        self.free_list = i;
        v.expect("tree node without a value")
    }

    /// Insert `[start, end)` with `val`. The range must not overlap any
    /// range in the tree (`InvalidArgument` otherwise, and for an empty
    /// range); `NoMemory` if the arena cannot grow.
    pub fn insert(&mut self, start: u64, end: u64, val: V) -> Result<(), Error> {
        if start >= end || self.overlaps(start, end) {
            return Err(Error::InvalidArgument);
        }
        self.insert_disjoint(start, end, val)
    }

    /// [`insert`](Self::insert) for a range the caller knows to be
    /// disjoint from every range in the tree (it was just cut out of the
    /// other tree of the same space): no overlap search. Checked in debug
    /// builds.
    pub fn insert_disjoint(&mut self, start: u64, end: u64, val: V) -> Result<(), Error> {
        debug_assert!(start < end && !self.overlaps(start, end));
        self.reserve_node()?;
        let node = self.new_node(start, end, val);
        self.insert_node(node);
        self.len += 1;
        Ok(())
    }

    /// The summary of a subtree that its parent's height, balance and
    /// augmentation depend on.
    fn summary(&self, i: u32) -> (i32, u64) {
        if i == NIL {
            return (0, 0);
        }
        let n = self.n(i);
        (n.height as i32, n.max)
    }

    fn set_child(&mut self, parent: u32, right: bool, child: u32) {
        let n = self.n_mut(parent);
        if right {
            n.right = child;
        } else {
            n.left = child;
        }
    }

    // Updates are iterative: one descent that records the path, the
    // change, then a walk back up that rebalances each node on the path
    // only while its summary (height, augmentation) changes. After an
    // insert or delete that dies out within a couple of levels on
    // average, so an update costs little more than the descent.

    /// Link the fresh leaf `node` in and rebalance.
    fn insert_node(&mut self, node: u32) {
        let key = self.n(node).start;
        let mut path = Path::new();
        let mut i = self.root;
        while i != NIL {
            let n = self.n(i);
            let right = key >= n.start;
            path.push(i, right);
            i = if right { n.right } else { n.left };
        }
        match path.last() {
            None => self.root = node,
            Some((p, right)) => self.set_child(p, right, node),
        }
        self.fix_up(&path, path.len);
    }

    /// Rebalance the nodes of `path` from the deepest up. Stops once a
    /// node's summary is unchanged, but not above `keep_to` (a node whose
    /// own range changed).
    fn fix_up(&mut self, path: &Path, keep_to: usize) {
        let mut k = path.len;
        while k > 0 {
            k -= 1;
            let i = path.nodes[k];
            let (ni, changed) = self.fix_node(i);
            if ni != i {
                if k == 0 {
                    self.root = ni;
                } else {
                    self.set_child(path.nodes[k - 1], path.right[k - 1], ni);
                }
            }
            if k <= keep_to && !changed {
                return;
            }
        }
    }

    /// Recompute `i` from its children and rotate it if it is out of
    /// balance; the subtree's new root and whether its summary changed.
    /// The common case (no rotation) reads each of the three nodes once.
    fn fix_node(&mut self, i: u32) -> (u32, bool) {
        let (l, r, size, old_h, old_max) = {
            let n = self.n(i);
            (n.left, n.right, n.end - n.start, n.height as i32, n.max)
        };
        let (hl, ml) = self.summary(l);
        let (hr, mr) = self.summary(r);
        if (hl - hr).abs() > 1 {
            let ni = self.balance(i);
            return (ni, self.summary(ni) != (old_h, old_max));
        }
        let h = 1 + hl.max(hr);
        let m = size.max(ml).max(mr);
        if h == old_h && m == old_max {
            return (i, false);
        }
        let n = self.n_mut(i);
        n.height = h as u8;
        n.max = m;
        (i, true)
    }

    /// Whether any range intersects `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        if let Some((_, e, _)) = self.prev_before(end) {
            return e > start;
        }
        false
    }

    /// Remove the range that starts at `start`; returns its end and value.
    pub fn remove(&mut self, start: u64) -> Option<(u64, V)> {
        let mut path = Path::new();
        let mut i = self.root;
        while i != NIL {
            let n = self.n(i);
            if start == n.start {
                break;
            }
            let right = start > n.start;
            path.push(i, right);
            i = if right { n.right } else { n.left };
        }
        if i == NIL {
            return None;
        }
        let z = i;
        let zk = path.len;
        let mut victim = z;
        if self.n(z).left != NIL && self.n(z).right != NIL {
            // Two children: move the successor's range into `z` and
            // delete the successor's node instead (it has no left child).
            path.push(z, true);
            let mut j = self.n(z).right;
            while self.n(j).left != NIL {
                path.push(j, false);
                j = self.n(j).left;
            }
            victim = j;
            let (vs, ve, vv) = {
                let v = self.n_mut(victim);
                (v.start, v.end, v.val.take())
            };
            let zn = self.n_mut(z);
            let zv = core::mem::replace(&mut zn.val, vv);
            let (zs, ze) = (zn.start, zn.end);
            zn.start = vs;
            zn.end = ve;
            let v = self.n_mut(victim);
            v.start = zs;
            v.end = ze;
            v.val = zv;
        }
        let v = self.n(victim);
        let child = if v.left != NIL { v.left } else { v.right };
        match path.last() {
            None => self.root = child,
            Some((p, right)) => self.set_child(p, right, child),
        }
        // `z`'s range changed if the successor moved in: rebalance up to
        // it at least.
        self.fix_up(&path, if victim == z { path.len } else { zk });
        self.len -= 1;
        let end = self.n(victim).end;
        Some((end, self.release_node(victim)))
    }

    /// Change the bounds of the range starting at `start` to `[new_start,
    /// new_end)`, keeping its value. The new range must not overlap its
    /// neighbours (so the order of the tree is unchanged): growing into a
    /// neighbour is `InvalidArgument`.
    pub fn resize(&mut self, start: u64, new_start: u64, new_end: u64) -> Result<(), Error> {
        if new_start >= new_end {
            return Err(Error::InvalidArgument);
        }
        let Some((_, end, _)) = self.get(start) else {
            return Err(Error::NotFound);
        };
        if let Some((_, pe, _)) = self.prev_before(start)
            && pe > new_start
        {
            return Err(Error::InvalidArgument);
        }
        if let Some((ns, _, _)) = self.next_from(end)
            && ns < new_end
        {
            return Err(Error::InvalidArgument);
        }
        let root = self.root;
        self.resize_at(root, start, new_start, new_end);
        Ok(())
    }

    /// Returns whether `at`'s augmentation changed (heights do not).
    fn resize_at(&mut self, at: u32, start: u64, new_start: u64, new_end: u64) -> bool {
        let s = self.n(at).start;
        let before = self.n(at).max;
        if start < s {
            if !self.resize_at(self.n(at).left, start, new_start, new_end) {
                return false;
            }
        } else if start > s {
            if !self.resize_at(self.n(at).right, start, new_start, new_end) {
                return false;
            }
        } else {
            let n = self.n_mut(at);
            n.start = new_start;
            n.end = new_end;
        }
        self.pull(at);
        self.n(at).max != before
    }

    /// The range starting exactly at `start`.
    pub fn get(&self, start: u64) -> Option<(u64, u64, &V)> {
        let mut i = self.root;
        while i != NIL {
            let n = self.n(i);
            if start < n.start {
                i = n.left;
            } else if start > n.start {
                i = n.right;
            } else {
                return Some((n.start, n.end, n.val.as_ref()?));
            }
        }
        None
    }

    /// The value of the range starting exactly at `start`, to change it.
    pub fn get_mut(&mut self, start: u64) -> Option<&mut V> {
        let mut i = self.root;
        while i != NIL {
            let n = self.n(i);
            if start < n.start {
                i = n.left;
            } else if start > n.start {
                i = n.right;
            } else {
                return self.n_mut(i).val.as_mut();
            }
        }
        None
    }

    /// The range with the greatest start below `addr`.
    pub fn prev_before(&self, addr: u64) -> Option<(u64, u64, &V)> {
        let mut i = self.root;
        let mut best = NIL;
        while i != NIL {
            let n = self.n(i);
            if n.start < addr {
                best = i;
                i = n.right;
            } else {
                i = n.left;
            }
        }
        (best != NIL).then(|| self.n(best)).and_then(|n| Some((n.start, n.end, n.val.as_ref()?)))
    }

    /// The range with the least start at or above `addr`.
    pub fn next_from(&self, addr: u64) -> Option<(u64, u64, &V)> {
        let mut i = self.root;
        let mut best = NIL;
        while i != NIL {
            let n = self.n(i);
            if n.start >= addr {
                best = i;
                i = n.left;
            } else {
                i = n.right;
            }
        }
        (best != NIL).then(|| self.n(best)).and_then(|n| Some((n.start, n.end, n.val.as_ref()?)))
    }

    /// The range containing `addr`.
    pub fn containing(&self, addr: u64) -> Option<(u64, u64, &V)> {
        let r = self.prev_before(addr.checked_add(1)?)?;
        (addr < r.1).then_some(r)
    }

    /// The lowest range starting at or above `from` whose size is at least
    /// `size`: one walk down from the root, steered by the augmentation.
    pub fn lowest_fit(&self, from: u64, size: u64) -> Option<(u64, u64)> {
        self.lowest_fit_at(self.root, from, size).map(|i| (self.n(i).start, self.n(i).end))
    }

    fn lowest_fit_at(&self, at: u32, from: u64, size: u64) -> Option<u32> {
        // Iterative descent. Ranges wholly below `from` are cut off by
        // going right; the augmentation cuts off subtrees without a range
        // that large. Only the nodes on the boundary path towards `from`
        // may need both of their sides, which keeps this O(log n): each
        // such node's left side is either excluded (all below `from`) or,
        // once the path turned right of `from`, unbounded below.
        let mut i = at;
        while i != NIL {
            let n = self.n(i);
            if n.max < size {
                return None;
            }
            if n.start < from {
                // This node and its left subtree start below `from`.
                i = n.right;
                continue;
            }
            // Everything in the right subtree is above `from`, and the
            // left subtree may hold lower starts that are also >= from.
            if self.max_of(n.left) >= size
                && let Some(hit) = self.lowest_fit_at(n.left, from, size)
            {
                return Some(hit);
            }
            if n.end - n.start >= size {
                return Some(i);
            }
            if self.max_of(n.right) < size {
                return None;
            }
            // The right subtree is entirely >= from: the augmentation
            // alone steers from here.
            return self.lowest_fit_unbounded(n.right, size);
        }
        None
    }

    fn lowest_fit_unbounded(&self, mut i: u32, size: u64) -> Option<u32> {
        while i != NIL {
            let n = self.n(i);
            if self.max_of(n.left) >= size {
                i = n.left;
            } else if n.end - n.start >= size {
                return Some(i);
            } else if self.max_of(n.right) >= size {
                i = n.right;
            } else {
                return None;
            }
        }
        None
    }

    /// The ranges in address order.
    pub fn iter(&self) -> Iter<'_, V> {
        let mut it = Iter { tree: self, stack: Vec::new() };
        it.push_left(self.root);
        it
    }

    /// Check the tree's invariants (order, disjointness, balance,
    /// augmentation, count); a description of the first violation.
    pub fn validate(&self) -> Result<(), &'static str> {
        let mut count = 0;
        self.validate_at(self.root, &mut count)?;
        if count != self.len {
            return Err("node count differs from len");
        }
        let mut prev_end = None;
        for (s, e, _) in self.iter() {
            if let Some(pe) = prev_end
                && s < pe
            {
                return Err("ranges overlap or are out of order");
            }
            prev_end = Some(e);
        }
        Ok(())
    }

    fn validate_at(&self, i: u32, count: &mut usize) -> Result<(i32, u64), &'static str> {
        if i == NIL {
            return Ok((0, 0));
        }
        *count += 1;
        let n = self.n(i);
        if n.start >= n.end {
            return Err("empty range in the tree");
        }
        let (hl, ml) = self.validate_at(n.left, count)?;
        let (hr, mr) = self.validate_at(n.right, count)?;
        if (hl - hr).abs() > 1 {
            return Err("AVL balance broken");
        }
        if n.height as i32 != 1 + hl.max(hr) {
            return Err("stale height");
        }
        let m = (n.end - n.start).max(ml).max(mr);
        if n.max != m {
            return Err("stale subtree_max_size");
        }
        if n.left != NIL && self.n(n.left).start >= n.start {
            return Err("left child not below its parent");
        }
        if n.right != NIL && self.n(n.right).start <= n.start {
            return Err("right child not above its parent");
        }
        Ok((n.height as i32, m))
    }
}

/// In-order iterator over `(start, end, &value)`.
pub struct Iter<'a, V> {
    tree: &'a AreaTree<V>,
    stack: Vec<u32>,
}

impl<V> Iter<'_, V> {
    fn push_left(&mut self, mut i: u32) {
        while i != NIL {
            self.stack.push(i);
            i = self.tree.n(i).left;
        }
    }
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (u64, u64, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        let i = self.stack.pop()?;
        let tree = self.tree;
        let n = tree.n(i);
        self.push_left(n.right);
        Some((n.start, n.end, n.val.as_ref()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;
    use std::collections::BTreeMap;

    #[test]
    fn insert_remove_keep_order_and_balance() {
        let mut t = AreaTree::new();
        for i in 0..1000u64 {
            let s = (i * 7919) % 1000 * 16;
            t.insert(s, s + 8, s).unwrap();
            t.validate().unwrap();
        }
        assert_eq!(t.len(), 1000);
        assert!(t.insert(8, 20, 0).is_err(), "overlap refused");
        assert!(t.insert(5, 5, 0).is_err(), "empty refused");
        let starts: Vec<u64> = t.iter().map(|r| r.0).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]));
        for i in 0..1000u64 {
            let s = (i * 3571) % 1000 * 16;
            assert_eq!(t.remove(s), Some((s + 8, s)));
            t.validate().unwrap();
        }
        assert!(t.is_empty());
        assert_eq!(t.remove(0), None);
    }

    #[test]
    fn lookups_match_a_btreemap() {
        let mut rng = Rng(7);
        let mut t = AreaTree::new();
        let mut m: BTreeMap<u64, u64> = BTreeMap::new();
        for _ in 0..5000 {
            let s = rng.below(1 << 16) * 4;
            let len = 1 + rng.below(64);
            if rng.below(3) == 0 {
                if let Some((&k, _)) = m.range(s..).next() {
                    assert_eq!(t.remove(k).map(|r| r.0), m.remove(&k));
                }
            } else {
                let overlaps = m.range(..s + len).next_back().is_some_and(|(_, &e)| e > s);
                assert_eq!(t.insert(s, s + len, ()).is_ok(), !overlaps);
                if !overlaps {
                    m.insert(s, s + len);
                }
            }
            let probe = rng.below(1 << 18);
            let want = m.range(..=probe).next_back().filter(|(_, e)| **e > probe).map(|(s, e)| (*s, *e));
            assert_eq!(t.containing(probe).map(|r| (r.0, r.1)), want);
            let want_next = m.range(probe..).next().map(|(s, e)| (*s, *e));
            assert_eq!(t.next_from(probe).map(|r| (r.0, r.1)), want_next);
            if rng.below(16) == 0 {
                t.validate().unwrap();
            }
            let size = 1 + rng.below(80);
            let want_fit = m.range(probe..).find(|(s, e)| *e - *s >= size).map(|(s, e)| (*s, *e));
            assert_eq!(t.lowest_fit(probe, size), want_fit, "lowest_fit({probe:#x}, {size})");
        }
        t.validate().unwrap();
    }

    #[test]
    fn resize_keeps_augmentation() {
        let mut t = AreaTree::new();
        for i in 0..64u64 {
            t.insert(i * 100, i * 100 + 10, ()).unwrap();
        }
        t.resize(500, 500, 590).unwrap();
        t.validate().unwrap();
        assert_eq!(t.lowest_fit(0, 50), Some((500, 590)));
        assert_eq!(t.resize(500, 500, 610), Err(Error::InvalidArgument), "would overlap 600");
        assert_eq!(t.resize(700, 650, 710), Ok(()));
        assert_eq!(t.resize(12345, 0, 1), Err(Error::NotFound));
        t.resize(500, 560, 590).unwrap();
        t.validate().unwrap();
        assert_eq!(t.lowest_fit(0, 50), Some((650, 710)));
    }

    #[test]
    fn arena_reuses_freed_nodes() {
        let mut t = AreaTree::new();
        for round in 0..10 {
            for i in 0..300u64 {
                t.insert(i * 2, i * 2 + 1, round).unwrap();
            }
            for i in 0..300u64 {
                t.remove(i * 2).unwrap();
            }
        }
        assert_eq!(t.capacity(), 320, "ten chunks of 32 serve 300 nodes forever");
    }
}
