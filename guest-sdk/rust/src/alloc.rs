//! The function's heap: a bump allocator sized for one event.
//!
//! The host runs every event in a fresh instance and throws the instance
//! away afterwards (see the WIT world), so a general-purpose allocator's
//! bookkeeping — free lists, coalescing, size classes — buys nothing: all
//! memory is returned at once when the instance goes. This allocator only
//! moves a pointer forward. A block freed or resized while it is the newest
//! one is reclaimed or grown in place, which covers the usual
//! build-a-`String`/`Vec` pattern; anything else freed stays allocated until
//! the event ends.
//!
//! An instance the host keeps for later events (`instances = "reused"`)
//! must not keep every event's memory: a reused transformer reached its
//! 64 MiB limit within ~20k events. So the allocator starts over whenever
//! every block allocated since its reset point is freed again — between
//! two events, once the host has freed the last event's outputs — and it
//! moves its reset point above what outlives an event: at the start of an
//! event when no reset happened since the one before (the first event's
//! lazily made statics such as stdout's buffer, a cache filled later), what
//! lies below is kept for good. Memory stays bounded by what the function
//! keeps plus about one event's worth, as long as it keeps something new
//! only now and then.
//!
//! A function that allocates and frees far more than it keeps (a long loop
//! over temporary buffers) can reach its memory limit (`limits.memory_bytes`,
//! answered 422 `memory`) sooner than with a reusing allocator: turn off the
//! `bump-alloc` feature of `wasmfn-guest` for it
//! (`wasmfn-guest = { ..., default-features = false }`) and Rust's default
//! allocator is used instead.
//!
//! It is the global allocator only on `wasm32` (see the crate root); on the
//! host, unit tests drive it over a simulated linear memory.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr;

/// Bytes per WebAssembly page.
pub const PAGE: usize = 64 * 1024;

/// Bytes of the static arena the allocator starts with: enough for a
/// typical event (the transformer's ~1 KB trade needs about 20 KiB), so
/// most events never grow memory. Growing costs more than the instructions
/// it takes: the host makes the new pages accessible (`mprotect`) and,
/// when the pooled slot is reused, inaccessible again, with a TLB flush
/// each time. The arena is zero-initialised static data: it adds nothing
/// to the `.wasm` file, and pages the event does not touch cost nothing.
pub const ARENA_BYTES: usize = 256 * 1024;

/// Tells the function's heap that an event starts (called by
/// [`function!`](crate::function) before the handler runs): see
/// [`BumpAllocator::event_started`]. Nothing without `bump-alloc`.
#[doc(hidden)]
pub fn event_started() {
    #[cfg(all(target_arch = "wasm32", feature = "bump-alloc"))]
    crate::ALLOCATOR.event_started();
}

/// Where the allocator gets memory: a static arena first, then a linear
/// memory that only grows.
pub trait LinearMemory {
    /// Address of byte 0 of the memory.
    fn base(&self) -> usize;
    /// The region to use before growing memory: `(start, end)` addresses.
    fn arena(&self) -> (usize, usize);
    /// Grows the memory by `pages` pages; returns its size in pages before
    /// the growth, or `None` when the host refuses.
    fn grow(&self, pages: usize) -> Option<usize>;
}

/// The component's own memory 0: the static arena, then `memory.grow`.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Default)]
pub struct Wasm32Memory;

/// The static arena (in the module's initial memory, after its data).
#[cfg(target_arch = "wasm32")]
static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];

#[cfg(target_arch = "wasm32")]
impl LinearMemory for Wasm32Memory {
    fn base(&self) -> usize {
        0
    }

    fn arena(&self) -> (usize, usize) {
        let start = ptr::addr_of_mut!(ARENA) as usize;
        (start, start + ARENA_BYTES)
    }

    fn grow(&self, pages: usize) -> Option<usize> {
        match core::arch::wasm32::memory_grow(0, pages) {
            usize::MAX => None,
            old => Some(old),
        }
    }
}

/// The bump allocator. One instance handles one event at a time on one
/// thread, so plain `Cell`s suffice.
pub struct BumpAllocator<M> {
    /// Next free byte of the current region (0 before the first allocation).
    next: Cell<usize>,
    /// End of the current region.
    end: Cell<usize>,
    /// Start of the current region.
    region: Cell<usize>,
    /// The reset point: every block at or above it was allocated since it
    /// was set, and `next` never goes below it.
    base: Cell<usize>,
    /// Blocks at or above `base` not freed yet.
    live: Cell<usize>,
    /// Whether an event started before, and whether `next` went back to
    /// `base` since the last event started.
    started: Cell<bool>,
    reset: Cell<bool>,
    /// Where the regions come from.
    memory: M,
}

