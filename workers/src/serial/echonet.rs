//! ECHONET Lite frames (EDATA format 1) and the smart-meter properties (class 0x0288) we read.
//! Pure and dependency-free (std only), so that the fuzz target in `fuzz/` can include it.


/// Our own object: a controller (05FF01).
pub const CONTROLLER: [u8; 3] = [0x05, 0xFF, 0x01];
/// The low-voltage smart electricity meter (028801).
pub const SMART_METER: [u8; 3] = [0x02, 0x88, 0x01];

pub const ESV_SETC: u8 = 0x61;
pub const ESV_GET: u8 = 0x62;
pub const ESV_SET_RES: u8 = 0x71;
pub const ESV_GET_RES: u8 = 0x72;
pub const ESV_SETC_SNA: u8 = 0x51;
pub const ESV_GET_SNA: u8 = 0x52;

pub const EPC_COEFFICIENT: u8 = 0xD3;
pub const EPC_DIGITS: u8 = 0xD7;
pub const EPC_CUMULATIVE: u8 = 0xE0;
pub const EPC_UNIT: u8 = 0xE1;
pub const EPC_HISTORY: u8 = 0xE2;
pub const EPC_HISTORY_DAY: u8 = 0xE5;
pub const EPC_POWER: u8 = 0xE7;
pub const EPC_CURRENT: u8 = 0xE8;
pub const EPC_FIXED_TIME: u8 = 0xEA;

/// E2 slots and E8 phases use these for "no value".
pub const NO_HISTORY: u32 = 0xFFFF_FFFE;
pub const NO_CURRENT: i16 = 0x7FFE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub epc: u8,
    pub edt: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tid: u16,
    pub seoj: [u8; 3],
    pub deoj: [u8; 3],
    pub esv: u8,
    pub props: Vec<Property>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is shorter than 12")]
    TooShort(usize),
    #[error("header {ehd1:02X}{ehd2:02X} is not 1081")]
    NotEchonetLite { ehd1: u8, ehd2: u8 },
    #[error("property {epc:02X} announces {pdc} bytes past the end")]
    Truncated { epc: u8, pdc: u8 },
    #[error("{0} bytes after the last property")]
    TrailingBytes(usize),
    #[error("property {epc:02X} has {len} bytes, not the expected length")]
    BadLength { epc: u8, len: usize },
    #[error("property {epc:02X}: {what}")]
    BadValue { epc: u8, what: &'static str },
}

impl Frame {
    /// A request from the controller to the smart meter.
    pub fn request(tid: u16, esv: u8, props: Vec<Property>) -> Frame {
        Frame {
            tid,
            seoj: CONTROLLER,
            deoj: SMART_METER,
            esv,
            props,
        }
    }

    /// Get one property (PDC 00).
    pub fn get(tid: u16, epc: u8) -> Frame {
        Frame::request(tid, ESV_GET, vec![Property { epc, edt: vec![] }])
    }

    /// SetC one property.
    pub fn set(tid: u16, epc: u8, edt: Vec<u8>) -> Frame {
        Frame::request(tid, ESV_SETC, vec![Property { epc, edt }])
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0x10, 0x81];
        out.extend_from_slice(&self.tid.to_be_bytes());
        out.extend_from_slice(&self.seoj);
        out.extend_from_slice(&self.deoj);
        out.push(self.esv);
        out.push(self.props.len() as u8);
        for p in &self.props {
            out.push(p.epc);
            out.push(p.edt.len() as u8);
            out.extend_from_slice(&p.edt);
        }
        out
    }

    /// Decodes one whole frame; every byte must be accounted for.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() < 12 {
            return Err(FrameError::TooShort(bytes.len()));
        }
        if bytes[0] != 0x10 || bytes[1] != 0x81 {
            return Err(FrameError::NotEchonetLite {
                ehd1: bytes[0],
                ehd2: bytes[1],
            });
        }
        let opc = bytes[11];
        let mut props = Vec::with_capacity(opc as usize);
        let mut at = 12;
        for _ in 0..opc {
            let (Some(&epc), Some(&pdc)) = (bytes.get(at), bytes.get(at + 1)) else {
                return Err(FrameError::Truncated {
                    epc: bytes.get(at).copied().unwrap_or(0),
                    pdc: 0,
                });
            };
            let edt = bytes
                .get(at + 2..at + 2 + pdc as usize)
                .ok_or(FrameError::Truncated { epc, pdc })?;
            props.push(Property {
                epc,
                edt: edt.to_vec(),
            });
            at += 2 + pdc as usize;
        }
        if at != bytes.len() {
            return Err(FrameError::TrailingBytes(bytes.len() - at));
        }
        Ok(Frame {
            tid: u16::from_be_bytes([bytes[2], bytes[3]]),
            seoj: [bytes[4], bytes[5], bytes[6]],
            deoj: [bytes[7], bytes[8], bytes[9]],
            esv: bytes[10],
            props,
        })
    }
}

