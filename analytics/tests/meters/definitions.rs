//! Definitions: the seed's files load as they are; mistakes name file, line and field.

use hemflux_analytics::meters::{parse, Kind, Source};

fn errors(yaml: &str) -> Vec<String> {
    match parse(
        Source {
            name: "meters.yaml",
            text: yaml,
        },
        None,
    ) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_seeds_files_load_as_they_are() {
    let set = parse(
        Source {
            name: "meters.yaml",
            text: include_str!("../data/nebenkosten/meters.yaml"),
        },
        Some(Source {
            name: "seasonal_patterns.yaml",
            text: include_str!("../data/nebenkosten/seasonal_patterns.yaml"),
        }),
    )
    .unwrap();
    assert_eq!(set.meters.len(), 26);
    let count = |f: fn(&Kind) -> bool| set.meters.iter().filter(|m| f(&m.kind)).count();
    assert_eq!(count(|k| matches!(k, Kind::Physical(_))), 22);
    assert_eq!(count(|k| matches!(k, Kind::Master(_))), 2);
    assert_eq!(count(|k| matches!(k, Kind::Virtual(_))), 2);
    // Dependencies first: every master and virtual meter after what it is built from.
    let pos = |id: &str| set.index(id).unwrap();
    assert!(pos("gas_total") > pos("gas_zahler") && pos("eg_kalfire") > pos("gas_total"));
    assert!(pos("strom_allgemein") > pos("strom_total"));
    assert_eq!(
        set.meters.iter().filter(|m| m.pattern.is_some()).count(),
        16
    );
    let Kind::Virtual(v) = &set
        .index("eg_kalfire")
        .map(|i| &set.meters[i].kind)
        .unwrap()
    else {
        panic!()
    };
    assert!(
        (v.terms[1].1 * 10.221304 + 1.0).abs() < 1e-9,
        "kWh -> m³ through the seed's gas factor"
    );
    // The main electricity meter reads what a Tibber meter with `"schema": "home_assistant"`
    // and `"entity_id": "haupt_strom"` writes: seed 004's cumulative register.
    let Kind::Physical(strom) = &set.meters[pos("haupt_strom")].kind else {
        panic!()
    };
    assert_eq!(strom.series.measurement, "kWh");
    assert_eq!(
        strom.series.tags,
        [("entity_id".to_string(), "haupt_strom".to_string())]
    );
    assert_eq!(strom.series.field, "value");
}

#[test]
fn mistakes_name_file_line_and_field() {
    let e = errors("meters:\n  - meter_id: a\n    type: physical\n    output_unit: kWh\n    instalation_date: 2024-01-01\n");
    assert!(
        e[0].starts_with("meters.yaml:5:")
            && e[0].contains("meters[0]")
            && e[0].contains("instalation_date"),
        "{e:?}"
    );
    let e = errors("meters:\n  - meter_id: a\n    type: physikal\n    output_unit: kWh\n");
    assert!(
        e[0].starts_with("meters.yaml:3:") && e[0].contains("meters[0].type"),
        "{e:?}"
    );
    let e = errors(
        "meters:\n  - meter_id: v\n    type: virtual\n    output_unit: kWh\n    base_meter: nope\n",
    );
    assert_eq!(
        e,
        ["meters.yaml:5:1: meters[0].base_meter: no meter has the id \"nope\""]
    );
    let e = errors("meters:\n  - {meter_id: a, type: physical, output_unit: kWh}\n  - meter_id: a\n    type: physical\n    output_unit: kWh\n    installation_date: 2024-02-30\n");
    assert!(
        e.iter()
            .any(|m| m.starts_with("meters.yaml:3:1: meters[1].meter_id: \"a\" is already")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("meters.yaml:6:1: meters[1].installation_date: \"2024-02-30\"")),
        "{e:?}"
    );
    let e = errors("timezone: Europe/Atlantis\nmeters:\n  - {meter_id: a, type: physical, output_unit: furlongs}\n");
    assert!(
        e[0].starts_with("meters.yaml:1:1: timezone:")
            && e[1].contains("unknown unit \"furlongs\""),
        "{e:?}"
    );
    let e = errors("meters:\n  - meter_id: v\n    type: virtual\n    output_unit: m³\n    base_meter: p\n  - {meter_id: p, type: physical, output_unit: kWh}\n");
    assert!(e[0].contains("declare the conversion"), "{e:?}");
    let e = errors("meters:\n  - meter_id: x\n    type: virtual\n    output_unit: kWh\n    terms: [{meter: y, coef: 1}]\n  - meter_id: y\n    type: virtual\n    output_unit: kWh\n    terms: [{meter: x, coef: 1}]\n");
    assert!(
        e.iter().all(|m| m.contains("depends on itself")) && e.len() == 2,
        "{e:?}"
    );
}

#[test]
fn pattern_errors_point_into_the_patterns_file() {
    let e = parse(
        Source { name: "meters.yaml", text: "meters:\n  - {meter_id: a, type: physical, output_unit: kWh}\n" },
        Some(Source { name: "seasonal_patterns.yaml", text: "patterns:\n  a:\n    monthly_percentages: [10, 10]\n  b:\n    monthly_percentages: [1,1,1,1,1,1,1,1,1,1,1,89]\n" }),
    )
    .unwrap_err();
    let e: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        [
            "seasonal_patterns.yaml:2:1: patterns.a: needs 12 monthly percentages, has 2",
            "seasonal_patterns.yaml:4:1: patterns.b: no meter has the id \"b\"",
        ]
    );
}
