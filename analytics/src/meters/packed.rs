//! A [`State`] as a compact string for a worker's checkpoint: its JSON, deflated, in base64.
//!
//! The state holds every meter's register on the day grid: 7.5 MB of JSON for 27 meters over
//! four years, over the protocol's checkpoint budget. Deflate (`flate2`'s pure-Rust backend,
//! already in the tree for `hemflux import`) shrinks the repetitive JSON several times and keeps
//! the checkpoint one self-contained value, stored with the points in the store's transaction.

use std::io::{Read, Write};

use base64::Engine as _;
use flate2::{read::DeflateDecoder, write::DeflateEncoder, Compression};

use super::run::State;

/// Why a packed state could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the packed meter state is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("the packed meter state is not deflated data: {0}")]
    Inflate(#[from] std::io::Error),
    #[error("the packed meter state is not a state: {0}")]
    Json(#[from] serde_json::Error),
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The state as base64 of its deflated JSON.
pub fn pack(state: &State) -> String {
    // Fast level: the state is written after every run; a higher level gains little on it.
    // Whole, not streamed: serde writes in tiny pieces, and each costs the encoder a call.
    let json = serde_json::to_vec(state).expect("a state serializes");
    let mut deflate = DeflateEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    let bytes = deflate
        .write_all(&json)
        .and_then(|()| deflate.finish())
        .expect("deflating into memory cannot fail");
    B64.encode(bytes)
}

/// The state [`pack`] made.
pub fn unpack(text: &str) -> Result<State, UnpackError> {
    let deflated = B64.decode(text)?;
    let mut json = Vec::new();
    DeflateDecoder::new(deflated.as_slice()).read_to_end(&mut json)?;
    Ok(serde_json::from_slice(&json)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meters::{MeterState, Provenance, RegisterSeries, Sample};

    #[test]
    fn a_state_comes_back_as_it_was_and_damage_is_an_error() {
        let mut state = State {
            tz: "Europe/Berlin".into(),
            ..State::default()
        };
        let samples = (0..400)
            .map(|k| Sample {
                t: 1_700_000_000 + k * 86_400,
                value: if k == 7 { f64::NAN } else { k as f64 * 9.75 },
                provenance: Provenance::Linear,
                gap_days: 0.0,
            })
            .collect();
        state.meters.insert(
            "strom".into(),
            MeterState {
                register: RegisterSeries { samples },
                ..MeterState::default()
            },
        );
        let packed = pack(&state);
        let json = serde_json::to_vec(&state).unwrap().len();
        assert!(packed.len() * 3 < json, "{} of {json}", packed.len());
        let back = unpack(&packed).unwrap();
        assert!(back.meters["strom"].register.samples[7].value.is_nan());
        assert_eq!(
            back.meters["strom"].register.samples[8],
            state.meters["strom"].register.samples[8]
        );
        assert_eq!(back.tz, state.tz);
        assert!(matches!(unpack("not base64!"), Err(UnpackError::Base64(_))));
        assert!(matches!(
            unpack(&B64.encode(b"plain")),
            Err(UnpackError::Inflate(_))
        ));
    }
}
