//! A bump allocator.
//!
//! Every call gets a fresh instance, so memory is never reused across calls
//! and freeing would only cost gas. Allocations first use the memory the
//! module starts with above its data (from the linker's `__heap_base`),
//! then take pages from `memory.grow`, paid per page; nothing is returned.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::Cell;

const PAGE: usize = 64 * 1024;

unsafe extern "C" {
    /// Where the linker put the end of static data and the stack.
    static __heap_base: u8;
}

pub(crate) struct Bump {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: wasm32-unknown-unknown has one thread.
unsafe impl Sync for Bump {}

impl Bump {
    pub(crate) const fn new() -> Self {
        Bump {
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }
}

fn align_up(address: usize, align: usize) -> usize {
    (address + align - 1) & !(align - 1)
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        if self.end.get() == 0 {
            // First allocation: the free memory above the program's data.
            self.next.set(core::ptr::addr_of!(__heap_base) as usize);
            self.end.set(wasm32::memory_size(0) * PAGE);
        }
        let mut start = align_up(self.next.get(), align);
        if start.saturating_add(size) > self.end.get() {
            let pages = (size + align).div_ceil(PAGE);
            let previous = wasm32::memory_grow(0, pages);
            if previous == usize::MAX {
                return core::ptr::null_mut();
            }
            let base = previous * PAGE;
            if base != self.end.get() {
                // Memory someone else grew: start at the new pages.
                self.next.set(base);
            }
            self.end.set(base + pages * PAGE);
            start = align_up(self.next.get(), align);
        }
        self.next.set(start + size);
        start as *mut u8
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}