fn exact<const N: usize>(epc: u8, edt: &[u8]) -> Result<[u8; N], FrameError> {
    edt.try_into().map_err(|_| FrameError::BadLength {
        epc,
        len: edt.len(),
    })
}

/// D3: coefficient (4 B unsigned).
pub fn coefficient(edt: &[u8]) -> Result<u32, FrameError> {
    Ok(u32::from_be_bytes(exact(EPC_COEFFICIENT, edt)?))
}

/// D7: effective digits of the cumulative readings, 1-8.
pub fn digits(edt: &[u8]) -> Result<u8, FrameError> {
    let [d] = exact(EPC_DIGITS, edt)?;
    if !(1..=8).contains(&d) {
        return Err(FrameError::BadValue {
            epc: EPC_DIGITS,
            what: "effective digits outside 1-8",
        });
    }
    Ok(d)
}

/// E1: the unit of the cumulative readings as a power of ten of kWh (01 = 0.1 kWh -> -1).
pub fn unit_exponent(edt: &[u8]) -> Result<i32, FrameError> {
    let [u] = exact(EPC_UNIT, edt)?;
    match u {
        0x00..=0x04 => Ok(-(u as i32)),
        0x0A..=0x0D => Ok(u as i32 - 0x09),
        _ => Err(FrameError::BadValue {
            epc: EPC_UNIT,
            what: "undefined unit",
        }),
    }
}

/// E0: normal-direction cumulative energy (raw, 4 B unsigned).
pub fn cumulative(edt: &[u8]) -> Result<u32, FrameError> {
    Ok(u32::from_be_bytes(exact(EPC_CUMULATIVE, edt)?))
}

/// E7: instantaneous power in W (4 B signed).
pub fn power(edt: &[u8]) -> Result<i32, FrameError> {
    Ok(i32::from_be_bytes(exact(EPC_POWER, edt)?))
}

/// E8: instantaneous currents R and T in 0.1 A; T is `None` on single-phase 2-wire (7FFE).
pub fn currents(edt: &[u8]) -> Result<(i16, Option<i16>), FrameError> {
    let b: [u8; 4] = exact(EPC_CURRENT, edt)?;
    let r = i16::from_be_bytes([b[0], b[1]]);
    let t = i16::from_be_bytes([b[2], b[3]]);
    let plain = |v: i16| !matches!(v as u16, 0x7FFE..=0x8000);
    if !plain(r) {
        return Err(FrameError::BadValue {
            epc: EPC_CURRENT,
            what: "R-phase current has no value",
        });
    }
    match t {
        NO_CURRENT => Ok((r, None)),
        t if plain(t) => Ok((r, Some(t))),
        _ => Err(FrameError::BadValue {
            epc: EPC_CURRENT,
            what: "T-phase current overflow or underflow",
        }),
    }
}

/// A meter-local wall-clock time as the meter sends it (no zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// EA: cumulative energy at the last fixed time (:00 or :30), with that time.
pub fn fixed_time(edt: &[u8]) -> Result<(MeterTime, u32), FrameError> {
    let b: [u8; 11] = exact(EPC_FIXED_TIME, edt)?;
    let time = MeterTime {
        year: u16::from_be_bytes([b[0], b[1]]),
        month: b[2],
        day: b[3],
        hour: b[4],
        minute: b[5],
        second: b[6],
    };
    Ok((time, u32::from_be_bytes([b[7], b[8], b[9], b[10]])))
}

