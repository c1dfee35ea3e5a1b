//! Fuzzes the ECHONET Lite frame decoder and the smart-meter property decoders with arbitrary
//! bytes: they must never panic, and a frame they accept must encode back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)] // the worker uses more of the module than this target does
#[path = "../../workers/src/serial/echonet.rs"]
mod echonet;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = echonet::Frame::decode(data) {
        assert_eq!(frame.encode(), data);
    }
    // Every property decoder on the same bytes, as if they were one property's EDT.
    let _ = echonet::coefficient(data);
    let _ = echonet::digits(data);
    let _ = echonet::unit_exponent(data);
    let _ = echonet::cumulative(data);
    let _ = echonet::power(data);
    let _ = echonet::currents(data);
    let _ = echonet::fixed_time(data);
    let _ = echonet::history(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = echonet::from_hex(text);
    }
});
