//! Single-threaded pthread stubs. Debian's 2022 wasi-libc has none, yet std's
//! `thread::spawn` (reached through rayon, which candle uses) links against
//! them. `pthread_create` fails with ENOSYS, so rayon runs its work on the
//! calling thread; the attribute calls succeed and do nothing.

use core::ffi::c_void;

const ENOSYS: i32 = 52;

#[no_mangle]
extern "C" fn pthread_create(_: *mut c_void, _: *const c_void, _: *const c_void, _: *mut c_void) -> i32 {
    ENOSYS
}
#[no_mangle]
extern "C" fn pthread_detach(_: usize) -> i32 {
    ENOSYS
}
#[no_mangle]
extern "C" fn pthread_join(_: usize, _: *mut *mut c_void) -> i32 {
    ENOSYS
}
#[no_mangle]
extern "C" fn pthread_attr_init(_: *mut c_void) -> i32 {
    0
}
#[no_mangle]
extern "C" fn pthread_attr_destroy(_: *mut c_void) -> i32 {
    0
}
#[no_mangle]
extern "C" fn pthread_attr_setstacksize(_: *mut c_void, _: usize) -> i32 {
    0
}
