//! Panics end the call with `abort`, carrying the panic message.
//!
//! Only messages that are plain strings are kept (`panic!("...")`,
//! `expect("...")`); formatting others would pull `core::fmt`'s machinery
//! into every contract, several kilobytes for a message nobody formats.

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let message = info.message().as_str().unwrap_or("panicked");
    crate::env::abort(message)
}
