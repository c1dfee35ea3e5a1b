use std::path::PathBuf;

use super::*;

fn house(text: &str) -> Result<Entity, Vec<ConfigError>> {
    parse_entity(EntityKind::House, Path::new("profiles/villa_12.json"), text)
}

#[test]
fn id_defaults_to_the_file_name() {
    let Entity::House(h) = house(r#"{"name": "Villa"}"#).unwrap() else {
        panic!()
    };
    assert_eq!(h.id, "villa_12");
    assert_eq!(h.credential_prefix(), "HOUSE_villa_12");
}

#[test]
fn unknown_field_names_file_line_column_and_path() {
    let text =
        "{\n  \"name\": \"Villa\",\n  \"homeside\": {\n    \"poll_intervall_secs\": 60\n  }\n}";
    let errs = house(text).unwrap_err();
    assert_eq!(errs.len(), 1);
    let e = &errs[0];
    assert_eq!(
        (e.line, e.path.as_str()),
        (4, "homeside.poll_intervall_secs")
    );
    assert!(
        e.message.contains("unknown field `poll_intervall_secs`"),
        "{}",
        e.message
    );
    assert!(
        e.to_string().starts_with("profiles/villa_12.json:4:"),
        "{e}"
    );
}

#[test]
fn wrong_type_and_syntax_errors_have_positions() {
    let e = &house("{\"location\": {\"lat\": \"north\", \"lon\": 1}}").unwrap_err()[0];
    assert_eq!(e.path, "location.lat");
    assert_eq!(e.line, 1);
    let e = &house("{\"name\": \"Villa\",\n").unwrap_err()[0];
    assert_eq!(e.line, 2);
    assert!(e.message.contains("EOF"), "{}", e.message);
}

#[test]
fn semantic_errors_are_collected_and_located() {
    let text =
        "{\n \"synthetic\": {\"interval_ms\": 0},\n \"location\": {\"lat\": 91, \"lon\": 0}\n}";
    let errs = house(text).unwrap_err();
    let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["location.lat", "synthetic.interval_ms"]);
    assert_eq!(errs[1].line, 2);
}

#[test]
fn bad_ids_are_rejected() {
    let errs = house(r#"{"id": "villa 12/../x"}"#).unwrap_err();
    assert_eq!(errs[0].path, "id");
}

#[test]
fn a_profile_becomes_one_worker_per_source() {
    let text = r#"{
      "homeside": {},
      "meters": [{"name": "electricity", "source": {"type": "wattivahti", "metering_point": "1234567"}}],
      "serial": [{"name": "broute", "port": "/dev/ttyUSB0"}],
      "synthetic": {"interval_ms": 10}
    }"#;
    let e = house(text).unwrap();
    let (specs, errs) = desired_workers(
        &[(PathBuf::from("profiles/villa_12.json"), e)],
        &Globals::default(),
    );
    assert!(errs.is_empty());
    let ids: Vec<_> = specs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "house:villa_12",
            "meter:villa_12/electricity",
            "serial:villa_12/broute",
            "synthetic:villa_12"
        ]
    );
    let envs: Vec<_> = specs[0].secrets.iter().map(|s| s.env.as_str()).collect();
    assert_eq!(envs, ["HOUSE_villa_12_USERNAME", "HOUSE_villa_12_PASSWORD"]);
}

#[test]
fn duplicate_ids_reject_the_later_file() {
    let a = house(r#"{"id": "x", "synthetic": {}}"#).unwrap();
    let (specs, errs) = desired_workers(
        &[
            (PathBuf::from("profiles/a.json"), a.clone()),
            (PathBuf::from("profiles/b.json"), a),
        ],
        &Globals::default(),
    );
    assert_eq!(specs.len(), 1);
    assert_eq!(errs[0].file, PathBuf::from("profiles/b.json"));
    assert!(errs[0].message.contains("profiles/a.json"));
}

#[test]
fn meter_source_typos_are_errors() {
    let errs = house(
        r#"{"meters": [{"name": "el", "source": {"type": "wattivahti", "meteringpoint": "1"}}]}"#,
    )
    .unwrap_err();
    assert!(
        errs[0].message.contains("meteringpoint"),
        "{}",
        errs[0].message
    );
    assert!(errs[0].path.starts_with("meters[0]"), "{}", errs[0].path);
}

#[test]
fn tibbers_home_assistant_schema_needs_an_entity_id_and_reads_its_register_back() {
    let tibber = |extra: &str| {
        format!(
            r#"{{"meters": [{{"name": "el", "source": {{"type": "tibber", "home_id": "h"{extra}}}}}]}}"#
        )
    };
    let errs = house(&tibber(r#", "schema": "home_assistant""#)).unwrap_err();
    assert_eq!(errs[0].path, "meters[0].source.entity_id");
    let errs = house(&tibber(r#", "entity_id": "haupt_strom""#)).unwrap_err();
    assert!(
        errs[0].message.contains("home_assistant"),
        "{}",
        errs[0].message
    );
    let errs = house(&tibber(r#", "schema": "home-assistant""#)).unwrap_err();
    assert!(errs[0].path.starts_with("meters[0]"), "{}", errs[0].path);
    let ok = house(&tibber(
        r#", "schema": "home_assistant", "entity_id": "haupt_strom""#,
    ))
    .unwrap();
    let Entity::House(h) = ok else { panic!() };
    let (measurement, tags) = h.meters[0].reads().unwrap();
    assert_eq!(measurement, "kWh");
    assert_eq!(tags["entity_id"], "haupt_strom");
    let plain = house(&tibber("")).unwrap();
    let Entity::House(h) = plain else { panic!() };
    assert!(h.meters[0].reads().is_none());
}

mod arbitrary_bytes {
    use super::*;
    use proptest::prelude::*;

    /// Text that looks like a profile often enough to reach deep into the parser.
    fn profile_like() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just("\n".to_string()),
            Just("\u{feff}".to_string()),
            Just("\"homeside\"".to_string()),
            Just("\"meters\"".to_string()),
            Just("\"id\"".to_string()),
            Just("\"base_url\"".to_string()),
            "\"[a-z_]{0,8}\"",
            "-?[0-9]{1,20}(\\.[0-9]{1,3})?",
            Just("null".to_string()),
            Just("true".to_string()),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat().into_bytes())
    }

    fn check(bytes: &[u8]) {
        let file = Path::new("profiles/p.json");
        for kind in [EntityKind::House, EntityKind::Building] {
            if let Err(errors) = parse_entity_bytes(kind, file, bytes) {
                assert!(!errors.is_empty());
                let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
                for e in errors {
                    assert_eq!(e.file, file);
                    assert!(e.line <= lines, "{e} (the file has {lines} lines)");
                    assert!(!e.message.is_empty());
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_profile_or_positioned_errors(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            check(&bytes);
        }

        #[test]
        fn profile_like_text_gives_a_profile_or_positioned_errors(bytes in profile_like()) {
            check(&bytes);
        }
    }
}