/// E2: the day number and 48 half-hourly cumulative readings (None where FFFFFFFE).
pub fn history(edt: &[u8]) -> Result<(u16, Vec<Option<u32>>), FrameError> {
    if edt.len() != 2 + 48 * 4 {
        return Err(FrameError::BadLength {
            epc: EPC_HISTORY,
            len: edt.len(),
        });
    }
    let day = u16::from_be_bytes([edt[0], edt[1]]);
    let slots = edt[2..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .map(|v| (v != NO_HISTORY).then_some(v))
        .collect();
    Ok((day, slots))
}

pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hex as the modules print it: uppercase, two characters per byte.
    fn to_hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    fn hex(s: &str) -> Vec<u8> {
        from_hex(&s.replace(' ', "")).unwrap()
    }

    #[test]
    fn get_e7_is_byte_exact() {
        let f = Frame::get(0x0003, EPC_POWER);
        assert_eq!(f.encode(), hex("10 81 00 03 05 FF 01 02 88 01 62 01 E7 00"));
        assert_eq!(f.encode().len(), 0x0E);
    }

    #[test]
    fn setc_e5_and_its_answer() {
        let f = Frame::set(0x0006, EPC_HISTORY_DAY, vec![0x00]);
        assert_eq!(
            f.encode(),
            hex("10 81 00 06 05 FF 01 02 88 01 61 01 E5 01 00")
        );
        let res = Frame::decode(&hex("1081000602880105FF017101E500")).unwrap();
        assert_eq!((res.tid, res.esv), (6, ESV_SET_RES));
        assert_eq!(res.seoj, SMART_METER);
        assert_eq!(res.deoj, CONTROLLER);
        assert_eq!(
            res.props,
            [Property {
                epc: EPC_HISTORY_DAY,
                edt: vec![]
            }]
        );
    }

    #[test]
    fn captured_get_res_e7() {
        let f = Frame::decode(&hex("1081000302880105FF017201E70400000278")).unwrap();
        assert_eq!((f.tid, f.esv), (3, ESV_GET_RES));
        assert_eq!(f.props[0].epc, EPC_POWER);
        assert_eq!(power(&f.props[0].edt), Ok(632));
        assert_eq!(power(&hex("FFFFFF9C")), Ok(-100));
        assert_eq!(Frame::decode(&f.encode()), Ok(f));
    }

    #[test]
    fn captured_get_sna() {
        let f = Frame::decode(&hex("1081000102880105FF0152018300")).unwrap();
        assert_eq!(f.esv, ESV_GET_SNA);
        assert_eq!(
            f.props,
            [Property {
                epc: 0x83,
                edt: vec![]
            }]
        );
    }

    #[test]
    fn d5_instance_list_inf() {
        let f = Frame::decode(&hex("108100000EF0010EF0017301D50401028801")).unwrap();
        assert_eq!((f.tid, f.esv, f.seoj), (0, 0x73, [0x0E, 0xF0, 0x01]));
        assert_eq!(f.props[0].edt, hex("01028801"));
    }

    #[test]
    fn property_values_from_the_page() {
        assert_eq!(coefficient(&hex("00000001")), Ok(1));
        assert_eq!(digits(&hex("06")), Ok(6));
        assert_eq!(unit_exponent(&hex("01")), Ok(-1));
        assert_eq!(unit_exponent(&hex("00")), Ok(0));
        assert_eq!(unit_exponent(&hex("04")), Ok(-4));
        assert_eq!(unit_exponent(&hex("0A")), Ok(1));
        assert_eq!(unit_exponent(&hex("0D")), Ok(4));
        assert!(unit_exponent(&hex("05")).is_err());
        assert_eq!(cumulative(&hex("0000FE73")), Ok(65139));
        assert_eq!(currents(&hex("001E0032")), Ok((30, Some(50))));
        assert_eq!(currents(&hex("001E7FFE")), Ok((30, None)));
        assert!(currents(&hex("7FFF0032")).is_err());
        let (t, v) = fixed_time(&hex("07EA05140E00000000FE68")).unwrap();
        assert_eq!(
            t,
            MeterTime {
                year: 2026,
                month: 5,
                day: 20,
                hour: 14,
                minute: 0,
                second: 0
            }
        );
        assert_eq!(v, 65128);
    }

    #[test]
    fn history_has_48_slots_and_marks_missing_ones() {
        let mut edt = vec![0x00, 0x01];
        for i in 0..48u32 {
            let v = if i < 21 { 65000 + i } else { NO_HISTORY };
            edt.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(edt.len(), 0xC2);
        let (day, slots) = history(&edt).unwrap();
        assert_eq!(day, 1);
        assert_eq!(slots[20], Some(65020));
        assert_eq!(slots[21], None);
        assert!(history(&edt[..100]).is_err());
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert_eq!(Frame::decode(&hex("1081")), Err(FrameError::TooShort(2)));
        assert!(matches!(
            Frame::decode(&hex("1082000302880105FF017201E70400000278")),
            Err(FrameError::NotEchonetLite { .. })
        ));
        assert!(matches!(
            Frame::decode(&hex("1081000302880105FF017201E704000002")),
            Err(FrameError::Truncated { epc: 0xE7, pdc: 4 })
        ));
        assert!(matches!(
            Frame::decode(&hex("1081000302880105FF017201E7040000027800")),
            Err(FrameError::TrailingBytes(1))
        ));
        assert!(matches!(
            Frame::decode(&hex("1081000302880105FF017202E70400000278")),
            Err(FrameError::Truncated { .. })
        ));
        assert_eq!(from_hex("ABC"), None);
        assert_eq!(from_hex("ZZ"), None);
        assert_eq!(from_hex("+F"), None);
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(f) = Frame::decode(&bytes) {
                proptest::prop_assert_eq!(f.encode(), bytes);
                for p in &f.props {
                    let _ = (coefficient(&p.edt), digits(&p.edt), unit_exponent(&p.edt), power(&p.edt));
                    let _ = (currents(&p.edt), fixed_time(&p.edt), history(&p.edt));
                }
            }
        }

        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        }
    }
}
