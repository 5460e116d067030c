//! `WasiCtxBuilder::random_source`: the guest's `random_get` bytes come from the
//! supplied source, one call per request, and the operating system is used without it.

mod common;

use common::call;
use lucet_wasi::WasiCtxBuilder;
use std::sync::{Arc, Mutex};

/// Fills every request with a running counter and records the requested lengths.
fn counting_source(lengths: Arc<Mutex<Vec<usize>>>) -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut next = 0u8;
    move |buf: &mut [u8]| {
        lengths.lock().unwrap().push(buf.len());
        for b in buf {
            *b = next;
            next = next.wrapping_add(1);
        }
    }
}

#[test]
fn random_get_takes_bytes_from_the_source() {
    let lengths = Arc::new(Mutex::new(Vec::new()));
    let ctx = WasiCtxBuilder::new()
        .random_source(counting_source(lengths.clone()))
        .build()
        .unwrap();
    let mut inst = common::instance("random.wat", ctx);
    assert_eq!(call(&mut inst, "twice", &[5.into(), 300.into()]), 0);
    assert_eq!(*lengths.lock().unwrap(), [5, 300]);
    let expected: Vec<u8> = (0..305u32).map(|i| i as u8).collect();
    assert_eq!(inst.heap()[4096..4096 + 305], expected[..]);
    // The stream continues where it stopped; an empty request does not reach the source.
    assert_eq!(call(&mut inst, "twice", &[0.into(), 2.into()]), 0);
    assert_eq!(*lengths.lock().unwrap(), [5, 300, 2]);
    assert_eq!(inst.heap()[4096..4098], [305u32 as u8, 306u32 as u8]);
}

#[test]
fn a_bad_buffer_is_efault_and_does_not_reach_the_source() {
    let lengths = Arc::new(Mutex::new(Vec::new()));
    let ctx = WasiCtxBuilder::new()
        .random_source(counting_source(lengths.clone()))
        .build()
        .unwrap();
    let mut inst = common::instance("random.wat", ctx);
    // 64 KiB memory: the second buffer runs past its end.
    let efault = lucet_wasi::types::Errno::FAULT.0 as i32;
    assert_eq!(call(&mut inst, "twice", &[4.into(), 65536.into()]), efault);
    assert_eq!(*lengths.lock().unwrap(), [4]);
}

#[test]
fn without_a_source_the_bytes_come_from_the_system() {
    let mut inst = common::instance("random.wat", WasiCtxBuilder::new().build().unwrap());
    assert_eq!(call(&mut inst, "twice", &[32.into(), 32.into()]), 0);
    let heap = inst.heap();
    // 2^-256 chance of failing for each check.
    assert_ne!(heap[4096..4128], [0u8; 32]);
    assert_ne!(heap[4096..4128], heap[4128..4160]);
}