// SAFETY: wasm32-wasip2 components are single-threaded; the allocator is never
// shared between threads. (On the host, where tests use it, it is not `Sync`.)
#[cfg(target_arch = "wasm32")]
unsafe impl Sync for BumpAllocator<Wasm32Memory> {}

impl<M: LinearMemory> BumpAllocator<M> {
    /// An allocator over `memory`: it hands out its arena first, then pages
    /// it grows itself, so it never meets the C library's own `malloc`
    /// (which starts at `__heap_base` and also grows memory).
    pub const fn new(memory: M) -> Self {
        BumpAllocator {
            next: Cell::new(0),
            end: Cell::new(0),
            region: Cell::new(0),
            base: Cell::new(0),
            live: Cell::new(0),
            started: Cell::new(false),
            reset: Cell::new(false),
            memory,
        }
    }

    /// Marks the start of an event (the function's `handle` is called).
    /// In an instance that handled an event before, and when no reset
    /// happened since, what is below `next` outlived that event: the reset
    /// point moves above it, so the next reset keeps it.
    pub fn event_started(&self) {
        if self.started.replace(true) && !self.reset.get() {
            self.base.set(self.next.get());
            self.live.set(0);
        }
        self.reset.set(false);
    }

    /// Grows memory by at least `bytes`. Pages that follow the current
    /// region extend it; pages elsewhere (someone else grew memory in
    /// between) start a new region. False when the host refuses (the
    /// function's memory limit).
    fn grow(&self, bytes: usize) -> bool {
        let pages = bytes.div_ceil(PAGE).max(1);
        let Some(old_pages) = self.memory.grow(pages) else {
            return false;
        };
        let start = self.memory.base() + old_pages * PAGE;
        if start != self.end.get() {
            self.next.set(start);
            self.region.set(start);
        }
        self.end.set(start + pages * PAGE);
        true
    }
}

