//! Every example config in the repository passes `hemflux check`, and a broken one fails it
//! with file, line, column and field path.

use std::process::Command;

use hemflux_e2e::bin;

fn repo(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn the_examples_pass_hemflux_check() {
    // Where the example building's login was verified, as `hemflux add-building` records it,
    // and the Dropbox credentials that set up the file exchange the examples' meter ids need.
    let env = tempfile::tempdir().unwrap();
    let env = env.path().join(".env");
    std::fs::write(
        &env,
        "BUILDING_TE236_HEM_Kontor_URL=https://exodrift05.systeminstallation.se\n\
         DROPBOX_APP_KEY=k\nDROPBOX_APP_SECRET=s\nDROPBOX_REFRESH_TOKEN=r\n",
    )
    .unwrap();
    let out = Command::new(bin("hemflux"))
        .arg("check")
        .arg("--profiles")
        .arg(repo("profiles/examples"))
        .arg("--buildings")
        .arg(repo("buildings/examples"))
        .arg("--env-file")
        .arg(&env)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "hemflux check failed:\n{stderr}{stdout}"
    );
    assert!(stdout.contains("0 problem(s)"), "{stdout}");
}

#[test]
fn check_names_file_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("villa.json"),
        "{\n  \"synthetic\": {\n    \"intervall_ms\": 5\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ok.json"), r#"{"synthetic": {}}"#).unwrap();
    let out = Command::new(bin("hemflux"))
        .arg("check")
        .arg("--profiles")
        .arg(dir.path())
        .arg("--buildings")
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:3:", dir.path().join("villa.json").display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains("synthetic.intervall_ms: unknown field `intervall_ms`"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 file(s), 1 worker(s), 1 problem(s)"));
}
