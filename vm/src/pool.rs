//! Pooled linear memories: an instance's memory reservation (8 GiB of
//! address space in wasmer's static style, so that compiled code needs no
//! bounds checks) is kept and reused instead of being mapped and unmapped
//! on every call, which was most of an empty call's time (perf: `munmap`
//! 17%, the rest of the mapping work and page faults 11%).
//!
//! A fresh instance per call (DESIGN.md rule 6) still holds observably:
//!
//! - a reservation goes back to the pool only after its accessible pages
//!   read zeros again: the few pages a call touched (the kernel's page map
//!   says which) are zeroed in place, more are discarded with
//!   `madvise(MADV_DONTNEED)`, after which a private anonymous mapping
//!   reads zeros on next touch, like a new one;
//! - a memory taken from the pool has exactly its declared minimum
//!   accessible and everything above it `PROT_NONE`, so an access beyond
//!   `memory.size` traps as it would in a new mapping, whatever an earlier
//!   call grew the memory to;
//! - wasmer writes the data segments after creating the memory, as before;
//!   globals and tables live in the instance, which is still new per call.
//!
//! A reservation belongs to at most one memory at a time: it moves out of
//! the pool under its lock and back in when that memory is dropped. The
//! pool holds at most [`MAX_IDLE_MEMORIES`]; beyond that (many threads,
//! deep cross-contract calls) memories are mapped and unmapped as before.
//!
//! With `engine` and `host::state`, this is the only module with `unsafe`.

#![allow(unsafe_code)]

use std::cmp::Ordering;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, OnceLock, PoisonError};

use wasmer::sys::vm::{LinearMemory, MemoryError, MemoryStyle, VMMemory, VMMemoryDefinition};
use wasmer::{MemoryType, Pages};

/// Idle reservations kept for reuse. Two per core of a large validator
/// covers the executing threads and a few nested calls each; an idle
/// reservation costs address space and page tables, not memory.
pub(crate) const MAX_IDLE_MEMORIES: usize = 32;

/// Bytes of address space per memory: what wasmer reserves for a static
/// memory (the whole 32-bit index space plus the offset guard), which the
/// single-pass compiler relies on instead of bounds checks.
fn reservation_bytes() -> usize {
    let bound = MemoryStyle::static_bound().bytes().0;
    let guard = usize::try_from(MemoryStyle::static_offset_guard_size())
        .expect("Cairn runs on 64-bit hosts");
    bound + guard
}

/// A bounded stack of reset reservations.
#[derive(Debug)]
pub(crate) struct MemoryPool {
    idle: Mutex<Vec<Reservation>>,
    max_idle: usize,
}

/// The process's pool: every engine's memories come from it.
pub(crate) static MEMORY_POOL: MemoryPool = MemoryPool::new(MAX_IDLE_MEMORIES);

impl MemoryPool {
    pub(crate) const fn new(max_idle: usize) -> Self {
        MemoryPool {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// Reservations waiting for reuse.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Reservation>> {
        // The vector is consistent whatever a panicking holder was doing:
        // push and pop are its only operations.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Option<Reservation> {
        self.lock().pop()
    }

    /// Resets `reservation` and keeps it if there is room; otherwise (or if
    /// it cannot be reset) unmaps it.
    fn give_back(&self, mut reservation: Reservation) {
        if reservation.broken || reservation.reset().is_err() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(reservation);
        } else {
            // Unmapped after the lock is released.
            drop(idle);
        }
    }
}

/// One static memory's address space, owned by this value alone: the first
/// `accessible` bytes read-write, the rest `PROT_NONE`.
#[derive(Debug)]
struct Reservation {
    base: NonNull<u8>,
    len: usize,
    accessible: usize,
    /// A change of protection failed, possibly halfway, so pages beyond
    /// `accessible` may be accessible: never reused.
    broken: bool,
}

// SAFETY: the mapping is owned by this value alone (never aliased by another
// reservation, and only reached through the memory that holds it), so moving
// it between threads moves that exclusive ownership.
unsafe impl Send for Reservation {}