// SAFETY: every block returned lies in the arena or in memory this allocator
// grew (memory never shrinks), is aligned as asked, and is not handed out
// again while live: `next` only moves back over the newest block when it is
// freed.
unsafe impl<M: LinearMemory> GlobalAlloc for BumpAllocator<M> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.end.get() == 0 {
            let (start, end) = self.memory.arena();
            self.next.set(start);
            self.end.set(end);
            self.region.set(start);
            self.base.set(start);
        }
        if self.live.get() == 0 && self.next.get() > self.base.get() {
            // Everything since the reset point is free: start over there,
            // or at the current region's start when memory grew since (the
            // rest of the old region is given up, once per region).
            let base = self.base.get().max(self.region.get());
            self.base.set(base);
            self.next.set(base);
            self.reset.set(true);
        }
        loop {
            let start = self.next.get().next_multiple_of(layout.align());
            let Some(end) = start.checked_add(layout.size()) else {
                return ptr::null_mut();
            };
            if end <= self.end.get() {
                self.next.set(end);
                self.live.set(self.live.get() + 1);
                return start as *mut u8;
            }
            // Terminates: each round grows memory or gives up.
            if !self.grow(end - self.end.get()) {
                return ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // Blocks below the reset point are kept for good.
        if (block as usize) < self.base.get() {
            return;
        }
        self.live.set(self.live.get() - 1);
        // The newest block goes back; older ones wait for the next reset.
        if block as usize + layout.size() == self.next.get() {
            self.next.set(block as usize);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = block as usize;
        let old_end = start + layout.size();
        // A block below the reset point moves rather than grow across it.
        if old_end == self.next.get() && start >= self.base.get() {
            // The newest block grows or shrinks in place when memory after it
            // can be had.
            let Some(end) = start.checked_add(new_size) else {
                return ptr::null_mut();
            };
            if end > self.end.get() && !self.grow(end - self.end.get()) {
                return ptr::null_mut();
            }
            if self.next.get() == old_end && end <= self.end.get() {
                self.next.set(end);
                return block;
            }
        } else if new_size <= layout.size() {
            return block;
        }
        // SAFETY: the caller guarantees `layout` describes `block` and
        // `new_size` is valid for its alignment.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{alloc_zeroed, dealloc};

    /// A simulated linear memory of up to `MAX_PAGES` pages, which a test
    /// can also grow behind the allocator's back (as the C library does).
    struct TestMemory {
        base: *mut u8,
        pages: Cell<usize>,
        initial_pages: usize,
    }

    const MAX_PAGES: usize = 16;

    impl TestMemory {
        fn new(initial_pages: usize) -> Self {
            let layout = Layout::from_size_align(MAX_PAGES * PAGE, PAGE).unwrap();
            // SAFETY: a non-zero size.
            let base = unsafe { alloc_zeroed(layout) };
            assert!(!base.is_null());
            TestMemory {
                base,
                pages: Cell::new(initial_pages),
                initial_pages,
            }
        }

        fn foreign_grow(&self, pages: usize) {
            self.grow(pages).expect("room for a foreign grow");
        }
    }

    impl Drop for TestMemory {
        fn drop(&mut self) {
            let layout = Layout::from_size_align(MAX_PAGES * PAGE, PAGE).unwrap();
            // SAFETY: allocated in `new` with this layout.
            unsafe { dealloc(self.base, layout) };
        }
    }

    impl LinearMemory for &TestMemory {
        fn base(&self) -> usize {
            self.base as usize
        }

        /// The last of the initial pages (as the real arena sits in the
        /// module's initial memory); none when there are no initial pages.
        fn arena(&self) -> (usize, usize) {
            let initial = self.initial_pages;
            match initial {
                0 => (0, 0),
                _ => (
                    self.base() + (initial - 1) * PAGE,
                    self.base() + initial * PAGE,
                ),
            }
        }

        fn grow(&self, pages: usize) -> Option<usize> {
            let old = self.pages.get();
            (old + pages <= MAX_PAGES).then(|| {
                self.pages.set(old + pages);
                old
            })
        }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// Fills `block` with `byte` (proves it is writable and, checked later,
    /// that nothing else wrote over it).
    fn fill(block: *mut u8, size: usize, byte: u8) {
        // SAFETY: `block` was just allocated with at least `size` bytes.
        unsafe { ptr::write_bytes(block, byte, size) };
    }

    fn holds(block: *mut u8, size: usize, byte: u8) -> bool {
        // SAFETY: as in `fill`.
        unsafe { std::slice::from_raw_parts(block, size) }
            .iter()
            .all(|b| *b == byte)
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_come_from_the_arena_first() {
        let memory = TestMemory::new(2);
        let heap = BumpAllocator::new(&memory);
        let (arena_start, arena_end) = (&memory).arena();
        let mut blocks = Vec::new();
        for (i, (size, align)) in [(1, 1), (24, 8), (3, 4), (100, 16), (7, 64), (0, 8)]
            .into_iter()
            .enumerate()
        {
            // SAFETY: a valid layout.
            let block = unsafe { heap.alloc(layout(size, align)) };
            assert!(!block.is_null());
            assert_eq!(block as usize % align, 0, "alignment {align}");
            assert!((arena_start..arena_end).contains(&(block as usize)));
            fill(block, size, i as u8);
            blocks.push((block, size, i as u8));
        }
        for (block, size, byte) in blocks {
            assert!(holds(block, size, byte));
        }
        assert_eq!(memory.pages.get(), 2, "small blocks need no memory.grow");
    }

    #[test]
    fn past_the_arena_memory_grows() {
        let memory = TestMemory::new(1);
        let heap = BumpAllocator::new(&memory);
        // SAFETY: valid layouts.
        unsafe {
            let a = heap.alloc(layout(40 * 1024, 8));
            fill(a, 40 * 1024, 1);
            assert_eq!(memory.pages.get(), 1);
            let b = heap.alloc(layout(40 * 1024, 8));
            assert!(b as usize >= a as usize + 40 * 1024, "b overlaps a");
            assert_eq!(memory.pages.get(), 2, "one page more");
            assert!(b as usize + 40 * 1024 <= memory.base as usize + 2 * PAGE);
            fill(b, 40 * 1024, 2);
            assert!(holds(a, 40 * 1024, 1));
        }
    }

    #[test]
    fn memory_grown_by_someone_else_is_never_handed_out() {
        let memory = TestMemory::new(1);
        let heap = BumpAllocator::new(&memory);
        // SAFETY: valid layouts throughout.
        unsafe {
            let a = heap.alloc(layout(PAGE / 2, 8));
            fill(a, PAGE / 2, 1);
            // The C library grows memory: pages 1 and 2 are its own now.
            memory.foreign_grow(2);
            let foreign = memory.base.add(PAGE);
            fill(foreign, 2 * PAGE, 9);
            // More than the rest of `a`'s page: the allocator must grow
            // again and start past the foreign pages.
            let b = heap.alloc(layout(PAGE, 8));
            assert!(
                b as usize >= foreign as usize + 2 * PAGE,
                "b overlaps the foreign pages"
            );
            fill(b, PAGE, 2);
            assert!(holds(a, PAGE / 2, 1));
            assert!(holds(foreign, 2 * PAGE, 9));
        }
    }

    #[test]
    fn the_newest_block_is_freed_and_resized_in_place() {
        let memory = TestMemory::new(1);
        let heap = BumpAllocator::new(&memory);
        // SAFETY: valid layouts; blocks used only while live.
        unsafe {
            let a = heap.alloc(layout(16, 8));
            fill(a, 16, 1);
            let grown = heap.realloc(a, layout(16, 8), 3 * PAGE);
            assert_eq!(grown, a, "the newest block grows in place, across pages");
            assert!(holds(grown, 16, 1));
            heap.dealloc(grown, layout(3 * PAGE, 8));
            let again = heap.alloc(layout(8, 8));
            assert_eq!(again, a, "freeing the newest block gives its space back");
        }
    }

    #[test]
    fn an_older_block_that_grows_moves_with_its_contents() {
        let memory = TestMemory::new(1);
        let heap = BumpAllocator::new(&memory);
        // SAFETY: valid layouts; blocks used only while live.
        unsafe {
            let a = heap.alloc(layout(32, 8));
            fill(a, 32, 7);
            let b = heap.alloc(layout(32, 8));
            fill(b, 32, 8);
            assert_eq!(heap.realloc(a, layout(32, 8), 16), a, "shrinking stays put");
            let moved = heap.realloc(a, layout(32, 8), 64);
            assert_ne!(moved, a);
            assert!(holds(moved, 32, 7));
            assert!(holds(b, 32, 8));
        }
    }

    /// One event as the host and the SDK's glue run it: the arguments
    /// (`args` blocks), the handler's temporaries, the outputs, all freed
    /// by the end; plus what the handler keeps (`keep` bytes, never freed).
    /// Returns the kept block.
    fn event(heap: &BumpAllocator<&TestMemory>, keep: usize) -> Option<(*mut u8, Layout)> {
        // SAFETY: valid layouts; every block freed with its own layout.
        unsafe {
            let args: Vec<_> = [40, 16, 968, 24]
                .map(|size| (heap.alloc(layout(size, 4)), layout(size, 4)))
                .into();
            heap.event_started();
            let mut temporaries = Vec::new();
            for size in [3000, 100, 7, 512, 20_000] {
                let block = heap.alloc(layout(size, 8));
                assert!(!block.is_null());
                fill(block, size, 0xee);
                temporaries.push((block, layout(size, 8)));
            }
            let kept = (keep > 0).then(|| {
                let block = heap.alloc(layout(keep, 8));
                fill(block, keep, 0x4b);
                (block, layout(keep, 8))
            });
            let output = heap.realloc(heap.alloc(layout(8, 8)), layout(8, 8), 600);
            for (block, layout) in args.into_iter().chain(temporaries) {
                heap.dealloc(block, layout);
            }
            // Post-return: the outputs go once the host has read them.
            heap.dealloc(output, layout(600, 8));
            kept
        }
    }

    #[test]
    fn a_reused_instance_does_not_grow_event_after_event() {
        let memory = TestMemory::new(1);
        let heap = BumpAllocator::new(&memory);
        // The first event keeps something (a lazily made static), as does
        // the 500th (a cache filled late).
        let first = event(&heap, 1000).unwrap();
        let mut high = 0;
        for i in 2..=2000 {
            let kept = event(&heap, if i == 500 { 3000 } else { 0 });
            if i == 500 {
                assert!(kept.is_some());
            }
            if i == 10 {
                high = memory.pages.get();
            }
            assert!(
                holds(first.0, 1000, 0x4b),
                "event {i} wrote over a kept block"
            );
        }
        // Each event takes ~25 KB: without a reset 2000 events would need
        // ~760 pages (only 16 exist).
        assert!(
            memory.pages.get() <= high + 1,
            "{} pages",
            memory.pages.get()
        );
    }

    #[test]
    fn kept_blocks_survive_every_reset() {
        let memory = TestMemory::new(2);
        let heap = BumpAllocator::new(&memory);
        let mut kept = Vec::new();
        for i in 0..50 {
            if let Some(block) = event(&heap, if i % 10 == 3 { 64 + i } else { 0 }) {
                kept.push(block);
            }
            for &(block, layout) in &kept {
                assert!(holds(block, layout.size(), 0x4b), "event {i}");
            }
        }
        assert_eq!(kept.len(), 5);
    }

    #[test]
    fn a_refused_grow_is_a_null_block() {
        let memory = TestMemory::new(0);
        let heap = BumpAllocator::new(&memory);
        // SAFETY: valid layouts.
        unsafe {
            assert!(!heap.alloc(layout(MAX_PAGES * PAGE, 8)).is_null());
            assert!(heap.alloc(layout(1, 1)).is_null(), "memory is full");
            assert!(
                heap.alloc(layout(isize::MAX as usize, 1)).is_null(),
                "more than memory can hold"
            );
        }
    }
}
