// A Rust guest built with -g (docs/guest.md): sums the digits of a fixed text through two
// functions and traps (`unreachable`, as a panic does under panic=abort) when the sum is odd.
// no_std, so the module holds this crate's DWARF and core's, not all of std's (6 MB with it).
#![no_std]
#![no_main]

#[link(name = "c")]
extern "C" {}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn fd_write(fd: i32, iovs: *const [usize; 2], iovs_len: usize, written: *mut usize) -> i32;
}

fn print(text: &[u8]) {
    let iov = [text.as_ptr() as usize, text.len()];
    let mut written = 0;
    unsafe { fd_write(1, &iov, 1, &mut written) };
}

#[inline(never)]
fn check(sum: u32) -> u32 {
    if sum % 2 == 1 {
        core::arch::wasm32::unreachable();
    }
    sum / 2
}

#[inline(never)]
fn digit_sum(text: &str) -> u32 {
    let mut sum = 0;
    for c in text.chars() {
        sum += c.to_digit(10).unwrap_or(0);
    }
    check(sum)
}

static DIGITS: &str = "12345";

// The crt1 rustc links (_start) calls __original_main and exit()s with what it returns: libc is linked for exit.
#[no_mangle]
pub extern "C" fn __original_main() -> i32 {
    print(b"summing digits\n");
    // Read through a volatile load, so the compiler cannot compute the sum at build time.
    let half = digit_sum(unsafe { core::ptr::read_volatile(&DIGITS) });
    half as i32
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