impl Reservation {
    fn new() -> Result<Self, MemoryError> {
        let len = reservation_bytes();
        // SAFETY: asks the kernel for a new private anonymous mapping at an
        // address of its choosing; no existing memory is affected.
        // NORESERVE: inaccessible address space is not committed memory.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(os_error("reserving a linear memory"));
        }
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| MemoryError::Region("mmap returned null".to_string()))?;
        Ok(Reservation {
            base,
            len,
            accessible: 0,
            broken: false,
        })
    }

    /// Makes exactly the first `bytes` accessible (a multiple of the wasm
    /// page size, within the reservation).
    fn set_accessible(&mut self, bytes: usize) -> Result<(), MemoryError> {
        assert!(bytes <= self.len, "a memory beyond its reservation");
        match bytes.cmp(&self.accessible) {
            Ordering::Equal => {}
            Ordering::Greater => self.protect(
                self.accessible,
                bytes - self.accessible,
                libc::PROT_READ | libc::PROT_WRITE,
            )?,
            Ordering::Less => self.protect(bytes, self.accessible - bytes, libc::PROT_NONE)?,
        }
        self.accessible = bytes;
        Ok(())
    }

    fn protect(&mut self, offset: usize, len: usize, prot: libc::c_int) -> Result<(), MemoryError> {
        // SAFETY: the range lies within this reservation's mapping (callers
        // keep `offset + len <= self.len`, and wasm page multiples are OS
        // page multiples), which nothing else owns; no Rust reference points
        // into it (wasm and host calls go through the raw base pointer, and
        // not while the memory is being grown or reset).
        let result = unsafe { libc::mprotect(self.base.as_ptr().add(offset).cast(), len, prot) };
        if result == 0 {
            Ok(())
        } else {
            self.broken = true;
            Err(os_error("changing a linear memory's protection"))
        }
    }

    /// Makes the accessible pages read zeros again, as in a new mapping:
    /// the few a call touched (an empty call touches its data segments'
    /// pages) are zeroed in place, which spares the next call a page fault
    /// for each and this one a TLB flush; otherwise, or if the kernel does
    /// not say exactly which pages hold data, they are all discarded.
    fn reset(&mut self) -> Result<(), MemoryError> {
        if self.accessible == 0 {
            return Ok(());
        }
        if let Some(touched) = self.touched_pages() {
            for page in touched {
                // SAFETY: a whole OS page of this reservation's accessible
                // prefix, which no instance uses any more (its memory was
                // dropped) and no reference points into.
                unsafe {
                    ptr::write_bytes(self.base.as_ptr().add(page * os_page()), 0, os_page());
                }
            }
            return Ok(());
        }
        // SAFETY: the range is this reservation's own accessible prefix and
        // no instance uses it any more (its memory was dropped); for a
        // private anonymous mapping MADV_DONTNEED means zero-fill on demand,
        // also for pages swapped out meanwhile.
        let result = unsafe {
            libc::madvise(
                self.base.as_ptr().cast(),
                self.accessible,
                libc::MADV_DONTNEED,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(os_error("resetting a linear memory"))
        }
    }

    /// The indices of the OS pages of the accessible prefix that are mapped
    /// (so may hold non-zero bytes), if there are at most
    /// [`ZERO_IN_PLACE_PAGES`] and none is swapped out or migrating (whose
    /// contents only a discard is sure to clear). Every other page has never
    /// been touched since the last reset, so reads zeros. `None` when
    /// `/proc/self/pagemap` cannot tell.
    fn touched_pages(&self) -> Option<Vec<usize>> {
        // Bits of a pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
        const PRESENT: u64 = 1 << 63;
        const SWAPPED: u64 = 1 << 62;
        const ENTRY: usize = size_of::<u64>();
        let pagemap = pagemap()?;
        let pages = self.accessible / os_page();
        let first = self.base.as_ptr() as usize / os_page();
        let mut touched = Vec::new();
        let mut buffer = [0u8; 4096];
        let mut page = 0;
        while page < pages {
            let chunk = (pages - page).min(buffer.len() / ENTRY);
            let offset = u64::try_from((first + page) * ENTRY).ok()?;
            pagemap
                .read_exact_at(&mut buffer[..chunk * ENTRY], offset)
                .ok()?;
            for (index, entry) in buffer[..chunk * ENTRY].chunks_exact(ENTRY).enumerate() {
                let entry = u64::from_ne_bytes(entry.try_into().ok()?);
                if entry & SWAPPED != 0 {
                    return None;
                }
                if entry & PRESENT != 0 {
                    if touched.len() == ZERO_IN_PLACE_PAGES {
                        return None;
                    }
                    touched.push(page + index);
                }
            }
            page += chunk;
        }
        Some(touched)
    }
}

