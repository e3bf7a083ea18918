//! Feature gates and limit checks allocate nothing (SPEC §4: pure in-memory lookups).
//! A counting global allocator wraps the system one for this test binary only.

#![allow(unsafe_code)]

use runtime::enforce::{Entitlements, Gate};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn checks_do_not_allocate() {
    let e = Entitlements::new(
        Gate::Open,
        ["gate", "pim", "ha"],
        [("agents", 3), ("aiorgs", 0)],
    );
    let expired = Entitlements::new(Gate::LicenseExpired, ["gate"], [("agents", 3)]);
    let n = allocations(|| {
        for _ in 0..1000 {
            assert!(e.check_feature("pim").is_ok());
            assert_eq!(
                e.check_feature("mssql").unwrap_err().code,
                "feature_not_licensed"
            );
            assert!(e.check_limit("agents", 2).is_ok());
            assert_eq!(
                e.check_limit("agents", 3).unwrap_err().code,
                "agent_limit_reached"
            );
            assert!(e.check_limit("aiorgs", 1_000_000).is_ok(), "0 = unlimited");
            assert_eq!(
                e.check_limit("robots", 0).unwrap_err().code,
                "limit_not_licensed"
            );
            assert_eq!(
                expired.check_feature("gate").unwrap_err().code,
                "license_expired"
            );
        }
    });
    assert_eq!(n, 0, "enforcement checks allocated {n} times");
    // The counter works: building entitlements does allocate.
    assert!(allocations(|| drop(Entitlements::new(Gate::Open, ["x"], [("y", 1)]))) > 0);
}