/// Most OS pages a reset zeroes in place rather than discards. Zeroing a
/// 4 KiB page costs about as much as the page fault and TLB flush it saves;
/// beyond a few, one discard is cheaper and keeps idle reservations from
/// holding memory.
const ZERO_IN_PLACE_PAGES: usize = 16;

/// The OS page size, a divisor of the wasm page size.
fn os_page() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        // SAFETY: sysconf only reads a system constant.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).unwrap_or(4096)
    })
}

/// This process's page map, opened once; `None` where there is none.
fn pagemap() -> Option<&'static File> {
    static PAGEMAP: OnceLock<Option<File>> = OnceLock::new();
    PAGEMAP
        .get_or_init(|| File::open("/proc/self/pagemap").ok())
        .as_ref()
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created, which no memory
        // uses any more. A failure can only leak address space.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

fn os_error(doing: &str) -> MemoryError {
    MemoryError::Region(format!("{doing}: {}", io::Error::last_os_error()))
}

/// A wasm linear memory (static style, not shared) whose reservation comes
/// from a [`MemoryPool`] and returns to it, reset, when the memory is
/// dropped with its store.
#[derive(Debug)]
pub(crate) struct PooledMemory {
    /// `None` only while being dropped.
    reservation: Option<Reservation>,
    pool: &'static MemoryPool,
    /// The instance's own definition, which compiled code reads base and
    /// length from.
    definition: NonNull<VMMemoryDefinition>,
    ty: MemoryType,
    size: Pages,
}

// SAFETY: the reservation is owned exclusively (see `Reservation`), and
// `definition` points into the instance that owns this memory and is only
// written through `&mut self` (grow), like wasmer's own `VMOwnedMemory`.
unsafe impl Send for PooledMemory {}
// SAFETY: `&self` methods only read `size`, `ty` and the pointers.
unsafe impl Sync for PooledMemory {}

impl PooledMemory {
    /// A memory of `ty.minimum` zeroed pages, its base and length written to
    /// `definition`.
    ///
    /// # Safety
    ///
    /// `definition` must point to a valid `VMMemoryDefinition` (the
    /// instance's) that outlives every use of this memory other than drop,
    /// as for wasmer's `VMOwnedMemory::from_definition`.
    pub(crate) unsafe fn new(
        pool: &'static MemoryPool,
        ty: &MemoryType,
        definition: NonNull<VMMemoryDefinition>,
    ) -> Result<Self, MemoryError> {
        if ty.minimum > Pages::max_value() {
            return Err(MemoryError::MinimumMemoryTooLarge {
                min_requested: ty.minimum,
                max_allowed: Pages::max_value(),
            });
        }
        if let Some(max) = ty.maximum
            && max < ty.minimum
        {
            return Err(MemoryError::InvalidMemory {
                reason: format!(
                    "the maximum ({} pages) is less than the minimum ({} pages)",
                    max.0, ty.minimum.0
                ),
            });
        }
        let mut reservation = match pool.take() {
            Some(reservation) => reservation,
            None => Reservation::new()?,
        };
        reservation.set_accessible(ty.minimum.bytes().0)?;
        let memory = PooledMemory {
            reservation: Some(reservation),
            pool,
            definition,
            ty: *ty,
            size: ty.minimum,
        };
        memory.publish();
        Ok(memory)
    }

    fn reservation(&mut self) -> &mut Reservation {
        self.reservation
            .as_mut()
            .expect("a memory has its reservation until dropped")
    }

    /// Tells compiled code the current base and length.
    fn publish(&self) {
        let base = self
            .reservation
            .as_ref()
            .expect("a memory has its reservation until dropped")
            .base;
        // SAFETY: `new`'s caller guarantees `definition` is valid while the
        // memory is in use; only this memory writes it, from `new` and
        // `grow` (through `&mut self`), while no wasm code of the instance
        // runs on another thread (a store is used by one thread at a time).
        unsafe {
            let definition = &mut *self.definition.as_ptr();
            definition.base = base.as_ptr();
            definition.current_length = self.size.bytes().0;
        }
    }
}

impl LinearMemory for PooledMemory {
    fn ty(&self) -> MemoryType {
        MemoryType {
            minimum: self.size,
            ..self.ty
        }
    }

    fn size(&self) -> Pages {
        self.size
    }

    fn style(&self) -> MemoryStyle {
        MemoryStyle::Static
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let previous = self.size;
        if delta.0 == 0 {
            return Ok(previous);
        }
        let refused = MemoryError::CouldNotGrow {
            current: previous,
            attempted_delta: delta,
        };
        let Some(new) = previous.checked_add(delta) else {
            return Err(refused);
        };
        if new > Pages::max_value() || self.ty.maximum.is_some_and(|maximum| new > maximum) {
            return Err(refused);
        }
        // The reservation spans `Pages::max_value()`, so this stays inside.
        self.reservation().set_accessible(new.bytes().0)?;
        self.size = new;
        self.publish();
        Ok(previous)
    }

    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        let current = u64::try_from(self.size.bytes().0).unwrap_or(u64::MAX);
        if current >= min_size {
            return Ok(());
        }
        let page = u64::try_from(wasmer::WASM_PAGE_SIZE).unwrap_or(u64::MAX);
        let pages = (min_size - current).div_ceil(page);
        let pages = u32::try_from(pages).map_err(|_| MemoryError::CouldNotGrow {
            current: self.size,
            attempted_delta: Pages(u32::MAX),
        })?;
        self.grow(Pages(pages)).map(|_| ())
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.definition
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::MemoryNotShared)
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        // Only WASIX forks copy memories; Cairn never does.
        Err(MemoryError::UnsupportedOperation {
            message: "copying a pooled memory".to_string(),
        })
    }
}

impl Drop for PooledMemory {
    fn drop(&mut self) {
        // `definition` is not touched: the instance may be gone already.
        if let Some(reservation) = self.reservation.take() {
            self.pool.give_back(reservation);
        }
    }
}

impl From<PooledMemory> for VMMemory {
    fn from(memory: PooledMemory) -> Self {
        VMMemory(Box::new(memory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmer::WASM_PAGE_SIZE;

    const PAGE: usize = WASM_PAGE_SIZE;

    /// A pool of its own, so that other tests' memories do not interleave.
    fn pool(max_idle: usize) -> &'static MemoryPool {
        Box::leak(Box::new(MemoryPool::new(max_idle)))
    }

    fn definition() -> NonNull<VMMemoryDefinition> {
        NonNull::from(Box::leak(Box::new(VMMemoryDefinition {
            base: ptr::null_mut(),
            current_length: 0,
        })))
    }

    fn memory(pool: &'static MemoryPool, minimum: u32, maximum: Option<u32>) -> PooledMemory {
        let ty = MemoryType::new(minimum, maximum, false);
        // SAFETY: the definition is leaked, so valid for the whole test.
        unsafe { PooledMemory::new(pool, &ty, definition()) }.expect("memory")
    }

    fn bytes(memory: &mut PooledMemory) -> &mut [u8] {
        // SAFETY: the definition describes the accessible prefix of this
        // memory, which nothing else uses during the test.
        unsafe {
            let definition = memory.vmmemory().as_ref();
            std::slice::from_raw_parts_mut(definition.base, definition.current_length)
        }
    }

    /// Whether `address` lies in a `---p` (inaccessible) mapping.
    fn inaccessible(address: usize) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        maps.lines().any(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next().unwrap_or_default();
            let perms = fields.next().unwrap_or_default();
            let (start, end) = range.split_once('-').unwrap_or_default();
            let start = usize::from_str_radix(start, 16).unwrap_or(usize::MAX);
            let end = usize::from_str_radix(end, 16).unwrap_or(0);
            (start..end).contains(&address) && perms.starts_with("---")
        })
    }

    #[test]
    fn a_released_memory_is_reused_zeroed_at_its_new_minimum() {
        let pool = pool(4);
        let mut first = memory(pool, 1, Some(8));
        let base = bytes(&mut first).as_ptr() as usize;
        bytes(&mut first).fill(0xab);
        assert_eq!(first.grow(Pages(3)).expect("grows"), Pages(1));
        assert_eq!(bytes(&mut first).len(), 4 * PAGE);
        bytes(&mut first)[3 * PAGE..].fill(0xcd);
        drop(first);
        assert_eq!(pool.idle(), 1);

        let mut second = memory(pool, 2, None);
        assert_eq!(pool.idle(), 0);
        assert_eq!(bytes(&mut second).as_ptr() as usize, base, "not reused");
        assert_eq!(second.size(), Pages(2));
        assert_eq!(bytes(&mut second).len(), 2 * PAGE);
        assert!(bytes(&mut second).iter().all(|&byte| byte == 0));
        // The pages the first memory grew into are inaccessible again.
        assert!(!inaccessible(base + PAGE));
        assert!(inaccessible(base + 2 * PAGE));
        assert!(inaccessible(base + 4 * PAGE - 1));
    }

    #[test]
    fn a_few_touched_pages_are_zeroed_in_place_and_stay_mapped() {
        let pool = pool(1);
        let mut first = memory(pool, 2, None);
        let base = bytes(&mut first).as_ptr() as usize;
        let bytes_first = bytes(&mut first);
        bytes_first[10] = 1;
        bytes_first[PAGE + 4095] = 2;
        let touched = vec![0, (PAGE + 4095) / os_page()];
        assert_eq!(first.reservation().touched_pages(), Some(touched.clone()));
        drop(first);

        let mut second = memory(pool, 2, None);
        assert_eq!(bytes(&mut second).as_ptr() as usize, base, "not reused");
        // Zeroed, not discarded: the same pages are still mapped.
        assert_eq!(second.reservation().touched_pages(), Some(touched));
        assert!(bytes(&mut second).iter().all(|&byte| byte == 0));
    }

    #[test]
    fn growth_respects_the_maximum_and_the_index_space() {
        let pool = pool(1);
        let mut memory = memory(pool, 1, Some(2));
        assert_eq!(memory.grow(Pages(0)).expect("no-op"), Pages(1));
        assert!(memory.grow(Pages(2)).is_err());
        assert_eq!(memory.grow(Pages(1)).expect("grows"), Pages(1));
        assert!(memory.grow(Pages(1)).is_err());
        assert_eq!(memory.size(), Pages(2));
        assert_eq!(memory.ty().minimum, Pages(2));

        let mut unbounded = self::memory(pool, 0, None);
        assert!(unbounded.grow(Pages(u32::MAX)).is_err());
        assert!(unbounded.grow(Pages(65_537)).is_err());
        assert_eq!(unbounded.size(), Pages(0));
    }

    #[test]
    fn the_pool_keeps_at_most_its_maximum() {
        let pool = pool(2);
        let mut memories: Vec<_> = (0..5).map(|_| memory(pool, 1, None)).collect();
        let mut bases: Vec<_> = memories
            .iter_mut()
            .map(|memory| bytes(memory).as_ptr() as usize)
            .collect();
        bases.sort_unstable();
        bases.dedup();
        assert_eq!(bases.len(), 5, "two live memories share a reservation");
        drop(memories);
        assert_eq!(pool.idle(), 2);
    }

    #[test]
    fn memories_on_many_threads_never_share_a_reservation() {
        let pool = pool(3);
        std::thread::scope(|scope| {
            for thread in 0..4u8 {
                scope.spawn(move || {
                    for round in 0..200u32 {
                        let mut memory = memory(pool, 1, None);
                        let bytes = bytes(&mut memory);
                        assert!(bytes.iter().all(|&byte| byte == 0), "not reset");
                        bytes.fill(thread + 1);
                        std::thread::yield_now();
                        assert!(bytes.iter().all(|&byte| byte == thread + 1), "shared");
                        if round % 3 == 0 {
                            memory.grow(Pages(1)).expect("grows");
                        }
                    }
                });
            }
        });
        assert!(pool.idle() <= 3);
    }
}
